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
}
