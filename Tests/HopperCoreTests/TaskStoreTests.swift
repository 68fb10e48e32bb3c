import Glibc
import Testing
@testable import HopperCore

/// System tests of `TaskStore`'s group commit on a real spool in a temporary
/// directory: what is staged stays out of sight until `commit`, which renames
/// in the order the changes were asked for; inotify on the spool's
/// directories shows that order (one queue for all watches, in event order).
@Suite(.timeLimit(.minutes(3)))
struct TaskStoreTests {
    /// A spool under a fresh temporary directory, its store, and a watch of its directories.
    final class Fixture {
        let base = SystemTestProbe.temporaryDirectory()
        let spool: Spool
        let store: TaskStore
        let inotify: Inotify
        var watches: [Int32: String] = [:]

        init(durable: Bool) throws {
            try Spool.create(at: base + "/spool")
            spool = try Spool.open(at: base + "/spool")
            store = TaskStore(spool: spool, durable: durable)
            inotify = try Inotify()
            for d in ["pending", "queued", "running", "done", ".hopper/claimed"] {
                watches[try inotify.addWatch(base + "/spool/" + d, mask: InotifyMask.movedTo | InotifyMask.movedFrom | InotifyMask.delete | InotifyMask.onlyDir)] = d
            }
        }

        deinit {
            inotify.close()
            spool.close()
            _ = try? runProcess(["/bin/rm", "-rf", base])
        }

        func names(_ directory: String) -> [String] { (SystemTestProbe.directoryEntries(base + "/spool/" + directory) ?? []).sorted() }
        func text(_ path: String) -> String? { SystemTestProbe.contents(base + "/spool/" + path).map { String(decoding: $0, as: UTF8.self) } }

        func put(_ path: String, _ text: String) throws {
            try AtomicFile.replace(path: base + "/spool/" + path, Array(text.utf8))
            _ = try inotify.readEvents()
        }

        /// What happened in the watched directories since the last look, as
        /// "to running/a.json", "from running/a.json", "delete done/a.json".
        func happened() throws -> [String] {
            try inotify.readEvents().compactMap { event in
                guard let directory = watches[event.watch] else { return nil }
                let kind = event.mask & InotifyMask.movedTo != 0 ? "to" : event.mask & InotifyMask.movedFrom != 0 ? "from" : "delete"
                return "\(kind) \(directory)/\(String(decoding: event.name, as: UTF8.self))"
            }
        }
    }

    static func task(_ id: String, command: String = "true") -> SpooledTask {
        SpooledTask(id: TaskID(id)!, request: TaskRequest(command: command), provider: "exec", source: id + ".json", submittedAt: Timestamp.now(), seq: 1)
    }

    /// Task `a` in running/ (command "first"), then requeued as a Slurm
    /// task is: written into queued/ (command "requeued"), its file in
    /// running/ to go after the commit.
    static func requeue(_ f: Fixture) throws -> TaskID {
        try f.put("running/a.json", String(decoding: task("a", command: "first").encoded(), as: UTF8.self))
        let id = TaskID("a")!
        try f.store.write(task("a", command: "requeued"), in: .queued)
        f.store.removeTaskFile(id, from: .running)
        return id
    }

    static func command(_ text: String?) -> String? {
        text.flatMap { try? SpooledTask.decode(Array($0.utf8)).request.command }
    }

    @Test(arguments: [true, false])
    func stagedWritesAppearOnlyAtTheCommitInTheOrderAskedFor(durable: Bool) throws {
        let f = try Fixture(durable: durable)
        for id in ["c", "a", "b"] { try f.store.write(Self.task(id), in: .queued) }
        #expect(f.names("queued").isEmpty)
        #expect(f.names(".hopper/tmp").count == 3, "written, not renamed")
        try f.store.commit()
        #expect(f.names("queued") == ["a.json", "b.json", "c.json"])
        #expect(f.names(".hopper/tmp").isEmpty)
        #expect(try f.happened() == ["to queued/c.json", "to queued/a.json", "to queued/b.json"])
    }

