import Testing
@testable import HopperCore

/// Claude Code's stream JSON: real output of the binary (Fixtures/agents)
/// and the lines agent-clis.md quotes, including every false-success shape.
@Suite struct ClaudeAdapterTests {
    static let fixtures = SessionTests.fixtures + "/agents"

    /// The lines of a captured transcript.
    static func lines(_ name: String) throws -> [String] {
        let bytes = try AtomicFile.read(path: fixtures + "/" + name)
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    private func outcome(_ stdout: [String], stderr: [String] = [], exit: ProcessExit? = nil) -> AgentOutcome? {
        var adapter = ClaudeAdapter(zones: AgentTranscript.zones)
        return AgentTranscript(stdout: stdout, stderr: stderr, exit: exit).outcome(&adapter)
    }

    // MARK: real binary

    @Test func twoTurnsInOneProcessChargeEachItsOwnCost() throws {
        let lines = try Self.lines("claude-two-turns.jsonl")
        let secondInit = try #require(lines.indices.dropFirst().first { lines[$0].contains(#""subtype":"init""#) })
        var adapter = ClaudeAdapter(zones: AgentTranscript.zones)
        let first = try #require(AgentTranscript(stdout: Array(lines[..<secondInit]), exit: nil).outcome(&adapter))
        let second = try #require(AgentTranscript(stdout: Array(lines[secondInit...]), exit: .exited(0)).outcome(&adapter))
        for o in [first, second] {
            #expect(o.verdict == .succeeded)
            #expect(o.resultText == "hello from the stand-in")
            #expect(o.agentSession == "2b2d8590-e482-4189-b0ad-e1145f961a20")
            #expect(o.usage == AgentUsage(inputTokens: 12, outputTokens: 6))
        }
        #expect(abs(try #require(first.costUSD) - 0.000168) < 1e-12)
        // The second result says 0.000336: the running total, not this turn's cost.
        #expect(abs(try #require(second.costUSD) - 0.000168) < 1e-12)
        #expect(adapter.runningTotal.map { abs($0 - 0.000336) < 1e-12 } == true)
    }

    @Test func aResumedConversationCarriesItsTotalIntoTheNextProcess() throws {
        let first = try #require(outcome(try Self.lines("claude-exec.jsonl"), exit: .exited(0)))
        #expect(first.verdict == .succeeded)
        #expect(abs(try #require(first.costUSD) - 0.000168) < 1e-12)
        // The next task runs `claude … --resume <id>` in a new process; its adapter starts from the record's result.
        var adapter = AgentPreset.preset(.claude).makeAdapter(zones: AgentTranscript.zones, continuing: first.result)
        let second = try #require(AgentTranscript(stdout: try Self.lines("claude-exec-resume.jsonl")).outcome(&adapter))
        #expect(second.verdict == .succeeded)
        #expect(second.agentSession == first.agentSession)
        #expect(abs(try #require(second.costUSD) - 0.000168) < 1e-12, "0.000336 is the conversation's total")
    }

    @Test func resumingAConversationThatIsNotThereFails() throws {
        let o = try #require(outcome(try Self.lines("claude-resume-missing.jsonl"), exit: .exited(1)))
        #expect(o.verdict == .failed)
        #expect(o.message == "Claude Code failed during execution: No conversation found with session ID: 00000000-0000-4000-8000-000000000000")
    }

    @Test func aRateLimitedAPIIsALimitNotAFailure() throws {
        // api_retry 429, a synthetic assistant line, then subtype "success" with is_error true.
        let o = try #require(outcome(try Self.lines("claude-429.jsonl"), exit: .exited(1)))
        #expect(o.verdict == .rateLimited(until: nil))
        #expect(o.message == "API Error: Request rejected (429) · Number of request tokens has exceeded your per-minute rate limit")
        #expect(o.costUSD == 0)
    }

    @Test func aRefusedKeyIsAnAuthenticationFailure() throws {
        let o = try #require(outcome(try Self.lines("claude-401.jsonl"), exit: .exited(1)))
        #expect(o.verdict == .authenticationFailed)
        #expect(o.message == "Invalid API key · Fix external API key")
    }

    @Test func notLoggedInIsAnAuthenticationFailure() throws {
        let o = try #require(outcome(try Self.lines("claude-not-logged-in.jsonl"), exit: .exited(1)))
        #expect(o.verdict == .authenticationFailed)
        #expect(o.message == "Not logged in · Please run /login")
        #expect(o.agentSession == "9ac82099-1104-40d0-b08f-8609d01abcbc")
    }

    @Test func anUnreachableAPIIsAFailureNotALimit() throws {
        let o = try #require(outcome(try Self.lines("claude-unreachable.jsonl"), exit: .exited(1)))
        #expect(o.verdict == .failed)
        #expect(o.message == "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)")
    }

    @Test func exitingBeforeAResultFailsWithTheCLIsWords() {
        let verbose = outcome([], stderr: ["Error: When using --print, --output-format=stream-json requires --verbose"], exit: .exited(1))
        #expect(verbose?.verdict == .failed)
        #expect(verbose?.message == "Claude Code exited with status 1 before a result: Error: When using --print, --output-format=stream-json requires --verbose")
        let root = outcome([], stderr: ["--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons"], exit: .exited(1))
        #expect(root?.verdict == .failed)
        #expect(root?.message.hasSuffix("cannot be used with root/sudo privileges for security reasons") == true)
        let killed = outcome([#"{"type":"system","subtype":"init","session_id":"s1"}"#], exit: .signaled(.kill))
        #expect(killed?.verdict == .failed)
        #expect(killed?.message == "Claude Code was killed by signal 9 before a result")
        #expect(killed?.agentSession == "s1")
    }

    // MARK: lines quoted in agent-clis.md

    @Test func emptyResultTakesTheAssistantsText() throws {
        // anthropics/claude-code#38673: a success whose result is empty.
        let o = try #require(outcome([
            #"{"type":"system","subtype":"init","cwd":"/home/user/myproject","session_id":"REDACTED","tools":["Bash","Edit","Glob","Grep","Read","Write"],"mcp_servers":[],"model":"claude-opus-4-6[1m]","permissionMode":"default","apiKeySource":"none","claude_code_version":"2.1.83","fast_mode_state":"off"}"#,
            #"{"type":"assistant","message":{"model":"claude-opus-4-6","id":"REDACTED","type":"message","role":"assistant","content":[{"type":"text","text":"\n\nHello."}],"stop_reason":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":2783,"cache_read_input_tokens":14707,"output_tokens":2,"service_tier":"standard"}}}"#,
            #"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed","resetsAt":1774447200,"rateLimitType":"five_hour","overageStatus":"rejected","overageDisabledReason":"org_level_disabled","isUsingOverage":false}}"#,
            #"{"type":"result","subtype":"success","is_error":false,"duration_ms":4086,"num_turns":1,"result":"","stop_reason":"end_turn","total_cost_usd":0.024,"usage":{"input_tokens":3,"output_tokens":6}}"#,
        ]))
        #expect(o.verdict == .succeeded, "an allowed rate_limit_event is no limit")
        #expect(o.resultText == "\n\nHello.")
        #expect(o.agentSession == "REDACTED")
        #expect(o.costUSD == 0.024)
        #expect(o.usage == AgentUsage(inputTokens: 3, outputTokens: 6))
    }

