/// How an agent task ended, decided from the CLI's own output (SPEC
/// section 7a): the verdict, the CLI's words for it, and what the record
/// carries (`agent_session`, `result_text`, `cost_usd`, `usage`, `result`).
///
/// A value, never a thrown error: the owner of the attempt turns it into a
/// record (`succeeded`; `failed` with reason `agent_error`), a requeue
/// (rate limit, authentication) or a provider state change.
public struct AgentOutcome: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        /// The CLI ended its turn normally with a final result that is not an error.
        case succeeded
        /// The CLI ran and did not do the task: reason `agent_error`.
        case failed
        /// Rate-limited or out of quota: requeue uncharged, limit the provider
        /// until `until` (nil: exponential backoff).
        case rateLimited(until: Timestamp?)
        /// Credentials missing, expired or refused: requeue uncharged, count
        /// for the circuit breaker.
        case authenticationFailed
    }

    public var verdict: Verdict
    /// One sentence for the record: the CLI's own words where it gave any.
    public var message: String
    /// The CLI's conversation id, for `continue`.
    public var agentSession: String?
    /// The final answer.
    public var resultText: String?
    /// This task's cost in US dollars, when the CLI reports one.
    public var costUSD: Double?
    public var usage: AgentUsage?
    /// The CLI's own final object (its `result` line), for the record's `result`.
    public var result: JSONValue?

    public init(_ verdict: Verdict, message: String, agentSession: String? = nil, resultText: String? = nil,
                costUSD: Double? = nil, usage: AgentUsage? = nil, result: JSONValue? = nil) {
        self.verdict = verdict
        self.message = message
        self.agentSession = agentSession
        self.resultText = resultText
        self.costUSD = costUSD
        self.usage = usage
        self.result = result
    }

    public var isSuccess: Bool { verdict == .succeeded }
}

extension AgentOutcome {
    /// A plain `jsonl` session's result line (a provider without a preset):
    /// `is_error` decides, and the line's `result` is the answer.
    static func resultLine(isError: Bool, object: JSONValue) -> AgentOutcome {
        let text = object.objectValue?["result"]?.stringValue
        let message = (isError ? "The agent reported an error" : "The agent finished") + (text.map { ": " + String($0.prefix(200)) } ?? ".")
        return AgentOutcome(isError ? .failed : .succeeded, message: message, resultText: text, result: object)
    }
}
