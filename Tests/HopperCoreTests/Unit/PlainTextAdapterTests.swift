import Testing
@testable import HopperCore

/// The plain-text CLIs, aider and Copilot, whose exit code says little:
/// aider's messages from its source (aider/exceptions.py, base_coder.py),
/// Copilot's documented exit codes (agent-clis.md sections 7 and 8).
@Suite struct PlainTextAdapterTests {
    private func aider(_ stdout: [String], stderr: [String] = [], exit: ProcessExit = .exited(0)) -> AgentOutcome? {
        var adapter = AiderAdapter(zones: AgentTranscript.zones)
        return AgentTranscript(stdout: stdout, stderr: stderr, exit: exit).outcome(&adapter)
    }

    private func copilot(_ stdout: [String], stderr: [String] = [], exit: ProcessExit = .exited(0)) -> AgentOutcome? {
        var adapter = CopilotAdapter(zones: AgentTranscript.zones, session: "0f8fad5b-d9cb-469f-a165-70867728950e")
        return AgentTranscript(stdout: stdout, stderr: stderr, exit: exit).outcome(&adapter)
    }

    static let aiderBanner = ["Aider v0.86.1", "Main model: gpt-4o with diff edit format", "Git repo: .git with 42 files", "Repo-map: using 1024 tokens, auto refresh"]

    /// The real aider's stdout (Fixtures/agents), stderr as it was, exit 0 every time.
    private func realAider(_ name: String) throws -> AgentOutcome? {
        aider(try ClaudeAdapterTests.lines(name), stderr: ["Warning: Input is not a terminal (fd=0)."])
    }

    @Test func realAiderReply() throws {
        let o = try #require(try realAider("aider-success.txt"))
        #expect(o.verdict == .succeeded, "\(o.message)")
        #expect(o.resultText == "hello from the stand-in")
        #expect(o.costUSD == 0.0070)
        #expect(o.usage == AgentUsage(inputTokens: 2300, outputTokens: 120))
    }

    @Test func realAiderRefusedKeyExitsZeroAndIsCaught() throws {
        let o = try #require(try realAider("aider-401.txt"))
        #expect(o.verdict == .authenticationFailed)
        #expect(o.message.hasPrefix("aider exited 0 without a model reply: litellm.AuthenticationError"))
    }

    @Test func realAiderRateLimitExitsZeroAndIsALimit() throws {
        // Eight retries over a minute, each message wrapped over two lines, then exit 0.
        let o = try #require(try realAider("aider-429.txt"))
        #expect(o.verdict == .rateLimited(until: AgentTranscript.now.adding(seconds: 20)))
        #expect(o.resultText == nil, "the wrapped error lines are not an answer")
    }

    @Test func aiderSucceedsOnlyAfterATokenReport() throws {
        let o = try #require(aider(Self.aiderBanner + [
            "The function now returns early on empty input.",
            "Applied edit to src/parse.py",
            "Tokens: 2.3k sent, 120 received. Cost: $0.0012 message, $0.0450 session.",
        ]))
        #expect(o.verdict == .succeeded)
        #expect(o.resultText == "The function now returns early on empty input.")
        #expect(o.costUSD == 0.0012, "the message cost, not the session's running total")
        #expect(o.usage == AgentUsage(inputTokens: 2300, outputTokens: 120))
        #expect(o.agentSession == nil)
    }

    @Test func aiderExitZeroWithoutAReplyFails() {
        let o = aider(Self.aiderBanner)
        #expect(o?.verdict == .failed)
        #expect(o?.message == "aider exited 0 without a model reply")
    }

    @Test func aiderRateLimitExitsZero() {
        let o = aider(Self.aiderBanner + [
            "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for gpt-4o. Please try again in 20s.",
            "The API provider has rate limited you. Try again later or check your quotas.",
            "Retrying in 0.2 seconds...",
            "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for gpt-4o. Please try again in 20s.",
            "The API provider has rate limited you. Try again later or check your quotas.",
        ])
        #expect(o?.verdict == .rateLimited(until: AgentTranscript.now.adding(seconds: 20)))
    }

    @Test func aiderAuthenticationErrorExitsZero() {
        let o = aider(Self.aiderBanner + [
            "litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided: sk-***.",
            "The API provider is not able to authenticate you. Check your API key.",
        ])
        #expect(o?.verdict == .authenticationFailed)
    }

    @Test func aiderServerErrorAfterAReplyFails() {
        let o = aider(Self.aiderBanner + [
            "Tokens: 12k sent, 1.5k received. Cost: $0.04 message, $0.04 session.",
            "litellm.InternalServerError: AnthropicException - Overloaded.",
            "The API provider's servers are down or overloaded.",
        ])
        #expect(o?.verdict == .failed)
        #expect(o?.message.hasPrefix("aider's last model call failed: litellm.InternalServerError") == true)
    }

    @Test func aiderTokenCounts() {
        #expect(AiderAdapter.tokens("120") == 120)
        #expect(AiderAdapter.tokens("2.3k") == 2300)
        #expect(AiderAdapter.tokens("12k") == 12_000)
        #expect(AiderAdapter.tokens("1.5M") == 1_500_000)
        #expect(AiderAdapter.tokens("lots") == nil)
    }

    @Test func copilotPlainAnswer() {
        let o = copilot(["The build fails because `make` is not installed."])
        #expect(o?.verdict == .succeeded)
        #expect(o?.resultText == "The build fails because `make` is not installed.")
        #expect(o?.agentSession == "0f8fad5b-d9cb-469f-a165-70867728950e", "the id Hopper chose")
    }

    @Test func copilotFailures() {
        let auth = copilot([], stderr: ["Error: No authentication information found."], exit: .exited(4))
        #expect(auth?.verdict == .authenticationFailed)
        let blocked = copilot([], stderr: ["Error: prompt was blocked"], exit: .exited(1))
        #expect(blocked?.verdict == .failed)
        #expect(blocked?.message == "Copilot CLI exited with status 1: Error: prompt was blocked")
        let empty = copilot([])
        #expect(empty?.verdict == .failed)
        #expect(empty?.message == "Copilot CLI gave no answer")
        let limited = copilot(["Partial"], stderr: ["Error: rate limit exceeded for this session"])
        #expect(limited?.verdict == .rateLimited(until: nil))
    }

    @Test func copilotAnswerAboutRateLimitsIsAnAnswer() {
        let o = copilot(["Add a retry: the API returns 429 Too Many Requests when the rate limit is exceeded."])
        #expect(o?.verdict == .succeeded)
    }

    @Test func copilotJSONLines() {
        let o = copilot([
            #"{"type":"assistant.message","data":{"content":"Done."}}"#,
            #"{"type":"result","sessionId":"c0ffee00-1111-2222-3333-444455556666"}"#,
        ])
        #expect(o?.verdict == .succeeded)
        #expect(o?.resultText == "Done.")
        #expect(o?.agentSession == "c0ffee00-1111-2222-3333-444455556666")
    }
}
