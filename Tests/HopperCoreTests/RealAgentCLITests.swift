import Glibc
import Testing
@testable import HopperCore

/// The claude and codex presets run end to end against the real binaries
/// and a local stand-in for their model APIs: success, several turns in one
/// session (cost as a running total), a continued conversation, a rate limit
/// and a refused key, each read by the preset's adapter.
///
/// Runs where the binaries are found: `HOPPER_TEST_CLAUDE` / `HOPPER_TEST_CODEX`
/// naming them, or `claude` / `codex` on PATH (`pip install claude-agent-sdk
/// openai-codex-cli-bin` bundles both). Each run gets an exact environment
/// (no credentials or base URLs from the test's own) and a fresh home directory.
@Suite(.serialized) final class RealAgentCLITests {
    static let claude = binary("claude", variable: "HOPPER_TEST_CLAUDE")
    static let codex = binary("codex", variable: "HOPPER_TEST_CODEX")

    static func binary(_ name: String, variable: String) -> String? {
        if let given = getenv(variable) {
            let path = String(cString: given)
            return access(path, X_OK) == 0 ? path : nil
        }
        let search = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        return search.split(separator: ":").map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }

    let marker = "HOPPER_TEST_MARKER=" + IDSuffixGenerator.random(12)
    let home: String

    init() throws {
        var template = Array("/tmp/hopper-agent-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: .current) }
        home = String(cString: p)
    }

    deinit {
        // Transcripts and rollouts the CLIs wrote under the home directory.
        _ = try? runProcess(["/bin/rm", "-rf", home])
    }

    /// Runs `argv` with exactly `environment`, in `home`, stdin from `input`
    /// (nil: /dev/null), and feeds what it printed to `adapter` as `tasks`
    /// tasks one after another.
    private func run(_ argv: [String], environment: [String], input: String? = nil, tasks: Int = 1,
                     adapter: inout any AgentAdapter, now: Timestamp = .now()) throws -> [AgentOutcome] {
        Reaper.shared.start()
        let out = home + "/out", err = home + "/err", stdinPath = home + "/in"
        let outFD = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let errFD = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(outFD); close(errFD) }
        var request = SpawnRequest(executable: argv[0], arguments: argv,
                                   environment: environment + ["HOME=\(home)", "PATH=/usr/local/bin:/usr/bin:/bin", "TZ=UTC", marker])
        request.workingDirectory = home
        request.stdout = .fd(FileDescriptor(rawValue: outFD))
        request.stderr = .fd(FileDescriptor(rawValue: errFD))
        var inFD: Int32 = -1
        if let input {
            try Self.write(stdinPath, input)
            inFD = open(stdinPath, O_RDONLY | O_CLOEXEC)
            request.stdin = .fd(FileDescriptor(rawValue: inFD))
        }
        defer { if inFD >= 0 { close(inFD) } }
        let status = try Spawner.spawn(request).exit.wait()
        let lines = { (path: String) in
            String(decoding: (try? AtomicFile.read(path: path)) ?? [], as: UTF8.self).split(separator: "\n").map(String.init)
        }
        var outcomes: [AgentOutcome] = []
        adapter.beginTask()
        for event in lines(out).map(AgentEvent.stdout) + lines(err).map(AgentEvent.stderr) + [.exited(status)] {
            if let outcome = adapter.consume(event, now: now) {
                outcomes.append(outcome)
                if outcomes.count < tasks { adapter.beginTask() }
            }
        }
        return outcomes
    }

    private func claudeEnvironment(_ api: ModelAPIStandIn) -> [String] {
        var env = ["ANTHROPIC_BASE_URL=\(api.baseURL)", "ANTHROPIC_API_KEY=sk-hopper-test", "CLAUDE_CODE_MAX_RETRIES=1",
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"]
        // Claude refuses to skip permissions as root unless told it runs in a sandbox.
        if geteuid() == 0 { env.append("IS_SANDBOX=1") }
        return env
    }

    struct NoCommandLine: Error {}

    /// The preset's command line for a task, or an error when it has none.
    private func argv(_ settings: AgentSettings, _ prompt: String, resume: String? = nil) throws -> [String] {
        guard let argv = settings.argv(prompt: prompt, resume: resume) else { throw NoCommandLine() }
        return argv
    }

    private static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open", path, errno: .current) }
        defer { close(fd) }
        try FileDescriptor(rawValue: fd).writeAll(Array(text.utf8))
    }

    private static func userLine(_ text: String) -> String {
        JSONValue.object(JSONObject([("type", .string("user")), ("message", .object(JSONObject([
            ("role", .string("user")), ("content", .string(text))])))])).serialized() + "\n"
    }

