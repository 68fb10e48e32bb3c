import Glibc
import Testing
@testable import HopperCore

/// `hopper run --exit-when-idle`: a batch run that stops by itself, but
/// not while a task still waits for its time or its dependency.
@Suite(.serialized) struct ExitWhenIdleTests {
    @Test func anEmptySpoolExitsZeroAtOnce() async throws {
        let t = try TestSpool()
        let daemon = try DaemonProcess(t, arguments: ["--exit-when-idle"])
        let status = try await daemon.exited(timeout: 20)
        #expect(status == .exited(0), "\(daemon.log)")
        #expect(daemon.log.contains("nothing left to do"))
        #expect(t.read("status.json")?.contains("\"state\":\"stopped\"") == true)
    }

    @Test func exitsOnlyAfterTheBatchIncludingTasksWaitingOnTimeAndDependencies() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        for i in 0..<5 { try t.drop("t\(i).sh", "echo \(i)") }
        // Far enough ahead that the five scripts are done before it even on a
        // loaded machine (with 2 s, a slow start let `later` finish first and
        // the count of exactly five records was never seen).
        let runAfter = Timestamp.now().adding(seconds: 6)
        try t.drop("later.json", #"{"id":"later","command":"true","run_after":"\#(runAfter.rfc3339)"}"#)
        try t.drop("last.json", #"{"id":"last","command":"echo done","after":["later"]}"#)
        // A file still being written by its client does not count.
        try t.write(t.spool + "/incoming/.half.json.part", "{")
        let daemon = try DaemonProcess(t, arguments: ["--exit-when-idle"])
        try await eventually("the five scripts to finish") { (0..<5).allSatisfy { t.record(source: "t\($0).sh") != nil } }
        #expect(daemon.exitStatus == nil, "later waits for its run_after and keeps the daemon up")
        #expect(t.names("pending") == ["last.json", "later.json"])
        let status = try await daemon.exited(timeout: 30)
        #expect(status == .exited(0), "\(daemon.log)")
        let later = try #require(t.record("later"))
        #expect(later["state"] == .string("succeeded"))
        let started = try #require(later["started_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
        #expect(!(started < runAfter))
        #expect(t.record("last")?["state"] == .string("succeeded"))
        #expect(t.records().count == 7)
        #expect(t.names("incoming") == [".half.json.part"])
        #expect(t.survivors().isEmpty)
    }

    @Test func aPausedQueueKeepsItRunningUntilResumed() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        _ = try t.hopper(["pause"])
        try t.drop("held.sh", "true")
        let daemon = try await DaemonProcess(t, arguments: ["--exit-when-idle"]).ready()
        try await eventually("held to be queued") { t.names("queued").count == 1 }
        try await eventually("status.json to show it queued") {
            t.read("status.json").flatMap { try? JSONParser.parse($0).objectValue }?["counts"]?.objectValue?["queued"] == .int(1)
        }
        #expect(daemon.exitStatus == nil)
        _ = try t.hopper(["resume"])
        #expect(try await daemon.exited(timeout: 20) == .exited(0))
        #expect(t.records().count == 1)
    }
}
