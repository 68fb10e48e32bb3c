import Glibc
import Testing
@testable import HopperCore

/// Completion hooks (`on_finish`) on the real daemon: arguments and
/// environment, failures counted, timeouts killing the hook's group, no
/// delay for tasks, and a hook due at a crash run after the restart.
@Suite(.serialized) struct HookTests {
    /// A hook script that appends one line per run to `log` and then runs `then`.
    static func hook(_ t: TestSpool, then: String = "exit 0") throws -> (script: String, log: String) {
        let script = t.base + "/hook.sh", log = t.base + "/hook.log"
        try t.write(script, "#!/bin/sh\necho \"$HOPPER_TASK_ID $HOPPER_STATE $# $*\" >> \(log)\n\(then)\n")
        chmod(script, 0o755)
        return (script, log)
    }

    func lines(_ t: TestSpool, _ log: String) -> [String] {
        (t.readAbsolute(log) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func theHookGetsTheRecordPathAndTheTaskInItsEnvironment() async throws {
        let t = try TestSpool(config: nil)
        let (script, log) = try Self.hook(t)
        try t.write(t.configPath, TestSpool.configuration(#""on_finish": ["\#(script)", "--from-hopper"]"#))
        let daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "good", "true"])
        _ = try t.hopper(["submit", "--id", "bad", "--provider", "exec", "exit 4"])
        try await eventually("two hook runs") { lines(t, log).count == 2 }
        let runs = Set(lines(t, log))
        #expect(runs == ["good succeeded 2 --from-hopper \(t.spool)/done/good.json", "bad failed 2 --from-hopper \(t.spool)/done/bad.json"])
        try await eventually("the markers to go") { t.names(".hopper/hooks").isEmpty }
        try await eventually("metrics to count no failure") { t.read("metrics.prom")?.contains("hopper_hook_failures_total 0\n") == true }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    /// exec's hook hangs (with a child in its group) for a minute; sh's fails,
    /// or hangs past its 0.5 s bound when the task succeeded.
    static func failingHooks(_ t: TestSpool) throws -> String {
        let (script, log) = try Self.hook(t, then: #"[ "$HOPPER_STATE" = succeeded ] && { sleep 300 & sleep 300; }; echo broken >&2; exit 3"#)
        try t.write(t.configPath, TestSpool.configuration(#"""
            "on_finish": ["\#(script)"], "on_finish_timeout": 0.5,
            "providers": {"exec": {"mode": "exec", "command": ["/bin/sh", "-c", "{command}"], "on_finish_timeout": 60}}
            """#))
        return log
    }

    @Test func slowHooksDelayNoTask() async throws {
        let t = try TestSpool(config: nil)
        let log = try Self.failingHooks(t)
        let daemon = try await DaemonProcess(t).ready()
        // Two hooks that hang for a minute hold both hook slots (workers 2)…
        _ = try t.hopper(["submit", "--id", "slow1", "--provider", "exec", "true"])
        _ = try t.hopper(["submit", "--id", "slow2", "--provider", "exec", "true"])
        try await eventually("both slow hooks running") { lines(t, log).count == 2 }
        // …and tasks still run at once.
        for i in 0..<4 { _ = try t.hopper(["submit", "--id", "quick\(i)", "--provider", "exec", "true"]) }
        for i in 0..<4 { _ = try await eventuallyValue("quick\(i) recorded", timeout: 10) { t.record("quick\(i)") } }
        #expect(lines(t, log).count == 2, "hooks wait for a free hook slot; tasks do not wait for hooks")
        #expect(t.names(".hopper/hooks").count == 6, "every due hook is marked")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty, "hooks running at shutdown are killed (and run again at the next start)")
    }

    @Test func failuresAndTimeoutsAreCountedAndLogged() async throws {
        let t = try TestSpool(config: nil)
        _ = try Self.failingHooks(t)
        let daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "hangs", "true"])
        _ = try t.hopper(["submit", "--id", "fails", "exit 1"])
        try await eventually("both failures counted", timeout: 20) {
            t.read("metrics.prom")?.contains("hopper_hook_failures_total 2\n") == true
        }
        #expect(daemon.log.contains("completion hook failed"))
        #expect(daemon.log.contains("timed out; its process group was killed"))
        #expect(daemon.log.contains("broken"), "the hook's own words are logged")
        try await eventually("no hook process left") { t.survivors(running: "sleep 300").isEmpty }
        #expect(t.record("hangs")?["state"] == .string("succeeded"), "the record is untouched")
        try await eventually("the markers to go") { t.names(".hopper/hooks").isEmpty }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func aHookDueWhenTheDaemonDiedRunsAfterTheRestart() async throws {
        let t = try TestSpool(config: nil)
        let gate = t.base + "/gate"
        let (script, log) = try Self.hook(t, then: "while [ ! -e \(gate) ]; do sleep 0.02; done")
        try t.write(t.configPath, TestSpool.configuration(#""on_finish": ["\#(script)"]"#))
        var daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "one", "true"])
        try await eventually("the hook to start") { lines(t, log).count == 1 }
        #expect(t.names(".hopper/hooks") == ["one"])
        try await daemon.crash()
        daemon = try await DaemonProcess(t).ready()
        try await eventually("the hook to run again after the restart") { lines(t, log).count == 2 }
        try t.write(gate, "")
        try await eventually("its marker to go once it ended") { t.names(".hopper/hooks").isEmpty }
        #expect(lines(t, log) == ["one succeeded 1 \(t.spool)/done/one.json", "one succeeded 1 \(t.spool)/done/one.json"])
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }
}