    private func expectNoSurvivors() {
        #expect(ProcessScan.processes(withEnvironment: marker).filter { !TestSpool.isZombie($0) }.isEmpty)
    }

    @Test(.enabled(if: claude != nil)) func claudeSessionTwoTurnsChargeEachItsOwnCost() throws {
        let api = try ModelAPIStandIn(.reply("hello from the stand-in"))
        defer { api.close() }
        let settings = AgentSettings(preset: .preset(.claude), executable: Self.claude!)
        var adapter = settings.preset.makeAdapter(zones: AgentTranscript.zones)
        let outcomes = try run(try argv(settings, ""), environment: claudeEnvironment(api),
                               input: Self.userLine("say hi") + Self.userLine("say hi again"), tasks: 2, adapter: &adapter)
        try #require(outcomes.count == 2, "\(outcomes)")
        for o in outcomes {
            #expect(o.verdict == .succeeded, "\(o.message)")
            #expect(o.resultText == "hello from the stand-in")
            #expect(o.agentSession != nil && o.agentSession == outcomes[0].agentSession)
        }
        let first = try #require(outcomes[0].costUSD), second = try #require(outcomes[1].costUSD)
        #expect(first > 0 && abs(first - second) < 1e-12, "the second turn's cost is its own, not the running total")
        expectNoSurvivors()
    }

    @Test(.enabled(if: claude != nil)) func claudePerTaskAndContinued() throws {
        let api = try ModelAPIStandIn(.reply("hello from the stand-in"))
        defer { api.close() }
        let settings = AgentSettings(preset: .preset(.claude), executable: Self.claude!, mode: .exec)
        var adapter = settings.preset.makeAdapter(zones: AgentTranscript.zones)
        let first = try #require(try run(try argv(settings, "one"), environment: claudeEnvironment(api), adapter: &adapter).first)
        #expect(first.verdict == .succeeded, "\(first.message)")
        let session = try #require(first.agentSession)
        var next = settings.preset.makeAdapter(zones: AgentTranscript.zones, continuing: first.result)
        let second = try #require(try run(try argv(settings, "two", resume: session), environment: claudeEnvironment(api), adapter: &next).first)
        #expect(second.verdict == .succeeded, "\(second.message)")
        #expect(second.agentSession == session)
        #expect(abs(try #require(second.costUSD) - (try #require(first.costUSD))) < 1e-12)
    }

    @Test(.enabled(if: claude != nil)) func claudeRateLimitAndRefusedKey() throws {
        let settings = AgentSettings(preset: .preset(.claude), executable: Self.claude!, mode: .exec)
        let limited = try ModelAPIStandIn(.rateLimited(resetsAt: 0))
        var adapter = settings.preset.makeAdapter(zones: AgentTranscript.zones)
        let l = try #require(try run(try argv(settings, "one"), environment: claudeEnvironment(limited), adapter: &adapter).first)
        limited.close()
        #expect(l.verdict == .rateLimited(until: nil), "\(l.message)")
        let refused = try ModelAPIStandIn(.unauthorized)
        defer { refused.close() }
        adapter = settings.preset.makeAdapter(zones: AgentTranscript.zones)
        let r = try #require(try run(try argv(settings, "one"), environment: claudeEnvironment(refused), adapter: &adapter).first)
        #expect(r.verdict == .authenticationFailed, "\(r.message)")
    }

    private func codexEnvironment(_ api: ModelAPIStandIn) throws -> [String] {
        let config = """
        model = "gpt-5"
        model_provider = "standin"
        [model_providers.standin]
        name = "Stand-in"
        base_url = "\(api.baseURL)/v1"
        env_key = "STANDIN_API_KEY"
        wire_api = "responses"
        supports_websockets = false
        """
        try Self.write(home + "/config.toml", config)
        return ["CODEX_HOME=\(home)", "STANDIN_API_KEY=sk-hopper-test"]
    }

    @Test(.enabled(if: codex != nil)) func codexTaskAndContinuedThread() throws {
        let api = try ModelAPIStandIn(.reply("hello from the stand-in"))
        defer { api.close() }
        let settings = AgentSettings(preset: .preset(.codex), executable: Self.codex!)
        let env = try codexEnvironment(api)
        var adapter = settings.preset.makeAdapter(zones: AgentTranscript.zones)
        let first = try #require(try run(try argv(settings, "say hi"), environment: env, adapter: &adapter).first)
        #expect(first.verdict == .succeeded, "\(first.message)")
        #expect(first.resultText == "hello from the stand-in")
        let thread = try #require(first.agentSession)
        var next = settings.preset.makeAdapter(zones: AgentTranscript.zones, continuing: first.result)
        let second = try #require(try run(try argv(settings, "again", resume: thread), environment: env, adapter: &next).first)
        #expect(second.verdict == .succeeded, "\(second.message)")
        #expect(second.agentSession == thread)
        #expect(second.usage == first.usage, "the thread's total less the first task's")
        expectNoSurvivors()
    }

