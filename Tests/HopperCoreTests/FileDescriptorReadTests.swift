import Glibc
import Testing
@testable import HopperCore

/// `FileDescriptor.readAll(size:limit:)` on real files: one read when the
/// file is the size `fstat` gave, the whole file whatever the hint, and the
/// limit kept.
@Suite struct FileDescriptorReadTests {
    func withFile(_ text: String, _ body: (FileDescriptor) throws -> Void) throws {
        let base = SystemTestProbe.temporaryDirectory()
        defer { _ = try? runProcess(["/bin/rm", "-rf", base]) }
        let path = base + "/f"
        try AtomicFile.replace(path: path, Array(text.utf8))
        let fd = FileDescriptor(rawValue: open(path, O_RDONLY | O_CLOEXEC))
        defer { fd.close() }
        try #require(fd.rawValue >= 0)
        try body(fd)
    }

    @Test(arguments: [0, 3, 11, 12, 100])
    func theWholeFileWhateverTheSizeGiven(size: Int) throws {
        try withFile("hello world") { fd in
            let bytes = try fd.readAll(size: size, limit: 1 << 20)
            #expect(bytes == Array("hello world".utf8))
        }
    }

    @Test func aFileOverTheLimitFails() throws {
        try withFile("hello world") { fd in
            #expect { try fd.readAll(size: 11, limit: 10) } throws: { ($0 as? SystemError)?.errno == Errno(rawValue: EFBIG) }
        }
        try withFile("hello world") { fd in
            #expect { try fd.readAll(size: 3, limit: 10) } throws: { ($0 as? SystemError)?.errno == Errno(rawValue: EFBIG) }
        }
        try withFile("hello worl") { fd in
            let bytes = try fd.readAll(size: 10, limit: 10)
            #expect(bytes.count == 10)
        }
    }

    /// `drainAvailable` on a real pipe, through each kind of read: what is
    /// there comes whole (past one 64 KiB buffer), an empty pipe is "not
    /// ended" without waiting, and the writer's close is the end.
    @Test(arguments: [true, false])
    func aPipeIsDrainedWithoutWaiting(nowait: Bool) throws {
        if nowait { try #require(FileDescriptor.readsPipesWithoutWaiting, "this kernel has no RWF_NOWAIT for pipes") }
        // O_CLOEXEC: a child another test spawns must not keep the writer open.
        let (reader, writer) = try FileDescriptor.makePipe()
        defer { reader.close() }
        if nowait { #expect(fcntl(reader.rawValue, F_GETFL) & O_NONBLOCK == 0) } else { try reader.setNonBlockingPipeEnd() }
        // The pipe's own capacity raised, so one write is all there when the drain starts.
        // (F_SETPIPE_SZ, 1031: a GNU name Swift's Glibc does not import.)
        try #require(fcntl(writer.rawValue, 1031, 1 << 20) >= 100_000)
        let sent = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
        try writer.writeAll(sent)
        var got: [UInt8] = []
        #expect(reader.drainAvailable(nowait: nowait) { got.append(contentsOf: $0) } == false)
        #expect(got == sent)
        #expect(reader.drainAvailable(nowait: nowait) { got.append(contentsOf: $0) } == false)
        writer.close()
        // Until a child forked by another test's spawn has exec'd, it holds
        // the writer too: the end is there once poll(2) reports the hang-up.
        var ready = pollfd(fd: reader.rawValue, events: Int16(POLLIN), revents: 0)
        try #require(poll(&ready, 1, 15_000) == 1 && ready.revents & Int16(POLLHUP) != 0)
        #expect(reader.drainAvailable(nowait: nowait) { got.append(contentsOf: $0) } == true)
        #expect(got.count == sent.count)
    }

    /// `discardAvailable` empties a non-blocking pipe past one buffer's worth
    /// and returns when it is empty, without waiting.
    @Test func discardEmptiesAPipeWithoutWaiting() throws {
        let (reader, writer) = try FileDescriptor.makePipe(flags: O_NONBLOCK)
        defer { reader.close(); writer.close() }
        try writer.writeAll([UInt8](repeating: 7, count: 1500))
        reader.discardAvailable()
        var byte: UInt8 = 0
        #expect(read(reader.rawValue, &byte, 1) == -1 && errno == EAGAIN)
        reader.discardAvailable()
    }
}
