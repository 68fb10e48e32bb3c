import Dispatch
import Glibc
import HopperCore
import Synchronization
import Testing

/// System tests of `Inotify` in temporary directories.
@Suite(.timeLimit(.minutes(3)))
struct InotifyTests {
    /// Creates `name` (raw bytes) in `directory`, writes a byte and closes it.
    private func createFile(_ directory: String, _ name: [UInt8]) {
        let path = Array(directory.utf8) + [UInt8(ascii: "/")] + name + [0]
        let fd = path.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644) }
        }
        precondition(fd >= 0, "open failed")
        _ = write(fd, "x", 1)
        close(fd)
    }

    /// Reads events until `done` holds for the collected list, or a deadline passes.
    private func collect(_ inotify: Inotify, until done: ([InotifyEvent]) -> Bool) async throws -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        _ = await SystemTestProbe.eventually {
            events += (try? inotify.readEvents()) ?? []
            return done(events)
        }
        return events
    }

    @Test func closeWriteAndMovedToCarryNames() async throws {
        Reaper.shared.start()
        let directory = SystemTestProbe.temporaryDirectory()
        let outside = SystemTestProbe.temporaryDirectory()
        let inotify = try Inotify()
        defer { inotify.close() }
        let watch = try inotify.addWatch(
            directory, mask: InotifyMask.closeWrite | InotifyMask.movedTo | InotifyMask.create | InotifyMask.onlyDir)
        #expect(watch >= 0)
        #expect(try inotify.readEvents().isEmpty)

        createFile(directory, Array("a.json".utf8))
        createFile(outside, Array("b.json".utf8))
        #expect(rename(outside + "/b.json", directory + "/b.json") == 0)

        // Wait for all three: IN_CLOSE_WRITE comes at the file's last close, which a
        // child being spawned concurrently (holding fd copies until exec) can delay.
        func summarize(_ events: [InotifyEvent]) -> [(Int32, UInt32, String)] {
            events.map { ($0.watch, $0.mask & ~InotifyMask.isDir, String(decoding: $0.name, as: UTF8.self)) }
        }
        let events = try await collect(inotify) { summarize($0).count >= 3 }
        let summary = summarize(events)
        #expect(summary.contains { $0 == (watch, InotifyMask.create, "a.json") })
        #expect(summary.contains { $0 == (watch, InotifyMask.closeWrite, "a.json") })
        #expect(summary.contains { $0 == (watch, InotifyMask.movedTo, "b.json") })
        #expect(!events.contains { $0.isOverflow })
        await SystemTestProbe.removeTree(directory)
        await SystemTestProbe.removeTree(outside)
    }

    @Test func nonUTF8NamesComeThroughIntact() async throws {
        let directory = SystemTestProbe.temporaryDirectory()
        let inotify = try Inotify()
        defer { inotify.close() }
        _ = try inotify.addWatch(directory, mask: InotifyMask.closeWrite)
        let name: [UInt8] = [0x66, 0xFF, 0xFE, 0x2E, 0xC3, 0x28]  // invalid UTF-8
        createFile(directory, name)
        let events = try await collect(inotify) { !$0.isEmpty }
        #expect(events.map(\.name) == [name])
        await SystemTestProbe.removeTree(directory)
    }

    @Test func queueOverflowIsReportedAsAnEvent() async throws {
        let limit = Int(String(decoding: SystemTestProbe.contents("/proc/sys/fs/inotify/max_queued_events") ?? [],
                               as: UTF8.self).split(separator: "\n").first ?? "") ?? 16384
        let directory = SystemTestProbe.temporaryDirectory()
        let inotify = try Inotify()
        defer { inotify.close() }
        _ = try inotify.addWatch(directory, mask: InotifyMask.create)
        for index in 0..<(limit + 100) {
            let fd = open("\(directory)/\(index)", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }
        let events = try inotify.readEvents()
        #expect(events.count == limit + 1)
        let last = try #require(events.last)
        #expect(last.isOverflow)
        #expect(last.watch == -1)
        #expect(last.name.isEmpty)
        #expect(events.dropLast().allSatisfy { $0.mask == InotifyMask.create })
        #expect(try inotify.readEvents().isEmpty)
        await SystemTestProbe.removeTree(directory)
    }

    /// The daemon's way: the descriptor watched on the poller thread, every
    /// batch read there; after close, reads fail with EBADF.
    @Test func pollerDeliversBatchesUntilClosed() async throws {
        let directory = SystemTestProbe.temporaryDirectory()
        let inotify = try Inotify()
        _ = try inotify.addWatch(directory, mask: InotifyMask.closeWrite)
        let batches = SharedValue<[[InotifyEvent]]>([])
        let token = SharedValue<Int?>(nil)
        let poller = Poller.shared
        poller.execute {
            token.withLock { $0 = poller.register(inotify.descriptor, .readable) { _ in
                if let events = try? inotify.readEvents(), !events.isEmpty { batches.withLock { $0.append(events) } }
            } }
        }
        for index in 0..<20 { createFile(directory, Array("f\(index)".utf8)) }
        let names = (0..<20).map { "f\($0)" }.sorted()
        // Sorted: IN_CLOSE_WRITE fires at the last close of the file, and a child
        // that another test is spawning at that moment briefly holds a copy of
        // every descriptor (until its exec), which can reorder the events.
        func received() -> [String] {
            batches.withLock { $0.flatMap { $0 }.map { String(decoding: $0.name, as: UTF8.self) } }.sorted()
        }
        _ = await SystemTestProbe.eventually { received() == names }
        #expect(received() == names)
        #expect(batches.withLock { $0.allSatisfy { !$0.isEmpty } })

        let unregistered = SharedValue(false)
        poller.execute {
            if let t = token.withLock({ $0 }) { poller.unregister(t) }
            unregistered.withLock { $0 = true }
        }
        _ = await SystemTestProbe.eventually { unregistered.withLock { $0 } }
        let fd = inotify.descriptor.rawValue
        #expect(SystemTestProbe.descriptorTarget(fd) == "anon_inode:inotify")
        inotify.close()
        inotify.close()  // idempotent
        #expect(SystemTestProbe.descriptorTarget(fd) != "anon_inode:inotify")
        #expect { try inotify.readEvents() } throws: { error in
            (error as? SystemError)?.errno == Errno(rawValue: EBADF)
        }
        await SystemTestProbe.removeTree(directory)
    }

    @Test func addWatchOnAMissingPathThrows() throws {
        let inotify = try Inotify()
        defer { inotify.close() }
        #expect { try inotify.addWatch("/nonexistent/dir", mask: InotifyMask.create) } throws: { error in
            let error = error as? SystemError
            return error?.call == "inotify_add_watch" && error?.errno == .noEntry
        }
    }
}