    @Test(.enabled(if: codex != nil)) func codexUsageLimitGivesTheResetMinute() throws {
        let now = Timestamp.now()
        let resetsAt = Int(now.seconds) + 3600
        let api = try ModelAPIStandIn(.rateLimited(resetsAt: resetsAt))
        defer { api.close() }
        let settings = AgentSettings(preset: .preset(.codex), executable: Self.codex!)
        var adapter = settings.preset.makeAdapter(zones: AgentTranscript.zones)
        let o = try #require(try run(try argv(settings, "say hi"), environment: try codexEnvironment(api), adapter: &adapter, now: now).first)
        guard case .rateLimited(let until?) = o.verdict else {
            Issue.record("\(o.verdict): \(o.message)")
            return
        }
        // Codex prints the local time to the minute ("try again at 4:35 PM").
        #expect(until.seconds <= Double(resetsAt) && until.seconds > Double(resetsAt - 60), "\(o.message)")
    }

    // MARK: through the daemon

    /// `env` pairs as the JSON object a provider's `env` takes.
    private static func envObject(_ pairs: [String]) -> String {
        JSONValue.object(JSONObject(pairs.map { p in
            let eq = p.firstIndex(of: "=")!
            return (String(p[..<eq]), JSONValue.string(String(p[p.index(after: eq)...])))
        })).serialized()
    }

    /// The claude preset as a session provider, run by the daemon: two tasks
    /// in one live session, each charged its own cost.
    @Test(.enabled(if: claude != nil)) func claudeThroughTheDaemon() async throws {
        let api = try ModelAPIStandIn(.reply("hello from the stand-in"))
        defer { api.close() }
        let env = Self.envObject(claudeEnvironment(api) + ["HOME=\(home)", "TZ=UTC"])
        let t = try TestSpool(config: TestSpool.configuration(
            #""providers": {"claude": {"agent": "claude", "executable": "\#(Self.claude!)", "env": \#(env), "cwd": "\#(home)"}}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("a.json", #"{"id": "a", "provider": "claude", "command": "say hi"}"#)
        let a = try await eventuallyValue("a", timeout: 60) { t.record("a") }
        try t.drop("b.json", #"{"id": "b", "provider": "claude", "command": "say hi again"}"#)
        let b = try await eventuallyValue("b", timeout: 60) { t.record("b") }
        for r in [a, b] {
            #expect(r["state"] == .string("succeeded"), "\(r)")
            #expect(r["result_text"] == .string("hello from the stand-in"))
        }
        #expect(a["session"] == b["session"] && a["agent_session"] == b["agent_session"], "one live session, one conversation")
        let first = try #require(a["cost_usd"]?.doubleValue), second = try #require(b["cost_usd"]?.doubleValue)
        #expect(first > 0 && abs(first - second) < 1e-12, "each task its own cost, not the running total")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    /// The codex preset run by the daemon: a task and its `continue` on the
    /// same thread.
    @Test(.enabled(if: codex != nil)) func codexThroughTheDaemon() async throws {
        let api = try ModelAPIStandIn(.reply("hello from the stand-in"))
        defer { api.close() }
        let env = Self.envObject(try codexEnvironment(api) + ["HOME=\(home)", "OPENAI_API_KEY=sk-hopper-test", "TZ=UTC"])
        let t = try TestSpool(config: TestSpool.configuration(
            #""providers": {"codex": {"agent": "codex", "executable": "\#(Self.codex!)", "env": \#(env), "cwd": "\#(home)"}}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("a.json", #"{"id": "a", "provider": "codex", "command": "say hi"}"#)
        try t.drop("b.json", #"{"id": "b", "provider": "codex", "command": "again", "continue": "a"}"#)
        let a = try await eventuallyValue("a", timeout: 60) { t.record("a") }
        let b = try await eventuallyValue("b", timeout: 60) { t.record("b") }
        #expect(a["state"] == .string("succeeded") && b["state"] == .string("succeeded"), "\(a)\n\(b)")
        #expect(a["agent_session"] != .null && a["agent_session"] == b["agent_session"], "the same thread")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }
}
