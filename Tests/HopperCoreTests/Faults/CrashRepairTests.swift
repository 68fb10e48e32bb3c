import Glibc
import Testing
@testable import HopperCore

/// Regressions for what the crash-injection suite found: states a crash (or
/// a stop) leaves between two renames, and what the next start makes of them.
@Suite(.serialized) struct CrashRepairTests {
    /// A task waiting for its retry keeps its last outputs in pending/; when a
    /// restart finds its delay over, they go with it to queued/.
    @Test func outputsFollowATaskReleasedAtStart() async throws {
        // A delay no loaded machine can miss while it looks into pending/; the
        // time the daemon is down is then made to have passed it.
        let t = try TestSpool(config: TestSpool.configuration(#""shutdown_grace": 1, "timeouts": {"command": {"retry_delay": [600]}}"#))
        var daemon = try await DaemonProcess(t).ready()
        try t.drop("c.json", #"{"id": "c", "provider": "exec", "command": "echo try; exit 3", "retries": 1}"#)
        try await eventually("c waiting for its retry") { t.names("pending").contains("c.json") }
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.names("pending") == ["c.err", "c.json", "c.out"])
        var waiting = try #require(t.read("pending/c.json").flatMap { try? JSONParser.parse($0).objectValue })
        #expect(waiting["not_before"]?.stringValue != nil)
        waiting["not_before"] = .string(Timestamp.now().adding(seconds: -1).rfc3339)
        try t.write(t.spool + "/pending/c.json", JSONValue.object(waiting).serialized())
        daemon = try await DaemonProcess(t).ready()
        let record = try await eventuallyValue("c's record") { t.record("c") }
        #expect(record["attempts"] == .int(2))
        _ = try await daemon.stop()
        #expect(t.names("pending").isEmpty, "no outputs left behind")
        #expect(t.names("done") == ["c.err", "c.json", "c.out"])
    }

    /// A crash between moving a task file and moving its outputs leaves them
    /// apart; the next start puts them beside the task file or its record.
    @Test func partedOutputsFollowTheirTask() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        // Released to queued/, its outputs still in pending/.
        try t.write(t.spool + "/queued/q.json", #"{"id":"q","command":"echo again","provider":"sh","seq":1,"attempts":1,"started":true}"#)
        try t.write(t.spool + "/pending/q.out", "first attempt\n")
        try t.write(t.spool + "/pending/q.err", "")
        // Finished: record in done/, its stderr still in running/.
        try t.write(t.spool + "/done/f.json", #"{"id":"f","state":"succeeded"}"#)
        try t.write(t.spool + "/done/f.out", "")
        try t.write(t.spool + "/running/f.err", "last words\n")
        // Unreadable: ends with an error record, its outputs beside it.
        try t.write(t.spool + "/running/u.json", "{not json")
        try t.write(t.spool + "/running/u.out", "kept\n")
        // Nobody's.
        try t.write(t.spool + "/queued/nobody.out", "")
        let daemon = try await DaemonProcess(t).ready()
        let record = try await eventuallyValue("q's record") { t.record("q") }
        #expect(record["state"] == .string("succeeded"))
        _ = try await daemon.stop()
        #expect(t.names("pending").isEmpty && t.names("queued").isEmpty && t.names("running").isEmpty)
        #expect(t.read("done/f.err") == "last words\n")
        #expect(t.read("done/q.out") == "again\n")
        #expect(t.record("u")?["state"] == .string("error"))
        #expect(t.read("done/u.out") == "kept\n")
    }

    /// Found by the burst under SIGKILL: a daemon killed while spawning a
    /// task leaves its lock held by the child until the child's exec, and
    /// the restart refused to start ("another hopper daemon"). Here `flock`
    /// plays that child: the lock is held, the recorded pid is dead.
    @Test(.enabled(if: FaultTools.path("flock") != nil || FaultTools.isRequired, "flock (util-linux) is missing"))
    func aLockOutlivingItsDaemonIsWaitedFor() async throws {
        let flock = try #require(FaultTools.path("flock"), "HOPPER_REQUIRE_FAULT_TOOLS=1 but flock is missing")
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        // No process has pid 4194304 (above the largest pid_max).
        try t.write(t.spool + "/.hopper/lock", "4194304 gone\n")
        // The holder lets go as soon as the daemon says it waits, watching the
        // daemon's log itself: a test task polling it can be held up for
        // seconds by other tests on a loaded machine, past the daemon's 5 s.
        let waiting = "the spool's lock outlived its daemon; waiting for it"
        let script = "until cat \"$0\"/daemon-* 2>/dev/null | grep -q \"$1\"; do sleep 0.01; done"
        let child = try BackgroundProcess([flock, t.spool + "/.hopper/lock", "/bin/sh", "-c", script, t.base, waiting],
                                          environment: inheritedEnvironment() + [t.marker], outputPrefix: t.base + "/flock")
        try await eventually("the lock taken") { FileLock.isHeld(t.spool + "/.hopper/lock") }
        let daemon = try DaemonProcess(t)
        _ = try await child.exited()
        _ = try await daemon.ready()
        #expect(daemon.log.contains(waiting), "\(daemon.log)")
        #expect(try await daemon.stop() == .exited(0))
    }

    /// A rejection writes its explanation first: a crash before the file
    /// moves leaves the explanation alone, and the retaken file joins it
    /// instead of going to `NAME.1`.
    @Test func anUnfinishedRejectionIsCompletedNotDoubled() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        try t.write(t.spool + "/.hopper/claimed/bad.json", #"{"id": "#)
        try t.write(t.spool + "/rejected/bad.json.error.json", #"{"file":"bad.json","error":"invalid_json","message":"unexpected end of input","at":"2026-01-01T00:00:00.000000Z"}"#)
        // A client's file that merely looks like an explanation keeps its place.
        try t.write(t.spool + "/rejected/x.json.error.json", #"{"file":"x.json"}"#)
        try t.write(t.spool + "/rejected/x.json.error.json.error.json", #"{"file":"x.json.error.json","error":"unknown_field"}"#)
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("x.json", "[")
        try await eventually("x rejected") { t.names("rejected").contains("x.json.1.error.json") }
        _ = try await daemon.stop()
        #expect(t.names("rejected") == ["bad.json", "bad.json.error.json", "x.json.1", "x.json.1.error.json", "x.json.error.json", "x.json.error.json.error.json"])
        #expect(t.read("rejected/x.json.error.json") == #"{"file":"x.json"}"#)
        #expect(t.names("../.hopper/claimed").isEmpty)
    }
    /// A task accepted and finished in one turn (here: its `cwd` is missing)
    /// has its record renamed into place before the turn acknowledges its
    /// dropped file. A crash between the two leaves the record, the task
    /// file (removed only after the acknowledgement) and the claimed file:
    /// the next start must know the claimed file by the stale task file's
    /// origin, not take it again as a second task with a second record.
    @Test func aClaimedFileWhoseTaskHasARecordIsNotTakenAgain() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        try t.write(t.spool + "/.hopper/claimed/x.json", #"{"command": "true", "cwd": "/nonexistent"}"#)
        var st = stat()
        try #require(stat(t.spool + "/.hopper/claimed/x.json", &st) == 0)
        var task = SpooledTask(id: TaskID("x-a1")!, request: TaskRequest(command: "true"), provider: "sh", source: "x.json",
                               submittedAt: Timestamp.now(), seq: 1)
        task.origin = SpooledTask.Origin(inode: UInt64(st.st_ino), changeTime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
                                         size: Int64(st.st_size))
        try t.write(t.spool + "/running/x-a1.json", String(decoding: task.encoded(), as: UTF8.self))
        let record = TaskRecord(task: task, state: .error, reason: .cwd, message: "The working directory /nonexistent does not exist.", finishedAt: Timestamp.now())
        try t.write(t.spool + "/done/x-a1.json", String(decoding: record.encoded(), as: UTF8.self))
        let daemon = try await DaemonProcess(t).ready()
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.names("../.hopper/claimed").isEmpty)
        #expect(t.names("running").isEmpty && t.names("queued").isEmpty)
        #expect(t.names("done") == ["x-a1.json"], "no second task from the same drop")
    }
}
