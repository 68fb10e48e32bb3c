import Glibc
import Testing
@testable import HopperCore

/// Coalescing keys on the real daemon: one task per key at a time, skip
/// and replace, and the holder kept across a restart. Tasks that must stay
/// running wait for a file the test creates.
@Suite(.serialized) struct KeyTests {
    @Test func queueRunsOneAtATimeSkipEndsAtOnceReplaceTakesTheUnstartedPlace() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let gate = t.base + "/gate"
        let waitGate = "while [ ! -e \(gate) ]; do sleep 0.02; done"
        _ = try t.hopper(["submit", "--id", "first", "--key", "sync", "--", waitGate])
        try await eventually("first to start") { t.names("running").contains("first.json") }
        _ = try t.hopper(["submit", "--id", "second", "--key", "sync", "--on-conflict", "queue", "true"])
        try await eventually("second to wait in pending/") { t.names("pending").contains("second.json") }

        let skipped = try t.hopper(["submit", "--id", "skipped", "--key", "sync", "--on-conflict", "skip", "true"])
        #expect(skipped.exitCode == 0)
        let skip = try await eventuallyValue("skipped's record") { t.record("skipped") }
        #expect(skip["state"] == .string("cancelled"))
        #expect(skip["reason"] == .string("duplicate_key"))
        #expect(skip["message"]?.stringValue?.contains("first") == true)
        #expect(skip["stdout"] == .null, "it never ran")

        // replace: second has not started, so it goes; first runs on.
        _ = try t.hopper(["submit", "--id", "third", "--key", "sync", "--on-conflict", "replace", "echo third"])
        let replaced = try await eventuallyValue("second replaced") { t.record("second") }
        #expect(replaced["state"] == .string("cancelled"))
        #expect(replaced["reason"] == .string("replaced"))
        #expect(t.names("running").contains("first.json"), "a started holder is not replaced")
        #expect(t.names("pending").contains("third.json"), "third waits for first like queue")

        try t.write(gate, "")
        let third = try await eventuallyValue("third to run after first") { t.record("third") }
        #expect(third["state"] == .string("succeeded"))
        let first = try #require(t.record("first"))
        let firstEnd = try #require(first["finished_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
        let thirdStart = try #require(third["started_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
        #expect(!(thirdStart < firstEnd), "never two tasks of one key at once")
        #expect(third["request"]?.objectValue?["key"] == .string("sync"))
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func theKeyIsHeldAcrossARestart() async throws {
        let t = try TestSpool()
        var daemon = try await DaemonProcess(t).ready()
        let gate = t.base + "/gate"
        try t.drop("a.json", #"{"id":"a","key":"k","command":"while [ ! -e \#(gate) ]; do sleep 0.02; done"}"#)
        try t.drop("b.json", #"{"id":"b","key":"k","command":"true"}"#)
        try await eventually("a running, b waiting") { t.names("running").contains("a.json") && t.names("pending") == ["b.json"] }
        try await daemon.crash()
        daemon = try await DaemonProcess(t).ready()
        // a is requeued and runs again; b still waits behind it.
        try await eventually("a running again") { t.names("running").contains("a.json") }
        try t.drop("c.json", #"{"id":"c","key":"k","on_conflict":"skip","command":"true"}"#)
        let c = try await eventuallyValue("c skipped") { t.record("c") }
        #expect(c["reason"] == .string("duplicate_key"))
        #expect(t.names("pending") == ["b.json"])
        try t.write(gate, "")
        let b = try await eventuallyValue("b after a") { t.record("b") }
        #expect(b["state"] == .string("succeeded"))
        #expect(t.record("a")?["state"] == .string("succeeded"))
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func submitChecksItsKeyOptions() throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        #expect(try t.hopper(["submit", "--on-conflict", "skip", "true"]).exitCode == 2, "--on-conflict needs --key")
        let bad = try t.hopper(["submit", "--key", "k", "--on-conflict", "drop", "true"])
        #expect(bad.exitCode == 2 && bad.stderr.contains("on_conflict"))
        #expect(try t.hopper(["submit", "--key", "not a key", "true"]).exitCode == 2)
        #expect(t.names("incoming").isEmpty)
    }
}
