import Testing
@testable import HopperCore

/// Codex's `exec --json` events: real output of the binary (Fixtures/agents)
/// and the lines agent-clis.md quotes.
@Suite struct CodexAdapterTests {
    private func outcome(_ stdout: [String], stderr: [String] = ["Reading additional input from stdin..."],
                         exit: ProcessExit = .exited(0), now: Timestamp = AgentTranscript.now) -> AgentOutcome? {
        var adapter = CodexAdapter(zones: AgentTranscript.zones)
        return AgentTranscript(stdout: stdout, stderr: stderr, exit: exit).outcome(&adapter, now: now)
    }

    @Test func aCompletedTurnSucceedsDespiteAnErrorItem() throws {
        let o = try #require(outcome(try ClaudeAdapterTests.lines("codex-success.jsonl")))
        #expect(o.verdict == .succeeded)
        #expect(o.resultText == "hello from the mock")
        #expect(o.agentSession == "01a23bbf-9761-7d41-8e13-3771840b3250")
        #expect(o.usage == AgentUsage(inputTokens: 20, outputTokens: 5))
        #expect(o.costUSD == nil, "Codex reports no cost")
    }

    @Test func aResumedTurnKeepsTheThreadAndCountsOnlyItsOwnUsage() throws {
        let first = try #require(outcome(try ClaudeAdapterTests.lines("codex-success.jsonl")))
        var adapter = AgentPreset.preset(.codex).makeAdapter(zones: AgentTranscript.zones, continuing: first.result)
        let o = try #require(AgentTranscript(stdout: try ClaudeAdapterTests.lines("codex-resume.jsonl")).outcome(&adapter))
        #expect(o.verdict == .succeeded)
        #expect(o.agentSession == "01a23bbf-9761-7d41-8e13-3771840b3250")
        // Codex reports 40/10 for the thread; 20/5 of it were the first task's.
        #expect(o.usage == AgentUsage(inputTokens: 20, outputTokens: 5))
        let alone = outcome(try ClaudeAdapterTests.lines("codex-resume.jsonl"))
        #expect(alone?.usage == AgentUsage(inputTokens: 40, outputTokens: 10), "without the earlier record, the thread's figure")
    }

    @Test func theUsageLimitIsALimitUntilTheLocalTimeGiven() throws {
        let o = try #require(outcome(try ClaudeAdapterTests.lines("codex-usage.jsonl"), exit: .exited(1),
                                     now: instant("2026-12-03T11:52:30Z")))
        #expect(o.verdict == .rateLimited(until: instant("2026-12-03T12:52:00Z")))
        #expect(o.message.hasPrefix("You’ve hit your usage limit."))
    }

    @Test func unauthorizedIsAnAuthenticationFailure() throws {
        let o = try #require(outcome(try ClaudeAdapterTests.lines("codex-401.jsonl"), exit: .exited(1)))
        #expect(o.verdict == .authenticationFailed)
        #expect(o.message == "unexpected status 401 Unauthorized: Incorrect API key provided, url: http://127.0.0.1:18441/v1/responses")
    }

    @Test func docsSample() {
        // openai/codex docs/exec.md.
        let o = outcome([
            #"{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}"#,
            #"{"type":"turn.started"}"#,
            #"{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"Yep — there’s a `README.md` in the repository root."}}"#,
            #"{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}"#,
        ])
        #expect(o?.verdict == .succeeded)
        #expect(o?.resultText == "Yep — there’s a `README.md` in the repository root.")
        #expect(o?.usage == AgentUsage(inputTokens: 24763, outputTokens: 122))
    }

    @Test func teamPlanUsageLimit() {
        // link-assistant/hive-mind#719.
        let o = outcome([
            #"{"type":"error","message":"You've hit your usage limit. To get more access now, send a request to your admin or try again at 12:16 PM."}"#,
            #"{"type":"turn.failed","error":{"message":"You've hit your usage limit. To get more access now, send a request to your admin or try again at 12:16 PM."}}"#,
        ], exit: .exited(1))
        #expect(o?.verdict == .rateLimited(until: instant("2026-12-03T12:16:00Z")))
    }

    @Test func quotaExceededIsALimitWithoutReset() {
        let o = outcome([#"{"type":"turn.failed","error":{"message":"Quota exceeded. Check your plan and billing details."}}"#], exit: .exited(1))
        #expect(o?.verdict == .rateLimited(until: nil))
    }

    @Test func theRefreshTokenRaceIsAnAuthenticationFailure() {
        let o = outcome([#"{"type":"turn.failed","error":{"message":"Your access token could not be refreshed because your refresh token was already used. Please log out and sign in again."}}"#], exit: .exited(1))
        #expect(o?.verdict == .authenticationFailed)
    }

    @Test func aBudgetStopWithoutTerminalEventFails() {
        // openai/codex#37676: an untyped error, no turn.failed.
        let o = outcome([#"{"type":"thread.started","thread_id":"t"}"#, #"{"type":"error","message":"shared rollout token budget exhausted"}"#], exit: .exited(1))
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Codex exited with status 1 without finishing its turn: shared rollout token budget exhausted")
    }

    @Test func noTerminalEventIsNoSuccessEvenWithExitZero() {
        // An interrupted turn emits nothing and the process just stops.
        let o = outcome([#"{"type":"thread.started","thread_id":"t"}"#, #"{"type":"turn.started"}"#,
                         #"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"half"}}"#])
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Codex exited with status 0 without finishing its turn: Reading additional input from stdin...")
    }

    @Test func aRetriedRateLimitThatRecoveredSucceeds() {
        let o = outcome([
            #"{"type":"turn.started"}"#,
            #"{"type":"error","message":"Reconnecting... 1/5 (exceeded retry limit, last status: 429 Too Many Requests)"}"#,
            #"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"ok"}}"#,
            #"{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}"#,
        ])
        #expect(o?.verdict == .succeeded)
    }

    @Test func aHangKilledByTheIdleTimeoutNamesTheLastError() {
        let o = outcome([#"{"type":"turn.started"}"#, #"{"type":"error","message":"Reconnecting... waiting for network"}"#], exit: .signaled(.kill))
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Codex was killed by signal 9 without finishing its turn: Reconnecting... waiting for network")
    }

    @Test func notInATrustedDirectory() {
        let o = outcome([], stderr: ["Not inside a trusted directory and --skip-git-repo-check was not specified."], exit: .exited(1))
        #expect(o?.verdict == .failed)
        #expect(o?.message.hasSuffix("Not inside a trusted directory and --skip-git-repo-check was not specified.") == true)
    }
}
