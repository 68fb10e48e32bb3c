import Glibc
import Testing
@testable import HopperCore

/// Priorities, delays, dependencies, retries, queue timeouts and cancels, as
/// the records in done/ show them.
@Suite(.serialized) struct SchedulingTests {
    func started(_ t: TestSpool, _ id: String) -> Timestamp? {
        t.record(id)?["started_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
    }

    @Test func higherPriorityFirstThenAcceptanceOrder() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""workers": 1"#))
        try Spool.create(at: t.spool)
        // All present before the daemon starts, so order is decided by the scheduler alone.
        try t.drop("a.json", #"{"id": "low1", "command": "true", "priority": -5}"#)
        try t.drop("b.json", #"{"id": "mid1", "command": "true"}"#)
        try t.drop("c.json", #"{"id": "high", "command": "true", "priority": 10}"#)
        try t.drop("d.json", #"{"id": "mid2", "command": "true"}"#)
        let daemon = try await DaemonProcess(t).ready()
        try await eventually("four records") { t.records().count == 4 }
        let order = ["high", "mid1", "mid2", "low1"].map { started(t, $0)! }
        #expect(order == order.sorted(), "started in priority, then acceptance order")
        _ = try await daemon.stop()
    }

    @Test func runAfterWaitsInPending() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let at = Timestamp.now().adding(seconds: 1.0)
        try t.drop("later.json", #"{"id": "later", "command": "true", "run_after": "\#(at.rfc3339)"}"#)
        let record = try await eventuallyValue("later's record") { t.record("later") }
        // It waited in pending/ (the transition is in the log whatever the machine's load).
        let moves = try t.events().filter { $0["id"] == .string("later") && $0["event"] == .string("task.state") }.compactMap { $0["to"]?.stringValue }
        #expect(moves == ["pending", "queued", "running", "succeeded"])
        #expect(started(t, "later")! >= at)
        #expect(record["state"] == .string("succeeded"))
        _ = try await daemon.stop()
    }

    @Test func dependenciesWaitAndCascade() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        // Dependents submitted before their dependency exists.
        try t.drop("child.json", #"{"id": "child", "command": "true", "after": ["parent"]}"#)
        try t.drop("doomed.json", #"{"id": "doomed", "command": "true", "after": ["bad"]}"#)
        try t.drop("grandchild.json", #"{"id": "grandchild", "command": "true", "after": ["doomed"]}"#)
        try await eventually("dependents pending") { t.names("pending").count == 3 }
        try t.drop("parent.json", #"{"id": "parent", "command": "true"}"#)
        try t.drop("bad.json", #"{"id": "bad", "command": "exit 1"}"#)
        let child = try await eventuallyValue("child") { t.record("child") }
        #expect(child["state"] == .string("succeeded"))
        #expect(started(t, "child")! >= started(t, "parent")!)
        let doomed = try await eventuallyValue("doomed") { t.record("doomed") }
        #expect(doomed["state"] == .string("cancelled"))
        #expect(doomed["reason"] == .string("dependency"))
        let grandchild = try await eventuallyValue("grandchild") { t.record("grandchild") }
        #expect(grandchild["reason"] == .string("dependency"))
        // A dependency already finished is read from its record.
        try t.drop("late.json", #"{"id": "late", "command": "true", "after": ["bad"]}"#)
        #expect(try await eventuallyValue("late") { t.record("late") }["reason"] == .string("dependency"))
        try t.drop("late2.json", #"{"id": "late2", "command": "true", "after": ["parent"]}"#)
        #expect(try await eventuallyValue("late2") { t.record("late2") }["state"] == .string("succeeded"))
        _ = try await daemon.stop()
    }

    @Test func failedAttemptsAreRetriedWithBackoff() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        // Fails twice, then succeeds: the counter file lives outside the spool.
        let counter = t.base + "/count"
        try t.drop("flaky.json", #"{"id": "flaky", "retries": 3, "command": "echo x >> \#(counter); [ $(wc -l < \#(counter)) -ge 3 ]"}"#)
        try t.drop("hopeless.json", #"{"id": "hopeless", "retries": 1, "command": "exit 4"}"#)
        let flaky = try await eventuallyValue("flaky") { t.record("flaky") }
        #expect(flaky["state"] == .string("succeeded"))
        #expect(flaky["attempts"] == .int(3))
        let hopeless = try await eventuallyValue("hopeless") { t.record("hopeless") }
        #expect(hopeless["state"] == .string("failed"))
        #expect(hopeless["attempts"] == .int(2))
        let toPending = try t.events().filter { $0["id"] == .string("flaky") && $0["to"] == .string("pending") }
        #expect(toPending.count == 2)
        _ = try await daemon.stop()
    }

    @Test func queueTimeoutExpiresTasksThatNeverStart() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("orphan.json", #"{"id": "orphan", "command": "true", "after": ["never"], "queue_timeout": 0.3}"#)
        let r = try await eventuallyValue("orphan") { t.record("orphan") }
        #expect(r["state"] == .string("error"))
        #expect(r["reason"] == .string("expired"))
        #expect(r["started_at"] == .null)
        _ = try await daemon.stop()
    }

    @Test func cancelQueuedAndRunningTasks() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""workers": 1"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("long.json", #"{"id": "long", "command": "trap '' TERM; sleep 1000"}"#)
        try await eventually("long running") { t.names("running").contains("long.json") }
        try t.drop("waiting.json", #"{"id": "waiting", "command": "true"}"#)
        try await eventually("waiting queued") { t.names("queued").contains("waiting.json") }
        let out = try t.hopper(["cancel", "waiting"])
        #expect(out.exitCode == 0, "\(out.stderr)")
        let waiting = try await eventuallyValue("waiting cancelled") { t.record("waiting") }
        #expect(waiting["state"] == .string("cancelled"))
        #expect(waiting["started_at"] == .null)
        // An empty file in cancel/ does the same for a running task, even one ignoring SIGTERM.
        try t.write(t.spool + "/cancel/long", "")
        let long = try await eventuallyValue("long cancelled") { t.record("long") }
        #expect(long["state"] == .string("cancelled"))
        #expect(long["reason"] == .string("cancelled"))
        #expect(t.names("cancel").isEmpty)
        try await eventually("long's processes gone") { t.survivors(excluding: [daemon.pid.rawValue]).isEmpty }
        #expect(try t.hopper(["cancel", "long"]).exitCode == 1, "already finished")
        #expect(try t.hopper(["cancel", "nosuchtask"]).exitCode == 2)
        _ = try await daemon.stop()
    }
}
