import Glibc
import Testing
@testable import HopperCore

/// Crashes, restarts, shutdown and bursts: no accepted task is lost or
/// finished twice.
@Suite(.serialized) struct CrashTests {
    @Test func killNineMidRunThenRestartLosesNothing() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""durability": "fsync""#))
        var daemon = try await DaemonProcess(t).ready()
        // Every tenth runs until the test lets it go (after the restart), so
        // the workers are held with some tasks finished and some running
        // however slowly the test is scheduled.
        let go = t.base + "/go"
        for i in 0..<40 {
            let command = i % 10 == 9 ? "while [ ! -e \(go) ]; do sleep 0.02; done" : "sleep 0.0\(i % 10)"
            try t.drop("t\(i).json", JSONValue.object(JSONObject([("id", .string("t\(i)")), ("command", .string(command))])).serialized())
        }
        try await eventually("some finished, some running") { t.records().count >= 5 && !t.names("running").isEmpty }
        try await daemon.crash()
        daemon = try await DaemonProcess(t).ready()
        try t.write(go, "")
        try await eventually("all forty records") { t.records().count == 40 }
        let records = t.records()
        for i in 0..<40 { #expect(records["t\(i)"]?["state"] == .string("succeeded"), "t\(i)") }
        #expect(t.names("running").isEmpty && t.names("queued").isEmpty && t.names("incoming").isEmpty)
        #expect(t.names("../.hopper/tmp").isEmpty)
        let finals = try t.events().filter { $0["event"] == .string("task.state") && $0["to"] == .string("succeeded") }
        #expect(Set(finals.compactMap { $0["id"]?.stringValue }).count == finals.count, "no task finished twice")
        _ = try await daemon.stop()
    }

