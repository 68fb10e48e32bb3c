import Glibc
import Testing
@testable import HopperCore

/// What a crash can leave on disk, and what the next start makes of it.
@Suite(.serialized) struct RecoveryTests {
    @Test func tornEventLineTempFilesAndStaleTaskFilesAreRepaired() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        try t.write(t.spool + "/events.jsonl", "{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"event\":\"task.accepted\"}\n{\"ts\":\"2026-01-01T0")
        try t.write(t.spool + "/.hopper/tmp/half.json.123.1.tmp", "{\"id\":")
        // A record already written and its task file not yet removed: the record wins.
        try t.write(t.spool + "/done/twice.json", #"{"id":"twice","state":"succeeded"}"#)
        try t.write(t.spool + "/running/twice.json", #"{"id":"twice","command":"echo again","provider":"sh","seq":1}"#)
        // A task file nobody can read still ends with a record.
        try t.write(t.spool + "/queued/garbled.json", "{not json")
        let daemon = try await DaemonProcess(t).ready()
        #expect(t.names("../.hopper/tmp").isEmpty)
        #expect(t.names("running").isEmpty)
        #expect(t.record("twice")?["state"] == .string("succeeded"))
        let garbled = try #require(t.record("garbled"))
        #expect(garbled["state"] == .string("error"))
        #expect(t.names("rejected").contains("garbled.json"))
        try t.drop("after.json", #"{"id": "after", "command": "true"}"#)
        _ = try await eventuallyValue("after") { t.record("after") }
        _ = try await daemon.stop()
        let events = try t.events()
        #expect(events.count > 1, "the whole first line kept, the torn one cut")
    }

    @Test func eventsRotatePastTheirLimit() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""limits": {"max_events_bytes": 4096}"#))
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<30 { try t.drop("r\(i).json", #"{"id": "r\#(i)", "command": "true"}"#) }
        try await eventually("thirty records") { t.records().count == 30 }
        _ = try await daemon.stop()
        let rotated = try #require(t.read("events.jsonl.1"))
        #expect(rotated.utf8.count <= 4096 + 1024)
        for line in rotated.split(separator: "\n") + (t.read("events.jsonl") ?? "").split(separator: "\n") {
            #expect((try? JSONParser.parse(String(line))) != nil, "whole lines only")
        }
    }

    /// Events are best effort, but a write that fails is said: once, then at
    /// a falling rate while it lasts (here events.jsonl is /dev/full, so every
    /// write fails with ENOSPC), and the tasks carry on.
    @Test func aFailedEventWriteIsLoggedAtAFallingRate() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        #expect(symlink("/dev/full", t.spool + "/events.jsonl") == 0)
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<10 { try t.drop("e\(i).json", #"{"id": "e\#(i)", "command": "true"}"#) }
        try await eventually("ten records") { t.records().count == 10 }
        _ = try await daemon.stop()
        let said = daemon.log.split(separator: "\n").filter { $0.contains("cannot write events.jsonl; events are lost") }
        #expect(!said.isEmpty, "\(daemon.log)")
        #expect(said.count <= 3, "not once a turn: \(said)")
    }
}

/// Regressions found in review.
@Suite(.serialized) struct RecoveryRegressionTests {
    @Test func anOperatorsProcessWithTheSpoolInItsEnvironmentIsLeftAlone() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        var request = SpawnRequest(executable: "/bin/sleep", arguments: ["sleep", "1000"], environment: ["HOPPER_SPOOL=\(t.spool)", t.marker])
        request.newProcessGroup = true
        let bystander = try Spawner.spawn(request)
        defer { bystander.exit.signalGroup(.kill); _ = bystander.exit.wait() }
        let daemon = try await DaemonProcess(t).ready()
        #expect(kill(bystander.pid.rawValue, 0) == 0, "not killed by the daemon's orphan sweep")
        _ = try await daemon.stop()
    }

    @Test func aStartedTaskIsNotExpiredAfterARestart() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""shutdown_grace": 0.1"#))
        var daemon = try await DaemonProcess(t).ready()
        // Runs until the test says go, so no window can be missed.
        try t.drop("s.json", #"{"id": "s", "provider": "exec", "command": "while [ ! -e \#(t.base)/go ]; do sleep 0.02; done", "queue_timeout": 1}"#)
        try await eventually("s running") { t.names("running").contains("s.json") }
        _ = try await daemon.stop()
        #expect(t.names("queued") == ["s.json"], "requeued by the shutdown")
        // Restart only once its queue timeout has passed since submission.
        let submitted = try #require(t.read("queued/s.json").flatMap { try? JSONParser.parse($0).objectValue?["submitted_at"]?.stringValue }.flatMap(Timestamp.init(rfc3339:)))
        try await eventually("the queue timeout passed") { Timestamp.now() - submitted > 1.2 }
        daemon = try await DaemonProcess(t).ready()
        try await eventually("s running again") { t.names("running").contains("s.json") }
        try t.write(t.base + "/go", "")
        let record = try await eventuallyValue("s's record") { t.record("s") }
        #expect(record["state"] == .string("succeeded"), "started once, so queue_timeout no longer applies")
        _ = try await daemon.stop()
    }

    @Test func initKeepsAnExistingConfigurationAndNeverRunTasksHaveNoOutputFiles() async throws {
        let t = try TestSpool()
        let before = try AtomicFile.read(path: t.configPath)
        #expect(try t.hopper(["init"]).stdout.contains("kept existing configuration"))
        #expect(try AtomicFile.read(path: t.configPath) == before)
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("dep.json", #"{"id": "dep", "command": "true", "after": ["missing"], "queue_timeout": 0.1}"#)
        let r = try await eventuallyValue("dep expired") { t.record("dep") }
        #expect(r["stdout"] == .null && r["stderr"] == .null)
        #expect(!t.names("done").contains("dep.out"))
        _ = try await daemon.stop()
    }
}

/// The daemon applies `retention.done_max_age` itself.
@Suite(.serialized) struct DaemonRetentionTests {
    @Test func oldRecordsArePrunedAtStart() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""retention": {"done_max_age": 3600}"#))
        try Spool.create(at: t.spool)
        let old = Timestamp.now().adding(seconds: -7200).rfc3339
        try t.write(t.spool + "/done/old.json", #"{"id":"old","state":"succeeded","finished_at":"\#(old)"}"#)
        try t.write(t.spool + "/done/old.out", "old output")
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("young.json", #"{"id": "young", "command": "true"}"#)
        _ = try await eventuallyValue("young") { t.record("young") }
        try await eventually("old pruned") { !t.names("done").contains("old.json") }
        #expect(!t.names("done").contains("old.out"))
        #expect(t.record("young") != nil, "a young record stays")
        _ = try await daemon.stop()
    }
}
