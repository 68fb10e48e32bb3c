import Glibc
import Testing
@testable import HopperCore

/// Agent presets run by the daemon with the fakes in examples/providers as
/// their executables: records that tell the truth, rate limits that limit
/// the provider and requeue the task uncharged, logins that count for the
/// circuit, budgets counted from the records.
@Suite(.serialized) struct AgentDaemonTests {
    static let fakes = SessionTests.path(before: "Tests") + "/examples/providers"
    /// What the presets that check for a key variable (Amp, Gemini, Copilot) look for.
    static let keys = #"{"AMP_API_KEY": "fake-key", "GEMINI_API_KEY": "fake-key", "GH_TOKEN": "fake-key"}"#

    /// A spool whose providers are `presets` (name → preset and fake), plus `sh`.
    private func spool(_ providers: [(String, String, String)], extra: String = "") throws -> TestSpool {
        let entries = providers.map { name, preset, fake in
            #""\#(name)": {"agent": "\#(preset)", "executable": "\#(Self.fakes)/\#(fake)", "env": \#(Self.keys)}"#
        }
        return try TestSpool(config: TestSpool.configuration(#""workers": 4, "providers": {\#(entries.joined(separator: ", ")), "sh": {"mode": "exec", "command": ["/bin/sh", "-c", "{command}"]}}"# + extra))
    }

    private func events(_ t: TestSpool, _ name: String) throws -> [JSONObject] {
        try t.events().filter { $0["event"] == .string(name) }
    }

    @Test(arguments: [
        ("claude", "fake-stream-agent"), ("amp", "fake-stream-agent"), ("codex", "fake-event-agent"), ("gemini", "fake-event-agent"),
        ("cursor", "fake-event-agent"), ("opencode", "fake-event-agent"), ("aider", "fake-text-agent"), ("copilot", "fake-text-agent"),
    ])
    func eachPresetsFakeRunsWithATrueRecord(preset: String, fake: String) async throws {
        let t = try spool([("agent", preset, fake)])
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("ok.json", #"{"id": "ok", "provider": "agent", "command": "say hi"}"#)
        try t.drop("bad.json", #"{"id": "bad", "provider": "agent", "command": "work [fail]"}"#)
        let ok = try await eventuallyValue("ok") { t.record("ok") }
        #expect(ok["state"] == .string("succeeded"), "\(preset): \(ok["message"] ?? .null)")
        #expect(ok["result_text"] == .string("fake: say hi"), "\(preset)")
        if preset != "aider" { #expect(ok["agent_session"] != .null, "\(preset)") }
        let bad = try await eventuallyValue("bad") { t.record("bad") }
        if preset == "claude" || preset == "amp" || preset == "aider" || preset == "copilot" {
            // These fakes have no [fail] shape: the turn simply succeeds.
            #expect(bad["state"] == .string("succeeded"), "\(preset)")
        } else {
            #expect(bad["state"] == .string("failed") && bad["reason"] == .string("agent_error"), "\(preset): \(bad)")
        }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test(arguments: [
        ("claude", "fake-stream-agent", "[max-turns]"), ("claude", "fake-stream-agent", "[denied]"),
        ("claude", "fake-stream-agent", "[empty]"), ("claude", "fake-stream-agent", "[crash]"),
        ("codex", "fake-event-agent", "[no-final]"), ("gemini", "fake-event-agent", "[fail]"),
        ("opencode", "fake-event-agent", "[no-final]"), ("aider", "fake-text-agent", "[no-reply]"),
        ("copilot", "fake-text-agent", "[no-reply]"),
    ])
    func noFalseSuccesses(preset: String, fake: String, tag: String) async throws {
        let t = try spool([("agent", preset, fake)])
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("t.json", #"{"id": "t", "provider": "agent", "command": "work \#(tag)"}"#)
        let r = try await eventuallyValue("t") { t.record("t") }
        #expect(r["state"] == .string("failed"), "\(preset) \(tag): \(r)")
        #expect(r["reason"] == .string("agent_error") || r["reason"] == .string("exit"), "\(preset) \(tag): \(r["reason"] ?? .null)")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    /// A CLI that hangs without a word (opencode after a quota error, a
    /// stuck session): killed after `idle_output`, reason timeout, "silent".
    @Test(arguments: [("claude", "fake-stream-agent"), ("codex", "fake-event-agent")])
    func aSilentHangIsKilledAfterIdleOutput(preset: String, fake: String) async throws {
        let t = try spool([("agent", preset, fake)],
                          extra: #", "timeouts": {"command": {"default_timeout": 60, "kill_grace": 0.5, "idle_output": 1}}"#)
        let daemon = try await DaemonProcess(t).ready()
        let started = Timestamp.now()
        try t.drop("t.json", #"{"id": "t", "provider": "agent", "command": "work [hang]"}"#)
        let r = try await eventuallyValue("t") { t.record("t") }
        #expect(r["state"] == .string("failed") && r["reason"] == .string("timeout"), "\(preset): \(r)")
        #expect(r["message"]?.stringValue?.hasPrefix("Silent for 1 seconds") == true, "\(r["message"] ?? .null)")
        #expect(Timestamp.now() - started < 10)
        try t.drop("u.json", #"{"id": "u", "provider": "agent", "command": "after"}"#)
        let u = try await eventuallyValue("u") { t.record("u") }
        #expect(u["state"] == .string("succeeded"), "the provider works on: \(u)")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    /// `continue`: the next turn of an earlier task's conversation, run with
    /// the CLI's resume flag; it waits for that task, and one that has no
    /// conversation to go on with ends cancelled (dependency).
    @Test func continueGoesOnWithTheConversation() async throws {
        let t = try spool([("codex", "codex", "fake-event-agent"), ("sh2", "codex", "fake-event-agent")])
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("b.json", #"{"id": "b", "provider": "codex", "command": "and then", "continue": "a"}"#)
        try t.drop("a.json", #"{"id": "a", "provider": "codex", "command": "first"}"#)
        let a = try await eventuallyValue("a") { t.record("a") }
        let b = try await eventuallyValue("b") { t.record("b") }
        #expect(b["state"] == .string("succeeded"), "\(b)")
        #expect(b["agent_session"] != .null && b["agent_session"] == a["agent_session"], "the same conversation")
        #expect((b["started_at"]?.stringValue ?? "") >= (a["finished_at"]?.stringValue ?? "~"), "after the task it continues")
        // Another provider's conversation, and a failed one, cannot be continued.
        try t.drop("c.json", #"{"id": "c", "provider": "sh2", "command": "elsewhere", "continue": "a"}"#)
        try t.drop("f.json", #"{"id": "f", "provider": "codex", "command": "break [fail]"}"#)
        try t.drop("g.json", #"{"id": "g", "provider": "codex", "command": "go on", "continue": "f"}"#)
        let c = try await eventuallyValue("c") { t.record("c") }
        #expect(c["state"] == .string("cancelled") && c["reason"] == .string("dependency"), "\(c)")
        let g = try await eventuallyValue("g") { t.record("g") }
        #expect(g["state"] == .string("cancelled") && g["reason"] == .string("dependency"), "\(g)")
        _ = try await daemon.stop()
    }

    /// `continue` on a session agent: the live session that holds the
    /// conversation takes the next turn; once that session has closed, the
    /// turn runs alone with the CLI's resume flag, in the same conversation.
    @Test func continueOnASessionAgent() async throws {
        let t = try spool([("claude", "claude", "fake-stream-agent")],
                          extra: #", "timeouts": {"command": {"default_timeout": 60, "kill_grace": 0.5}, "session": {"idle_timeout": 2, "warning_before_timeout": 0}}"#)
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("a.json", #"{"id": "a", "provider": "claude", "command": "first"}"#)
        try t.drop("b.json", #"{"id": "b", "provider": "claude", "command": "second", "continue": "a"}"#)
        let a = try await eventuallyValue("a") { t.record("a") }
        let b = try await eventuallyValue("b") { t.record("b") }
        #expect(b["state"] == .string("succeeded"), "\(b)")
        #expect(b["session"] == a["session"] && b["agent_session"] == a["agent_session"], "the live session that holds it")
        try await eventually("the session closed when idle") { try events(t, "session.closed").contains { $0["reason"] == .string("idle") } }
        try t.drop("c.json", #"{"id": "c", "provider": "claude", "command": "third", "continue": "b"}"#)
        let c = try await eventuallyValue("c") { t.record("c") }
        #expect(c["state"] == .string("succeeded"), "\(c)")
        #expect(c["agent_session"] == a["agent_session"], "resumed alone, the same conversation")
        #expect(c["session"] == .null, "no live session ran it")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func aBackgroundTurnsResultIsNotTheTasks() async throws {
        let t = try spool([("claude", "claude", "fake-stream-agent")])
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("t.json", #"{"id": "t", "provider": "claude", "command": "work [background]"}"#)
        let r = try await eventuallyValue("t") { t.record("t") }
        #expect(r["state"] == .string("succeeded"))
        #expect(r["result_text"] == .string("fake: work [background]"), "\(r["result_text"] ?? .null)")
        _ = try await daemon.stop()
    }

    /// A CLI that is rate-limited on its first run and answers afterwards
    /// (gemini's "Please retry in 2s"): the task is requeued uncharged, the
    /// provider limited until the reset and resumed then, and the other
    /// providers keep running meanwhile.
    @Test func aRateLimitLimitsTheProviderAndRequeuesTheTaskUncharged() async throws {
        let t = try TestSpool(config: nil)
        let wrapper = t.base + "/limited-once"
        try t.write(wrapper, """
            #!/bin/sh
            if mkdir "\(t.base)/limited" 2>/dev/null; then export FAKE_AGENT_SCENARIO=usage-limit; fi
            exec "\(Self.fakes)/fake-event-agent" "$@"
            """)
        chmod(wrapper, 0o755)
        try t.write(t.configPath, TestSpool.configuration(#""workers": 4, "providers": {"gemini": {"agent": "gemini", "executable": "\#(wrapper)", "env": \#(Self.keys)}, "sh": {"mode": "exec", "command": ["/bin/sh", "-c", "{command}"]}}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("a.json", #"{"id": "a", "provider": "gemini", "command": "first"}"#)
        let limited = try await eventuallyValue("provider.limited") { try events(t, "provider.limited").first }
        #expect(limited["provider"] == .string("gemini") && limited["reason"] == .string("rate_limit"))
        let until = try #require(limited["until"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
        #expect(until - Timestamp.now() <= 2.5, "the CLI's own reset: retry in 2s")
        #expect(limited["message"]?.stringValue?.isEmpty == false)
        try t.drop("b.json", #"{"id": "b", "provider": "gemini", "command": "second"}"#)
        try t.drop("s.json", #"{"id": "s", "provider": "sh", "command": "echo other"}"#)
        // Judged by the records' own times, not by when this test looks: a
        // poll held back past the reset would find a and b done.
        func started(_ record: JSONObject) -> Timestamp? { record["started_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) }
        let s = try await eventuallyValue("s") { t.record("s") }
        #expect(s["state"] == .string("succeeded"))
        #expect(try #require(started(s)) < until, "other providers run while one is limited")
        let a = try await eventuallyValue("a", timeout: 15) { t.record("a") }
        #expect(a["state"] == .string("succeeded") && a["attempts"] == .int(1), "requeued uncharged: \(a)")
        let resumed = try #require(try events(t, "provider.resumed").first)
        let resumedAt = try #require(resumed["ts"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
        #expect(resumedAt - until < 1, "resumed within a second of the reset")
        let b = try await eventuallyValue("b") { t.record("b") }
        for (name, record) in [("a", a), ("b", b)] {
            #expect(try #require(started(record)) >= until, "\(name) of the limited provider started only after the reset")
        }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    /// "Not logged in" from a run: requeued, not failed; the circuit counts
    /// it; once the login works the task succeeds, uncharged.
    @Test func aLoginErrorRequeuesAndCountsForTheCircuit() async throws {
        let t = try TestSpool(config: nil)
        let wrapper = t.base + "/logged-out-once"
        try t.write(wrapper, """
            #!/bin/sh
            # Only a task's run (`codex exec ...`) is refused, once; the status check passes.
            if [ "$1" = exec ] && mkdir "\(t.base)/denied" 2>/dev/null; then export FAKE_AGENT_SCENARIO=auth; fi
            exec "\(Self.fakes)/fake-event-agent" "$@"
            """)
        chmod(wrapper, 0o755)
        try t.write(t.configPath, TestSpool.configuration(#""providers": {"codex": {"agent": "codex", "executable": "\#(wrapper)"}}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("a.json", #"{"id": "a", "provider": "codex", "command": "hello"}"#)
        let a = try await eventuallyValue("a", timeout: 15) { t.record("a") }
        #expect(a["state"] == .string("succeeded") && a["attempts"] == .int(1), "\(a)")
        let closed = try events(t, "session.closed").map { $0["reason"] }
        #expect(closed.contains(.string("auth")), "the session whose login failed is closed: \(closed)")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func aSpentBudgetLimitsTheProviderUntilTomorrowAndSurvivesARestart() async throws {
        let t = try spool([("claude", "claude", "fake-stream-agent")])
        var config = try #require(try JSONParser.parse(try AtomicFile.read(path: t.configPath)).objectValue)
        var providers = try #require(config["providers"]?.objectValue)
        var claude = try #require(providers["claude"]?.objectValue)
        claude["budget"] = .object(JSONObject([("usd_per_day", .double(0.000001))]))
        providers["claude"] = .object(claude)
        config["providers"] = .object(providers)
        try t.write(t.configPath, JSONValue.object(config).prettyPrinted())
        var daemon = try await DaemonProcess(t).ready()
        try t.drop("a.json", #"{"id": "a", "provider": "claude", "command": "spend"}"#)
        let a = try await eventuallyValue("a") { t.record("a") }
        #expect(a["state"] == .string("succeeded"))
        #expect((a["cost_usd"]?.doubleValue ?? 0) > 0, "the fake reports a cost")
        let limited = try await eventuallyValue("provider.limited") { try events(t, "provider.limited").first }
        #expect(limited["reason"] == .string("budget"))
        let shown = try await eventuallyValue("status.json shows the limit") { () -> JSONObject? in
            let status = try JSONParser.parse(Array((t.read("status.json") ?? "{}").utf8)).objectValue
            let entry = status?["providers"]?.objectValue?["claude"]?.objectValue
            return entry?["limit_reason"] == .string("budget") ? entry : nil
        }
        #expect((shown["spent_today_usd"]?.doubleValue ?? 0) > 0 && shown["limited_until"] != JSONValue.null)
        try await eventually("metrics.prom shows the limit") {
            (t.read("metrics.prom") ?? "").contains(#"hopper_provider_limited{provider="claude"} 1"#)
        }
        try t.drop("b.json", #"{"id": "b", "provider": "claude", "command": "more"}"#)
        try await eventually("b queued") { t.names("queued").contains("b.json") }
        _ = try await daemon.stop()
        daemon = try await DaemonProcess(t).ready()
        try await eventually("limited again after the restart") { try events(t, "provider.limited").count >= 2 }
        #expect(t.record("b") == nil, "the day's spend is counted back from done/")
        _ = try await daemon.stop()
    }
}
