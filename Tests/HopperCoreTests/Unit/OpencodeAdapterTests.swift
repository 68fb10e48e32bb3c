import Testing
@testable import HopperCore

/// opencode's `run --format json` lines in the shape its run.ts emits
/// (`{type, timestamp, sessionID, ...data}`), and the failures its issue
/// threads report (agent-clis.md section 6).
@Suite struct OpencodeAdapterTests {
    private func outcome(_ stdout: [String], stderr: [String] = [], exit: ProcessExit? = .exited(0)) -> AgentOutcome? {
        var adapter = OpencodeAdapter(zones: AgentTranscript.zones)
        return AgentTranscript(stdout: stdout, stderr: stderr, exit: exit).outcome(&adapter)
    }

    static func line(_ type: String, _ data: String) -> String {
        #"{"type":"\#(type)","timestamp":1764759600000,"sessionID":"ses_4f2a9c1e7ffe","\#(data)}"#
    }

    static let toolStep = [
        line("step_start", #"part":{"type":"step-start"}"#),
        line("tool_use", #"part":{"type":"tool","tool":"bash","state":{"status":"completed"}}"#),
        line("step_finish", #"part":{"type":"step-finish","reason":"tool-calls","tokens":{"input":1200,"output":40,"reasoning":0,"cache":{"read":0,"write":0}},"cost":0.002}"#),
    ]
    static let answerStep = [
        line("step_start", #"part":{"type":"step-start"}"#),
        line("text", #"part":{"type":"text","text":"All tests pass."}"#),
        line("step_finish", #"part":{"type":"step-finish","reason":"stop","tokens":{"input":1300,"output":12,"reasoning":0,"cache":{"read":1000,"write":0}},"cost":0.001}"#),
    ]

    @Test func aFinalStepSucceedsWithSummedCostAndUsage() throws {
        let o = try #require(outcome(Self.toolStep + Self.answerStep))
        #expect(o.verdict == .succeeded)
        #expect(o.resultText == "All tests pass.")
        #expect(o.agentSession == "ses_4f2a9c1e7ffe")
        #expect(abs(try #require(o.costUSD) - 0.003) < 1e-12)
        #expect(o.usage == AgentUsage(inputTokens: 2500, outputTokens: 52))
    }

    @Test func theExitCodeIsNotTrusted() {
        // v2 exits 1 after a retried, recovered error (#50062).
        #expect(outcome(Self.toolStep + Self.answerStep, exit: .exited(1))?.verdict == .succeeded)
        // It exits 0 on a missing session (#27559), with NotFoundError on stderr only.
        let missing = outcome([], stderr: ["NotFoundError: Session not found: ses_missing"])
        #expect(missing?.verdict == .failed)
        #expect(missing?.message == "opencode exited with status 0 without finishing a step: NotFoundError: Session not found: ses_missing")
    }

    @Test func aRunThatStopsAfterToolCallsFails() {
        let o = outcome(Self.toolStep)
        #expect(o?.verdict == .failed)
    }

    @Test func aQuotaErrorDecidesAtOnceBecauseOpencodeHangs() {
        // #40747 / #42268: the process never exits after this.
        let o = outcome(Self.toolStep + [Self.line("error", #"error":{"name":"APIError","data":{"message":"Monthly usage limit reached. Please retry in 3600s."}}"#)], exit: nil)
        #expect(o?.verdict == .rateLimited(until: AgentTranscript.now.adding(seconds: 3600)))
        #expect(o?.costUSD == 0.002)
    }

    @Test func otherErrorsWaitForTheExitAndFail() {
        var adapter = OpencodeAdapter(zones: AgentTranscript.zones)
        adapter.beginTask()
        let error = Self.line("error", #"error":{"name":"UnknownError","data":{"message":"Session error: model not found"}}"#)
        #expect(adapter.consume(.stdout(error), now: AgentTranscript.now) == nil)
        let o = adapter.consume(.exited(.exited(0)), now: AgentTranscript.now)
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Session error: model not found")
    }

    @Test func anAuthenticationErrorDecidesAtOnce() {
        let o = outcome([Self.line("error", #"error":{"name":"ProviderAuthError","data":{"message":"401 Unauthorized: invalid x-api-key"}}"#)], exit: nil)
        #expect(o?.verdict == .authenticationFailed)
    }
}