    /// Accepted and started in one turn: the file is written into running/ and
    /// never appears in queued/.
    @Test func aNewFileMovedBeforeItsCommitLandsWhereItWasMoved() throws {
        let f = try Fixture(durable: true)
        try f.store.write(Self.task("a"), in: .queued)
        try f.store.move(TaskID("a")!, from: .queued, to: .running)
        #expect(f.names("running").isEmpty && f.names("queued").isEmpty)
        try f.store.commit()
        #expect(f.names("running") == ["a.json"])
        #expect(try f.happened() == ["to running/a.json"])
    }

    /// A retry: the new version replaces the file in running/, then it and its
    /// outputs move to pending/, in that order, and nothing before the commit.
    @Test func aRewriteThenAMoveKeepTheirOrder() throws {
        let f = try Fixture(durable: true)
        try f.put("running/a.json", String(decoding: Self.task("a", command: "old").encoded(), as: UTF8.self))
        try f.put("running/a.out", "out")
        try f.put("running/a.err", "")
        let id = TaskID("a")!
        try f.store.write(Self.task("a", command: "new"), in: .running)
        try f.store.move(id, from: .running, to: .pending)
        f.store.moveOutputs(id, from: .running, to: .pending)
        #expect(f.names("running") == ["a.err", "a.json", "a.out"])
        #expect(Self.command(f.text("running/a.json")) == "old")
        try f.store.commit()
        #expect(f.names("running").isEmpty)
        #expect(f.names("pending") == ["a.err", "a.json", "a.out"])
        #expect(Self.command(f.text("pending/a.json")) == "new")
        #expect(try f.happened() == ["to running/a.json", "from running/a.json", "to pending/a.json",
                                     "from running/a.out", "to pending/a.out", "from running/a.err", "to pending/a.err"])
    }

    @Test func aSecondWriteOfTheSameFileCancelsTheFirst() throws {
        let f = try Fixture(durable: true)
        try f.store.write(Self.task("a", command: "first"), in: .queued)
        try f.store.write(Self.task("a", command: "second"), in: .queued)
        #expect(f.names(".hopper/tmp").count == 1, "the first temporary file is gone")
        try f.store.commit()
        #expect(Self.command(f.text("queued/a.json")) == "second")
        #expect(try f.happened() == ["to queued/a.json"])
    }

    /// A finished task: the record is readable through the store at once,
    /// in done/ at the commit; the claimed file is acknowledged after it, and
    /// the task file removed last.
    @Test func theTaskFileGoesOnlyOnceItsRecordIsDurable() throws {
        let f = try Fixture(durable: true)
        try f.put("running/a.json", String(decoding: Self.task("a").encoded(), as: UTF8.self))
        try f.put(".hopper/claimed/a.json", "{}")
        let id = TaskID("a")!
        #expect(!f.store.hasRecord(id))
        try f.store.writeRecord(TaskRecord(task: Self.task("a"), state: .succeeded, reason: .exit, message: "Done.", finishedAt: Timestamp.now()))
        f.store.removeTaskFile(id, from: .running)
        #expect(f.store.hasRecord(id))
        #expect(try RecordSummary(bytes: #require(f.store.readRecord(id))).state == .succeeded)
        #expect(f.names("done").isEmpty)
        #expect(f.names("running") == ["a.json"])
        try f.store.commit(acknowledging: [FileName("a.json")])
        #expect(f.names("done") == ["a.json"] && f.names("running").isEmpty && f.names(".hopper/claimed").isEmpty)
        #expect(try f.happened() == ["to done/a.json", "delete .hopper/claimed/a.json", "delete running/a.json"])
        #expect(f.store.hasRecord(id))
    }

    /// A start is made at once; what was staged for the task happens first.
    @Test func aStartCarriesOutWhatIsStagedForItsTaskFirst() throws {
        let f = try Fixture(durable: true)
        try f.put("running/a.json", String(decoding: Self.task("a", command: "old").encoded(), as: UTF8.self))
        let id = TaskID("a")!
        try f.store.write(Self.task("a", command: "requeued"), in: .running)
        try f.store.move(id, from: .running, to: .queued)
        try f.store.write(Self.task("b"), in: .queued)
        try f.store.move(id, from: .queued, to: .running)
        #expect(Self.command(f.text("running/a.json")) == "requeued")
        #expect(f.names("queued").isEmpty, "b waits for the commit")
        #expect(try f.happened() == ["to running/a.json", "from running/a.json", "to queued/a.json", "from queued/a.json", "to running/a.json"])
        try f.store.commit()
        #expect(try f.happened() == ["to queued/b.json"])
    }

    @Test func aTaskWithNothingStagedMovesAtOnce() throws {
        let f = try Fixture(durable: false)
        try f.put("queued/a.json", String(decoding: Self.task("a").encoded(), as: UTF8.self))
        try f.store.move(TaskID("a")!, from: .queued, to: .running)
        #expect(f.names("running") == ["a.json"])
        try f.store.commit()
        #expect(try f.happened() == ["from queued/a.json", "to running/a.json"])
    }
    /// A Slurm task whose job was never submitted goes back to queued/ and,
    /// a worker being free, starts again in the same turn: the removal of
    /// its old file in running/, waiting for the commit, must not remove
    /// the new one (the kill test once lost 15 tasks this way).
    @Test(arguments: [true, false])
    func aTaskRequeuedAndWrittenBackInOneTurnKeepsItsFile(durable: Bool) throws {
        let f = try Fixture(durable: durable)
        let id = try Self.requeue(f)
        try f.store.write(Self.task("a", command: "second"), in: .running)
        f.store.removeTaskFile(id, from: .queued)
        try f.store.commit()
        #expect(f.names("running") == ["a.json"] && f.names("queued").isEmpty)
        #expect(Self.command(f.text("running/a.json")) == "second")
    }

    /// The same with a local start, which moves the file into running/ at once.
    @Test func aTaskRequeuedAndMovedBackInOneTurnKeepsItsFile() throws {
        let f = try Fixture(durable: true)
        let id = try Self.requeue(f)
        try f.store.move(id, from: .queued, to: .running)
        try f.store.commit()
        #expect(f.names("running") == ["a.json"] && f.names("queued").isEmpty)
        #expect(Self.command(f.text("running/a.json")) == "requeued")
    }

    /// The daemon's turns: what may go only once a rename is durable waits
    /// for the next commit's sync, so a turn makes one sync, not two.
    @Test func removalsWaitForTheNextTurnsSync() throws {
        let f = try Fixture(durable: true)
        try f.put("running/a.json", String(decoding: Self.task("a").encoded(), as: UTF8.self))
        try f.put(".hopper/claimed/b.json", "{}")
        try f.put("job.exit", "0")
        let id = TaskID("a")!
        try f.store.writeRecord(TaskRecord(task: Self.task("a"), state: .succeeded, reason: .exit, message: "Done.", finishedAt: Timestamp.now()))
        f.store.removeTaskFile(id, from: .running)
        try f.store.write(Self.task("b"), in: .queued)
        try f.store.commit(acknowledging: [FileName("b.json")], removing: [(f.spool.root, FileName("job.exit"))], settle: false)
        #expect(f.names("done") == ["a.json"] && f.names("queued") == ["b.json"])
        #expect(f.names("running") == ["a.json"] && f.names(".hopper/claimed") == ["b.json"] && f.text("job.exit") == "0", "they wait for a sync")
        #expect(f.store.awaitsSync && f.store.awaitsAcknowledgement(FileName("b.json")))
        try f.store.commit(settle: false)
        #expect(f.names("running").isEmpty && f.names(".hopper/claimed").isEmpty && f.text("job.exit") == nil)
        #expect(!f.store.awaitsSync)
        #expect(try f.happened() == ["to done/a.json", "to queued/b.json", "delete .hopper/claimed/b.json", "delete running/a.json"])
    }

    /// A task requeued in one turn (its old file's removal waiting for a
    /// sync) and written back in the next keeps its new file.
    @Test func aWaitingRemovalNeverTakesANewFile() throws {
        let f = try Fixture(durable: true)
        let id = try Self.requeue(f)
        try f.store.commit(settle: false)
        try f.store.write(Self.task("a", command: "second"), in: .running)
        f.store.removeTaskFile(id, from: .queued)
        try f.store.commit(settle: false)
        try f.store.settle()
        #expect(f.names("running") == ["a.json"] && f.names("queued").isEmpty)
        #expect(Self.command(f.text("running/a.json")) == "second")
    }
}
