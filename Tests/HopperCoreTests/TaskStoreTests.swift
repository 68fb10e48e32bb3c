import Glibc
import Synchronization
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

    // MARK: the sync in the background (the daemon's turns)

    /// How many background syncs returned.
    final class Count: Sendable {
        let atomic = Atomic<Int>(0)
        var value: Int { atomic.load(ordering: .sequentiallyConsistent) }
    }

    /// A store whose commits sync on a thread of their own, and how many syncs returned.
    static func background(_ f: Fixture) throws -> (BackgroundSync, Count) {
        let returned = Count()
        let sync = try BackgroundSync(f.spool.tmp) { returned.atomic.add(1, ordering: .sequentiallyConsistent) }
        f.store.syncInBackground(sync)
        return (sync, returned)
    }

    /// Commits (a turn with nothing new) until `batch` is carried out.
    static func turnUntilCarriedOut(_ f: Fixture, _ batch: UInt64) async throws {
        try await eventually("batch \(batch) carried out") {
            try f.store.commit(settle: false)
            return f.store.carriedOut >= batch
        }
    }

    @Test func aBackgroundCommitRenamesOnlyOnceItsSyncHasReturned() async throws {
        let f = try Fixture(durable: true)
        let (sync, returned) = try Self.background(f)
        defer { sync.stop() }
        try f.put(".hopper/claimed/a.json", "{}")
        try f.store.write(Self.task("a"), in: .queued)
        let batch = try f.store.commit(acknowledging: [FileName("a.json")], settle: false)
        #expect(f.store.carriedOut < batch && sync.isRunning)
        #expect(f.names("queued").isEmpty, "the rename waits for the sync, made by a later commit")
        #expect(f.store.awaitsAcknowledgement(FileName("a.json")))
        try await Self.turnUntilCarriedOut(f, batch)
        #expect(f.names("queued") == ["a.json"])
        #expect(f.names(".hopper/claimed") == ["a.json"], "the acknowledgement waits for the sync after the rename")
        try await eventually("the acknowledgement made") {
            try f.store.commit(settle: false)
            return !f.store.awaitsSync
        }
        #expect(f.names(".hopper/claimed").isEmpty && f.names(".hopper/tmp").isEmpty)
        #expect(try f.happened() == ["to queued/a.json", "delete .hopper/claimed/a.json"])
        #expect(returned.value == 2, "one sync for the file, one for its rename")
    }

    /// What a turn stages while a sync runs goes with the next one; a
    /// second write of a file the running sync covers does not cancel it.
    @Test func aWriteAfterTheSealWaitsForTheNextSync() async throws {
        let f = try Fixture(durable: true)
        let (sync, _) = try Self.background(f)
        defer { sync.stop() }
        try f.store.write(Self.task("a", command: "first"), in: .queued)
        try f.store.write(Self.task("b"), in: .queued)
        let first = try f.store.commit(settle: false)
        try f.store.write(Self.task("a", command: "second"), in: .queued)
        #expect(f.names(".hopper/tmp").count == 3, "the sealed write is kept")
        let second = try f.store.commit(settle: false)
        #expect(second > first || f.store.carriedOut >= first)
        try await Self.turnUntilCarriedOut(f, second)
        #expect(f.names("queued") == ["a.json", "b.json"])
        #expect(Self.command(f.text("queued/a.json")) == "second")
        #expect(f.names(".hopper/tmp").isEmpty)
        // (inotify merges two identical events in a row: b's rename keeps a's two apart.)
        #expect(try f.happened() == ["to queued/a.json", "to queued/b.json", "to queued/a.json"])
    }

    /// A shutdown's commit settles: it waits for the sync under way and
    /// carries out everything before it returns.
    @Test func aSettlingCommitWaitsForTheSyncUnderWay() throws {
        let f = try Fixture(durable: true)
        let (sync, _) = try Self.background(f)
        defer { sync.stop() }
        try f.put(".hopper/claimed/a.json", "{}")
        try f.put(".hopper/claimed/b.json", "{}")
        try f.store.write(Self.task("a"), in: .queued)
        _ = try f.store.commit(acknowledging: [FileName("a.json")], settle: false)
        try f.store.write(Self.task("b"), in: .queued)
        let last = try f.store.commit(acknowledging: [FileName("b.json")], settle: true)
        #expect(f.store.carriedOut == last && !f.store.awaitsSync && !sync.isRunning)
        #expect(f.names("queued") == ["a.json", "b.json"] && f.names(".hopper/claimed").isEmpty)
        #expect(try f.happened() == ["to queued/a.json", "to queued/b.json", "delete .hopper/claimed/a.json", "delete .hopper/claimed/b.json"])
    }

    /// A start of a task whose new file the running sync covers does not
    /// wait for it: the write is sent to running/ instead (the task runs
    /// while its file waits in `.hopper/tmp`), and lands there when the sync
    /// returns; nothing is renamed twice.
    @Test func aTaskStartedUnderTheSyncOfItsFirstWriteIsWrittenIntoRunning() async throws {
        let f = try Fixture(durable: true)
        let (sync, _) = try Self.background(f)
        defer { sync.stop() }
        try f.store.write(Self.task("a"), in: .queued)
        try f.store.write(Self.task("b"), in: .queued)
        let batch = try f.store.commit(settle: false)
        try f.store.move(TaskID("a")!, from: .queued, to: .running)
        #expect(f.names("running").isEmpty && f.names(".hopper/tmp").count == 2)
        try await Self.turnUntilCarriedOut(f, batch)
        #expect(f.names("running") == ["a.json"] && f.names("queued") == ["b.json"])
        #expect(try f.happened() == ["to running/a.json", "to queued/b.json"])
    }

    /// With nothing to sync a commit makes no sync, and its batch is carried out at once.
    @Test func aCommitWithNothingToSyncIsCarriedOutAtOnce() throws {
        let f = try Fixture(durable: true)
        let (sync, returned) = try Self.background(f)
        defer { sync.stop() }
        let batch = try f.store.commit(settle: false)
        #expect(f.store.carriedOut == batch && !sync.isRunning)
        #expect(returned.value == 0)
    }

    /// Accepted, started and retried while the first write's sync runs: the
    /// retry's version ends in queued/ and nothing is left in running/.
    @Test func aTaskRetriedWhileItsFirstWriteSyncsEndsWhereItWasMoved() async throws {
        let f = try Fixture(durable: true)
        let (sync, _) = try Self.background(f)
        defer { sync.stop() }
        let id = TaskID("a")!
        try f.store.write(Self.task("a", command: "first"), in: .queued)
        _ = try f.store.commit(settle: false)
        try f.store.move(id, from: .queued, to: .running)
        try f.store.write(Self.task("a", command: "retry"), in: .running)
        try f.store.move(id, from: .running, to: .queued)
        let batch = try f.store.commit(settle: false)
        try await Self.turnUntilCarriedOut(f, batch)
        #expect(f.names("running").isEmpty && f.names("queued") == ["a.json"])
        #expect(Self.command(f.text("queued/a.json")) == "retry")
    }
}
