import Testing
@testable import HopperCore

/// Gemini CLI's stream-json events, on the lines of its own test snapshots
/// and the messages its source prints (agent-clis.md section 3).
@Suite struct GeminiAdapterTests {
    private func outcome(_ stdout: [String], stderr: [String] = [], exit: ProcessExit = .exited(0)) -> AgentOutcome? {
        var adapter = GeminiAdapter(zones: AgentTranscript.zones)
        return AgentTranscript(stdout: stdout, stderr: stderr, exit: exit).outcome(&adapter)
    }

    // packages/cli/src/__snapshots__/nonInteractiveCli.test.ts.snap, placeholders filled in.
    static let snapshot = [
        #"{"type":"init","timestamp":"2026-12-03T11:00:00.000Z","session_id":"test-session-id","model":"test-model"}"#,
        #"{"type":"message","timestamp":"2026-12-03T11:00:00.000Z","role":"user","content":"Stream test"}"#,
        #"{"type":"message","timestamp":"2026-12-03T11:00:00.000Z","role":"assistant","content":"Thinking...","delta":true}"#,
        #"{"type":"tool_use","timestamp":"2026-12-03T11:00:00.000Z","tool_name":"testTool","tool_id":"tool-1","parameters":{"arg1":"value1"}}"#,
        #"{"type":"tool_result","timestamp":"2026-12-03T11:00:00.000Z","tool_id":"tool-1","status":"success","output":"Tool executed successfully"}"#,
        #"{"type":"message","timestamp":"2026-12-03T11:00:00.000Z","role":"assistant","content":"Final answer","delta":true}"#,
        #"{"type":"result","timestamp":"2026-12-03T11:00:00.000Z","status":"success","stats":{"total_tokens":0,"input_tokens":0,"output_tokens":0,"cached":0,"input":0,"duration_ms":12,"tool_calls":0,"models":{}}}"#,
    ]

    @Test func theSnapshotRunSucceeds() throws {
        let o = try #require(outcome(Self.snapshot))
        #expect(o.verdict == .succeeded)
        #expect(o.resultText == "Final answer", "the answer is what follows the last tool call")
        #expect(o.agentSession == "test-session-id")
        #expect(o.usage == AgentUsage(inputTokens: 0, outputTokens: 0))
    }

    @Test func deltasBuildOneAnswer() {
        let o = outcome([
            #"{"type":"message","role":"assistant","content":"Hello, ","delta":true}"#,
            #"{"type":"message","role":"assistant","content":"world.","delta":true}"#,
            #"{"type":"result","status":"success","stats":{"input_tokens":7,"output_tokens":3}}"#,
        ])
        #expect(o?.resultText == "Hello, world.")
        #expect(o?.usage == AgentUsage(inputTokens: 7, outputTokens: 3))
    }

    @Test func anErrorFollowedBySuccessIsAFailure() {
        // The same snapshot file: the turn limit, then status "success".
        let o = outcome([
            #"{"type":"error","timestamp":"2026-12-03T11:00:00.000Z","severity":"error","message":"Maximum session turns exceeded"}"#,
            #"{"type":"result","timestamp":"2026-12-03T11:00:00.000Z","status":"success","stats":{"total_tokens":0,"input_tokens":0,"output_tokens":0,"cached":0,"input":0,"duration_ms":12,"tool_calls":0,"models":{}}}"#,
        ])
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Maximum session turns exceeded")
    }

    @Test func aWarningIsNoFailure() {
        let o = outcome([
            #"{"type":"error","severity":"warning","message":"Loop detected, stopping"}"#,
            #"{"type":"message","role":"assistant","content":"ok"}"#,
            #"{"type":"result","status":"success"}"#,
        ])
        #expect(o?.verdict == .succeeded)
    }

    @Test func successWithoutAnAnswerFails() {
        #expect(outcome([#"{"type":"result","status":"success"}"#])?.verdict == .failed)
    }

    @Test func quotaErrorsAreLimits() {
        let daily = outcome([#"{"type":"result","status":"error","error":{"type":"unknown","message":"[API Error: You have exhausted your daily quota on this model.]"}}"#], exit: .exited(173))
        #expect(daily?.verdict == .rateLimited(until: nil))
        let retry = outcome([#"{"type":"result","status":"error","error":{"type":"unknown","message":"[API Error: Resource has been exhausted (e.g. check quota). Please retry in 37s.]"}}"#], exit: .exited(173))
        #expect(retry?.verdict == .rateLimited(until: AgentTranscript.now.adding(seconds: 37)))
        // The relative reset may be only in the retry noise on stderr.
        let capacity = outcome([#"{"type":"result","status":"error","error":{"type":"unknown","message":"[API Error: No capacity available for model (MODEL_CAPACITY_EXHAUSTED)]"}}"#],
                               stderr: ["Quota exceeded for quota metric. Suggested retry after 60s."], exit: .exited(173))
        #expect(capacity?.verdict == .rateLimited(until: AgentTranscript.now.adding(seconds: 60)))
    }

    @Test func retriedRateLimitsOnStderrDoNotSpoilASuccess() {
        // google-gemini/gemini-cli#25017: headless mode prints each retry on stderr.
        let o = outcome(Self.snapshot, stderr: [#"Attempt 1 failed with status 429. Retrying with backoff... _GaxiosError: [{ "error": { "code": 429, "message": "No capacity available for model", "status": "RESOURCE_EXHAUSTED" } }]"#])
        #expect(o?.verdict == .succeeded)
    }

    @Test func noAuthMethodIsAnAuthenticationFailure() {
        let o = outcome([], stderr: ["Please set an Auth method in your /root/.gemini/settings.json or specify one of the following environment variables before running: GEMINI_API_KEY, GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_GCA"], exit: .exited(41))
        #expect(o?.verdict == .authenticationFailed)
        #expect(o?.message.hasPrefix("Gemini CLI could not authenticate: Please set an Auth method") == true)
    }

    @Test func anInvalidKeyIsAnAuthenticationFailure() {
        let o = outcome([#"{"type":"result","status":"error","error":{"type":"unknown","message":"[API Error: API key not valid. Please pass a valid API key.]"}}"#], exit: .exited(144))
        #expect(o?.verdict == .authenticationFailed)
    }

    @Test func exitCodesWithoutAResultSpeak() {
        let untrusted = outcome([], stderr: ["Gemini CLI is not running in a trusted directory. To proceed, either use `--skip-trust`, set the `GEMINI_CLI_TRUST_WORKSPACE=true` environment variable, or trust this directory in interactive mode."], exit: .exited(55))
        #expect(untrusted?.verdict == .failed)
        #expect(untrusted?.message.hasPrefix("Gemini CLI does not trust this folder: Gemini CLI is not running in a trusted directory.") == true)
        let turns = outcome([], exit: .exited(53))
        #expect(turns?.message == "Gemini CLI reached its turn limit")
        let killed = outcome([#"{"type":"init","session_id":"s"}"#], exit: .signaled(.term))
        #expect(killed?.verdict == .failed)
        #expect(killed?.message == "Gemini CLI was killed by signal 15 without a result")
    }
}
