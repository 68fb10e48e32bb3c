import Testing
@testable import HopperCore

/// Cursor's agent CLI: a Claude-like result on success only; on failure an
/// exit code and stderr (agent-clis.md section 5, from Cursor's
/// output-format documentation).
@Suite struct CursorAdapterTests {
    private func outcome(_ stdout: [String], stderr: [String] = [], exit: ProcessExit = .exited(0)) -> AgentOutcome? {
        var adapter = CursorAdapter(zones: AgentTranscript.zones)
        return AgentTranscript(stdout: stdout, stderr: stderr, exit: exit).outcome(&adapter)
    }

    static let success = #"{"type":"result","subtype":"success","is_error":false,"duration_ms":1234,"duration_api_ms":1100,"result":"Updated the README.","session_id":"6f0c2a4e-1d2b-4c3d-9e8f-0a1b2c3d4e5f","request_id":"req-1"}"#

    @Test func aResultAndExitZeroSucceed() {
        let o = outcome([
            #"{"type":"system","subtype":"init","session_id":"6f0c2a4e-1d2b-4c3d-9e8f-0a1b2c3d4e5f","model":"auto"}"#,
            #"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Updated the README."}]},"session_id":"6f0c2a4e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"}"#,
            Self.success,
        ])
        #expect(o?.verdict == .succeeded)
        #expect(o?.resultText == "Updated the README.")
        #expect(o?.agentSession == "6f0c2a4e-1d2b-4c3d-9e8f-0a1b2c3d4e5f")
        #expect(o?.costUSD == nil && o?.usage == nil, "Cursor reports neither")
    }

    @Test func theOutcomeWaitsForTheExit() {
        var adapter = CursorAdapter(zones: AgentTranscript.zones)
        adapter.beginTask()
        #expect(adapter.consume(.stdout(Self.success), now: AgentTranscript.now) == nil)
        #expect(adapter.consume(.exited(.exited(0)), now: AgentTranscript.now)?.verdict == .succeeded)
    }

    @Test func aResultThenANonZeroExitFails() {
        let o = outcome([Self.success], stderr: ["Error: connection reset"], exit: .exited(1))
        #expect(o?.verdict == .failed)
        #expect(o?.message == "Cursor Agent exited with status 1 after its result: Error: connection reset")
    }

    @Test func failuresHaveNoResult() {
        let auth = outcome([], stderr: ["Not authenticated. Run `agent login` or set CURSOR_API_KEY."], exit: .exited(1))
        #expect(auth?.verdict == .authenticationFailed)
        let trust = outcome([], stderr: ["Workspace Trust Required"], exit: .exited(1))
        #expect(trust?.verdict == .failed)
        #expect(trust?.message == "Cursor Agent exited with status 1 before a result: Workspace Trust Required")
        let limit = outcome([], stderr: ["You've hit your usage limit"], exit: .exited(1))
        #expect(limit?.verdict == .rateLimited(until: nil))
    }

    @Test func aStreamThatEndsEarlyFails() {
        // "the stream may end early without a terminal event", even with exit 0.
        let o = outcome([#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Working on it"}]}}"#])
        #expect(o?.verdict == .failed)
    }
}