    @Test func noAnswerAtAllIsNoSuccess() {
        // #85040/#7263: exit 0 and "success" with nothing said.
        let o = outcome([#"{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"","total_cost_usd":0}"#])
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Claude Code reported success without an answer")
    }

    @Test func aRejectedRateLimitEventGivesItsReset() {
        // claude-agent-sdk-python tests/test_rate_limit_event_repro.py, as JSON.
        let o = outcome([
            #"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1700003600,"rateLimitType":"seven_day","isUsingOverage":false,"overageStatus":"rejected","overageDisabledReason":"out_of_credits"},"uuid":"660e8400-e29b-41d4-a716-446655440001","session_id":"test-session-id"}"#,
            #"{"type":"result","subtype":"success","is_error":true,"num_turns":1,"result":"You've hit your limit","session_id":"test-session-id"}"#,
        ])
        #expect(o?.verdict == .rateLimited(until: Timestamp(nanoseconds: 1_700_003_600_000_000_000)))
    }

    @Test func limitMessagesGiveTheirResetTimes() {
        // slopus/happy#465: exit 1 with the limit as the result.
        let lisbon = outcome([#"{"type":"result","subtype":"success","is_error":true,"result":"You've hit your limit · resets 1pm (Europe/Lisbon)"}"#])
        #expect(lisbon?.verdict == .rateLimited(until: instant("2026-12-03T13:00:00Z")))
        #expect(lisbon?.message == "You've hit your limit · resets 1pm (Europe/Lisbon)")
        let legacy = outcome([#"{"type":"result","subtype":"success","is_error":true,"result":"Claude AI usage limit reached|1755615600"}"#])
        #expect(legacy?.verdict == .rateLimited(until: Timestamp(nanoseconds: 1_755_615_600_000_000_000)))
        let admin = outcome([#"{"type":"result","subtype":"success","is_error":true,"result":"Limit reached – contact an admin to keep working"}"#])
        #expect(admin?.verdict == .rateLimited(until: nil))
    }

    @Test func rateLimitWithIsErrorFalseIsStillALimit() {
        // #79500: `API Error: Rate limit reached` reported as a success.
        let o = outcome([#"{"type":"result","subtype":"success","is_error":false,"result":"API Error: Rate limit reached"}"#])
        #expect(o?.verdict == .rateLimited(until: nil))
        let other = outcome([#"{"type":"result","subtype":"success","is_error":false,"result":"API Error: 500 {\"type\":\"error\"}"}"#])
        #expect(other?.verdict == .failed)
    }

    @Test func anAnswerAboutRateLimitsIsAnAnswer() {
        let o = outcome([#"{"type":"result","subtype":"success","is_error":false,"result":"HTTP 429 means the rate limit was exceeded: usage limit reached for the minute."}"#])
        #expect(o?.verdict == .succeeded)
    }

    @Test func anExpiredTokenIsAnAuthenticationFailure() {
        // anthropics/claude-code-action#1613: the 401 fields of the excerpt.
        let o = outcome([#"{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"terminal_reason":"api_error","result":"Failed to authenticate. API Error: 401 OAuth access token is invalid."}"#])
        #expect(o?.verdict == .authenticationFailed)
        #expect(o?.message == "Failed to authenticate. API Error: 401 OAuth access token is invalid.")
    }

    @Test func aDeniedToolIsAFailureEvenWhenReportedAsSuccess() {
        // #76867: --permission-mode dontAsk denied a tool; exit 0, is_error false.
        let o = outcome([#"{"type":"result","subtype":"success","is_error":false,"result":"I could not write the file because permission was denied.","permission_denials":[{"tool_name":"Write","tool_use_id":"toolu_1","tool_input":{"file_path":"/x"}}],"terminal_reason":"completed"}"#])
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Claude Code was denied permission to use Write: I could not write the file because permission was denied.")
    }

    @Test(arguments: [
        ("error_max_turns", "Claude Code reached its turn limit"),
        ("error_during_execution", "Claude Code failed during execution"),
        ("error_max_budget_usd", "Claude Code reached its budget limit"),
    ])
    func errorSubtypesFail(subtype: String, message: String) {
        let o = outcome([#"{"type":"result","subtype":"\#(subtype)","is_error":false,"num_turns":3,"errors":[]}"#])
        #expect(o?.verdict == .failed)
        #expect(o?.message == message)
    }

    @Test func aTurnCutShortFails() {
        let o = outcome([#"{"type":"result","subtype":"success","is_error":false,"result":"partial","terminal_reason":"aborted_tools"}"#])
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Claude Code stopped (aborted_tools): partial")
    }

    @Test func aBackgroundTurnsResultIsNotTheTasks() {
        var adapter = ClaudeAdapter(zones: AgentTranscript.zones)
        let o = AgentTranscript(stdout: [
            #"{"type":"result","subtype":"success","is_error":false,"result":"background task finished","total_cost_usd":0.5,"origin":{"kind":"task_notification"}}"#,
            #"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"done"}]}}"#,
            #"{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.75,"origin":{"kind":"human"}}"#,
        ], exit: nil).outcome(&adapter)
        #expect(o?.resultText == "done")
        #expect(o?.costUSD == 0.25, "the background turn's cost is not this task's")
    }

    @Test func resultsBetweenTasksAreIgnoredButMoveTheTotal() {
        var adapter = ClaudeAdapter(zones: AgentTranscript.zones)
        #expect(adapter.consume(.stdout(#"{"type":"result","subtype":"success","is_error":false,"result":"late","total_cost_usd":1.0}"#), now: AgentTranscript.now) == nil)
        let o = AgentTranscript(stdout: [#"{"type":"result","subtype":"success","is_error":false,"result":"ok","total_cost_usd":1.5}"#], exit: nil).outcome(&adapter)
        #expect(o?.costUSD == 0.5)
    }

    @Test func conversationResetZeroesTheRunningTotal() {
        var adapter = ClaudeAdapter(zones: AgentTranscript.zones)
        _ = AgentTranscript(stdout: [#"{"type":"result","subtype":"success","is_error":false,"result":"a","total_cost_usd":2.0,"session_id":"one"}"#], exit: nil).outcome(&adapter)
        let o = AgentTranscript(stdout: [
            #"{"type":"conversation_reset","session_id":"two"}"#,
            #"{"type":"result","subtype":"success","is_error":false,"result":"b","total_cost_usd":0.1}"#,
        ], exit: nil).outcome(&adapter)
        #expect(o?.costUSD == 0.1)
        #expect(o?.agentSession == "two")
    }

    @Test func ampReadsTheSameShapes() {
        // ampcode.com/news/streaming-json.
        var adapter = AmpAdapter(zones: AgentTranscript.zones)
        let o = AgentTranscript(stdout: [
            #"{"type":"system","subtype":"init","cwd":"/Users/mrnugget/work/amp","session_id":"T-2775dc92-90ed-4f85-8b73-8f9766029e83","tools":["oracle","..."],"mcp_servers":[]}"#,
            #"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"what is 2+2?"}]},"parent_tool_use_id":null,"session_id":"T-2775dc92-90ed-4f85-8b73-8f9766029e83"}"#,
            #"{"type":"assistant","message":{"type":"message","role":"assistant","content":[{"type":"text","text":"2 + 2 equals 4."}],"stop_reason":"end_turn","usage":{"input_tokens":12783,"cache_creation_input_tokens":367,"cache_read_input_tokens":12416,"output_tokens":8,"max_tokens":224000,"service_tier":"standard"}},"parent_tool_use_id":null,"session_id":"T-2775dc92-90ed-4f85-8b73-8f9766029e83"}"#,
            #"{"type":"result","subtype":"success","duration_ms":2906,"is_error":false,"num_turns":1,"result":"2 + 2 equals 4.","session_id":"T-2775dc92-90ed-4f85-8b73-8f9766029e83"}"#,
        ], exit: nil).outcome(&adapter)
        #expect(o?.verdict == .succeeded)
        #expect(o?.resultText == "2 + 2 equals 4.")
        #expect(o?.agentSession == "T-2775dc92-90ed-4f85-8b73-8f9766029e83")
        #expect(o?.costUSD == nil)
        let failed = AgentTranscript(stdout: [#"{"type":"result","subtype":"error_during_execution","is_error":true,"result":""}"#], exit: nil).outcome(&adapter)
        #expect(failed?.verdict == .failed)
        #expect(failed?.message == "Amp failed during execution")
    }
}
