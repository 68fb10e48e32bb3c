import Testing
@testable import HopperCore

/// The fake agent CLIs in examples/providers, run with each preset's own
/// command line and read by each preset's adapter: the fakes speak the
/// shapes the adapters expect, successes and failures alike.
@Suite struct AgentFakeTests {
    static let providers = SessionTests.path(before: "Tests") + "/examples/providers"
    let marker = "HOPPER_TEST_MARKER=" + IDSuffixGenerator.random(12)

    /// Runs one task of `preset` with `fake` as its executable and returns the adapter's outcome.
    private func run(_ name: AgentPreset.Name, _ fake: String, prompt: String, mode: Provider.Mode? = nil) throws -> AgentOutcome? {
        let settings = AgentSettings(preset: .preset(name), executable: Self.providers + "/" + fake, mode: mode)
        var argv = try #require(settings.argv(prompt: prompt, newSession: "0f8fad5b-d9cb-469f-a165-70867728950e"))
        if settings.mode == .session {
            // The prompt as the stream-JSON line Hopper writes, then end of input.
            let line = JSONValue.object(JSONObject([("type", .string("user")), ("message", .object(JSONObject([
                ("role", .string("user")), ("content", .string(prompt))])))])).serialized()
            argv = ["/bin/sh", "-c", "printf '%s\\n' \"$0\" | \"$@\"", line] + argv
        }
        let output = try runProcess(argv, environment: [marker])
        var adapter = settings.preset.makeAdapter(zones: AgentTranscript.zones, session: "0f8fad5b-d9cb-469f-a165-70867728950e")
        let lines = { (text: String) in text.split(separator: "\n").map(String.init) }
        let transcript = AgentTranscript(stdout: lines(output.stdout), stderr: lines(output.stderr), exit: output.status)
        return transcript.outcome(&adapter, now: Timestamp.now())
    }

    private func expectNoSurvivors() {
        #expect(ProcessScan.processes(withEnvironment: marker).filter { !TestSpool.isZombie($0) }.isEmpty)
    }

    @Test(arguments: [
        (AgentPreset.Name.claude, "fake-stream-agent"), (.amp, "fake-stream-agent"),
        (.codex, "fake-event-agent"), (.gemini, "fake-event-agent"), (.cursor, "fake-event-agent"), (.opencode, "fake-event-agent"),
        (.aider, "fake-text-agent"), (.copilot, "fake-text-agent"),
    ])
    func eachPresetSucceedsWithItsFake(name: AgentPreset.Name, fake: String) throws {
        let o = try #require(try run(name, fake, prompt: "say \"hi\""))
        #expect(o.verdict == .succeeded, "\(name): \(o.message)")
        #expect(o.resultText == "fake: say \"hi\"", "\(name)")
        if name != .aider { #expect(o.agentSession != nil, "\(name)") }
        expectNoSurvivors()
    }

    @Test(arguments: [
        (AgentPreset.Name.claude, "fake-stream-agent", "[rate-limit]"), (.claude, "fake-stream-agent", "[api-429]"),
        (.codex, "fake-event-agent", "[usage-limit]"), (.gemini, "fake-event-agent", "[usage-limit]"),
        (.cursor, "fake-event-agent", "[usage-limit]"), (.aider, "fake-text-agent", "[rate-limit]"),
        (.copilot, "fake-text-agent", "[rate-limit]"),
    ])
    func rateLimitsAreLimits(name: AgentPreset.Name, fake: String, tag: String) throws {
        let o = try #require(try run(name, fake, prompt: "work " + tag))
        guard case .rateLimited = o.verdict else {
            Issue.record("\(name) \(tag): \(o.verdict) \(o.message)")
            return
        }
        expectNoSurvivors()
    }

    @Test(arguments: [
        (AgentPreset.Name.claude, "fake-stream-agent", "[not-logged-in]"), (.codex, "fake-event-agent", "[auth]"),
        (.gemini, "fake-event-agent", "[auth]"), (.cursor, "fake-event-agent", "[auth]"),
        (.aider, "fake-text-agent", "[auth]"), (.copilot, "fake-text-agent", "[auth]"),
    ])
    func authenticationFailuresAreNotTaskFailures(name: AgentPreset.Name, fake: String, tag: String) throws {
        let o = try #require(try run(name, fake, prompt: "work " + tag))
        #expect(o.verdict == .authenticationFailed, "\(name): \(o.message)")
    }

    @Test(arguments: [
        (AgentPreset.Name.claude, "fake-stream-agent", "[denied]"), (.claude, "fake-stream-agent", "[max-turns]"),
        (.claude, "fake-stream-agent", "[empty]"), (.claude, "fake-stream-agent", "[crash]"),
        (.codex, "fake-event-agent", "[fail]"), (.codex, "fake-event-agent", "[no-final]"),
        (.gemini, "fake-event-agent", "[fail]"), (.gemini, "fake-event-agent", "[no-final]"),
        (.cursor, "fake-event-agent", "[fail]"), (.cursor, "fake-event-agent", "[no-final]"),
        (.opencode, "fake-event-agent", "[fail]"), (.opencode, "fake-event-agent", "[no-final]"),
        (.aider, "fake-text-agent", "[no-reply]"), (.copilot, "fake-text-agent", "[no-reply]"),
    ])
    func falseSuccessesFail(name: AgentPreset.Name, fake: String, tag: String) throws {
        let o = try #require(try run(name, fake, prompt: "work " + tag))
        #expect(o.verdict == .failed, "\(name) \(tag): \(o.message)")
        #expect(!o.message.isEmpty)
    }

    @Test func aBackgroundTurnIsNotTakenForTheTask() throws {
        let o = try #require(try run(.claude, "fake-stream-agent", prompt: "work [background]"))
        #expect(o.verdict == .succeeded)
        #expect(o.resultText == "fake: work [background]")
        #expect(o.costUSD == 0.000168, "the background turn's cost is not charged to the task")
    }

    @Test func claudeWithoutVerboseFailsLikeTheRealCLI() throws {
        let output = try runProcess([Self.providers + "/fake-stream-agent", "-p", "--output-format", "stream-json"], environment: [marker])
        var adapter = ClaudeAdapter(zones: AgentTranscript.zones)
        let o = AgentTranscript(stderr: output.stderr.split(separator: "\n").map(String.init), exit: output.status).outcome(&adapter)
        #expect(o?.verdict == .failed)
        #expect(o?.message.hasSuffix("requires --verbose") == true)
    }

    @Test func claudeRunsPerTaskToo() throws {
        let o = try #require(try run(.claude, "fake-stream-agent", prompt: "one shot", mode: .exec))
        // The exec form passes the prompt in argv (`-- PROMPT`), as Claude Code's print mode takes it.
        #expect(o.verdict == .succeeded, "\(o.message)")
        #expect(o.resultText == "fake: one shot")
    }
}
