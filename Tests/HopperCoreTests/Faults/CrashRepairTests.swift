import Glibc
import Testing
@testable import HopperCore

/// Regressions for what the crash-injection suite found: states a crash (or
/// a stop) leaves between two renames, and what the next start makes of them.
@Suite(.serialized) struct CrashRepairTests {
    /// A task waiting for its retry keeps its last outputs in pending/; when a
    /// restart finds its delay over, they go with it to queued/.
    @Test func outputsFollowATaskReleasedAtStart() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""shutdown_grace": 1, "timeouts": {"command": {"retry_delay": [0.3]}}"#))
        var daemon = try await DaemonProcess(t).ready()
        try t.drop("c.json", #"{"id": "c", "provider": "exec", "command": "echo try; exit 3", "retries": 1}"#)
        try await eventually("c waiting for its retry") { t.names("pending").contains("c.json") }
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.names("pending") == ["c.err", "c.json", "c.out"])
        let notBefore = try #require(t.read("pending/c.json").flatMap { try? JSONParser.parse($0).objectValue?["not_before"]?.stringValue }.flatMap(Timestamp.init(rfc3339:)))
        try await eventually("the retry delay over") { Timestamp.now() > notBefore }
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
        // Nobody's.
        try t.write(t.spool + "/queued/nobody.out", "")
        let daemon = try await DaemonProcess(t).ready()
        let record = try await eventuallyValue("q's record") { t.record("q") }
        #expect(record["state"] == .string("succeeded"))
        _ = try await daemon.stop()
        #expect(t.names("pending").isEmpty && t.names("queued").isEmpty && t.names("running").isEmpty)
        #expect(t.read("done/f.err") == "last words\n")
        #expect(t.read("done/q.out") == "again\n")
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
}