    @Test func orphansOfACrashedDaemonAreKilledAndTasksRequeued() async throws {
        let t = try TestSpool()
        var daemon = try await DaemonProcess(t).ready()
        try t.drop("sleeper.json", #"{"id": "sleeper", "command": "sleep 1000"}"#)
        // Its process, not just its file in running/: the rename comes before the spawn.
        let orphans = try await eventuallyValue("sleeper's processes") { () -> [ProcessID]? in
            let live = t.survivors(running: "sleep 1000")
            return live.isEmpty ? nil : live
        }
        // The run's guard would kill them at once (see the next test): gone
        // with the daemon here, the next start is what finds them.
        let runGuard = try #require(DaemonProcess.runGuard(of: t))
        #expect(kill(runGuard.rawValue, SIGKILL) == 0)
        try await eventually("the guard gone") { DaemonProcess.runGuard(of: t) == nil }
        try await daemon.crash()
        #expect(orphans.allSatisfy { kill($0.rawValue, 0) == 0 }, "the crash left the task running")
        daemon = try await DaemonProcess(t).ready()
        try await eventually("the orphans killed") {
            orphans.allSatisfy { kill($0.rawValue, 0) != 0 || TestSpool.isZombie($0) }
        }
        let task = try await eventuallyValue("sleeper running again") { () -> JSONObject? in
            guard t.names("running").contains("sleeper.json") else { return nil }
            return t.read("running/sleeper.json").flatMap { try? JSONParser.parse($0).objectValue }
        }
        #expect(task["interruptions"] == .int(1))
        try t.write(t.spool + "/cancel/sleeper", "")
        _ = try await eventuallyValue("sleeper cancelled") { t.record("sleeper") }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    /// A daemon killed outright takes its run with it: the run's guard kills
    /// every process the run started (a task's shell and what it runs, a
    /// session that never reads its input) without waiting for a restart,
    /// then exits. A clean stop leaves no guard behind either.
    @Test func aKilledDaemonsTasksAndSessionsDieWithoutARestart() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#"""
            "default_provider": "exec",
            "providers": {"exec": {"mode": "exec", "command": ["/bin/sh", "-c", "{command}"]},
                          "deaf": {"mode": "session", "protocol": "jsonl", "command": ["/bin/sleep", "1000"]}}
            """#))
        let daemon = try await DaemonProcess(t).ready()
        #expect(DaemonProcess.runGuard(of: t) != nil, "the guard runs beside the daemon")
        try t.drop("long.json", #"{"id": "long", "command": "sleep 1000"}"#)
        try t.drop("deaf.json", #"{"id": "deaf", "provider": "deaf", "command": "hello"}"#)
        // The task's shell, its sleep, and the session's sleep.
        try await eventually("the task and the session running") { t.survivors(running: "sleep 1000").count == 3 }
        try await daemon.crash()
        try await eventually("nothing of the run left, without a restart") { t.survivors().isEmpty }
        try await eventually("the guard gone") { DaemonProcess.runGuard(of: t) == nil }
        #expect(daemon.log.contains("killed the processes its run left"), "\(daemon.log)")

        // After a clean stop (it requeues what the restart resumed), nothing either, the guard included.
        let again = try await DaemonProcess(t).ready()
        #expect(DaemonProcess.runGuard(of: t) != nil)
        #expect(try await again.stop() == .exited(0))
        #expect(DaemonProcess.runGuard(of: t) == nil, "a stopped daemon waited for its guard")
        #expect(t.survivors().isEmpty)
        #expect(!again.log.contains("killed the processes its run left"))
    }

    @Test func thirdInterruptionEndsInError() async throws {
        let t = try TestSpool()
        // Three crashes while it runs; the fourth start ends it.
        for round in 1...4 {
            let daemon = try await DaemonProcess(t).ready()
            if round == 1 { try t.drop("fragile.json", #"{"id": "fragile", "command": "sleep 1000"}"#) }
            if round < 4 {
                try await eventually("fragile running (round \(round))") { t.names("running").contains("fragile.json") }
                try await daemon.crash()
            } else {
                let r = try await eventuallyValue("fragile's record") { t.record("fragile") }
                #expect(r["state"] == .string("error"))
                #expect(r["reason"] == .string("interrupted"))
                #expect(r["interruptions"] == .int(3))
                _ = try await daemon.stop()
            }
        }
        #expect(t.survivors().isEmpty)
    }

    @Test func gracefulShutdownRequeuesWithoutCharging() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""shutdown_grace": 3"#))
        let daemon = try await DaemonProcess(t).ready()
        // Quick runs until the test lets it go, so both are seen running however slow the machine.
        let go = t.base + "/go"
        try t.drop("quick.json", #"{"id": "quick", "command": "while [ ! -e \#(go) ]; do sleep 0.01; done"}"#)
        try t.drop("slow.json", #"{"id": "slow", "command": "sleep 1000"}"#)
        try await eventually("both running") { t.names("running").filter { $0.hasSuffix(".json") }.count == 2 }
        try t.write(go, "")
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.record("quick")?["state"] == .string("succeeded"), "a task within the grace finishes")
        #expect(t.names("queued") == ["slow.json"])
        let slow = try #require(t.read("queued/slow.json").flatMap { try? JSONParser.parse($0).objectValue })
        #expect(slow["attempts"] == .int(0))
        #expect(slow["interruptions"] == .int(0))
        #expect(t.survivors().isEmpty)
    }

    @Test func oneDaemonPerSpool() async throws {
        let t = try TestSpool()
        let first = try await DaemonProcess(t).ready()
        let second = try DaemonProcess(t)
        let status = try await second.exited()
        #expect(status != .exited(0))
        #expect(second.log.contains("another hopper daemon"))
        _ = try await first.stop()
    }

    @Test func badConfigurationStopsBeforeTheSpoolIsTouched() async throws {
        let t = try TestSpool(config: #"{"workers": 2, "timeouts": {"command": {"kill_grace": "soon"}}}"#)
        let daemon = try DaemonProcess(t)
        #expect(try await daemon.exited() == .exited(2))
        #expect(daemon.log.contains("timeouts.command.kill_grace"))
        #expect(access(t.spool, F_OK) != 0, "no spool created")
    }

    @Test func reloadKeepsTheOldConfigurationWhenTheNewOneIsBad() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.write(t.configPath, #"{"workers": "many"}"#)
        daemon.signal(.hangup)
        try await eventually("the reload refused") { daemon.log.contains("reload failed") }
        try t.drop("still.json", #"{"id": "still", "command": "true"}"#)
        _ = try await eventuallyValue("still runs") { t.record("still") }
        try t.write(t.configPath, TestSpool.configuration(#""providers": {"extra": {"command": ["/bin/sh", "-c", "{command}"]}}"#))
        daemon.signal(.hangup)
        try await eventually("the reload taken") { daemon.log.contains("reloaded") }
        try t.drop("extra.json", #"{"id": "extra", "command": "true", "provider": "extra"}"#)
        #expect(try await eventuallyValue("extra runs") { t.record("extra") }["provider"] == .string("extra"))
        _ = try await daemon.stop()
    }

    @Test func burstPastTheInotifyQueueLosesNothing() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""workers": 2"#))
        try Spool.create(at: t.spool)
        // Written aside, then renamed in all at once while the daemon runs.
        let staging = t.base + "/staging"
        mkdir(staging, 0o755)
        let count = 20_000
        for i in 0..<count { try t.write("\(staging)/b\(i).json", #"{"command": "true"}"#) }
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<count { rename("\(staging)/b\(i).json", "\(t.spool)/incoming/b\(i).json") }
        try await eventually("all \(count) records", timeout: 300) {
            let done = try Directory.open(t.spool + "/done")
            defer { done.close() }
            return try done.entries().filter { $0.hasSuffix(".json") }.count == count
        }
        #expect(t.names("incoming").isEmpty)
        #expect(t.names("rejected").isEmpty)
        _ = try await daemon.stop()
    }
}
