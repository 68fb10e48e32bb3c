/// aider in scripting mode (`aider --message PROMPT --yes-always --no-stream
/// --no-auto-commits`), one process per task, plain text only
/// (agent-clis.md section 8).
///
/// aider exits 0 whether or not the model call worked, so its words are
/// all there is:
/// - after every model reply it prints `Tokens: 2.3k sent, 120 received.
///   Cost: $0.0012 message, $0.0450 session.`: the evidence that a reply
///   came, and the source of `usage` and `cost_usd` (the sum of the
///   `message` costs, since one process is one task);
/// - its error descriptions (aider/exceptions.py): `The API provider has
///   rate limited you. …`, `The API provider is not able to authenticate
///   you. Check your API key.`, `The API provider's servers are down or
///   overloaded.`, and litellm's own `litellm.RateLimitError: …` lines.
///
/// Success: exit status 0, at least one token report, and no error after
/// the last one. aider has no conversation id (`--restore-chat-history`
/// resumes by working directory), so `agent_session` stays null.
public struct AiderAdapter: PerTaskAdapter {
    let zones: ZoneLookup
    private var reply: [String] = []
    private var replies = 0
    private var cost: Double?
    private var usage: AgentUsage?
    /// Error lines since the last token report.
    private var errors = LineTail()
    /// The last line was part of an error message, which may go on over the next lines.
    private var isInError = false
    var stderr = LineTail()
    var isDecided = false

    public init(zones: ZoneLookup) { self.zones = zones }

    public mutating func beginTask() { self = AiderAdapter(zones: zones) }

    /// Lines aider prints about itself, never part of the answer.
    private static let chatter = ["Aider v", "Main model:", "Weak model:", "Editor model:", "Git repo:", "Repo-map:",
                                  "Model:", "Added ", "Applied edit", "Commit ", "Retrying in", "Tokens:", "Cost:",
                                  "Use /help", "Warning:", "https://aider.chat/", "Analytics have been",
                                  // litellm failing to fetch its model price list when offline.
                                  "HTTPSConnectionPool("]
    private static let errorWords = ["The API provider", "litellm.", "BadRequestError", "API Error:",
                                     "Model ", "Unable to", "Error:"]

    mutating func take(stdout line: String, now: Timestamp) -> AgentOutcome? {
        let trimmed = AgentWords.trim(line)
        if trimmed.hasPrefix("Tokens:") {
            replies += 1
            errors.removeAll()
            isInError = false
            takeReport(trimmed)
        } else if Self.errorWords.contains(where: { trimmed.hasPrefix($0) }) && Self.isErrorLine(trimmed) {
            errors.append(trimmed)
            isInError = true
        } else if trimmed.isEmpty {
            // A blank line ends an error message; in a reply it separates paragraphs.
            isInError = false
            if !reply.isEmpty { reply.append(line) }
        } else if Self.chatter.contains(where: { trimmed.hasPrefix($0) }) {
            isInError = false
        } else if isInError {
            // aider wraps long messages: `…Rate limit reached for` / `gpt-4o. Please try again in 20s.`
            errors.append(trimmed)
        } else if reply.count < 100_000 {
            reply.append(line)
        }
        return nil
    }

    /// An error aider printed (its descriptions, litellm exceptions), as
    /// opposed to a reply that starts with one of those words.
    private static func isErrorLine(_ line: String) -> Bool {
        line.hasPrefix("The API provider") || line.hasPrefix("litellm.") || line.hasPrefix("BadRequestError")
            || line.hasPrefix("API Error:") || AgentWords.isRateLimit(line) || AgentWords.isAuthentication(line)
    }

    /// `Tokens: 2.3k sent, 120 received. Cost: $0.0012 message, $0.0450 session.`
    private mutating func takeReport(_ line: String) {
        if let c = ResetTimeParser.captures("([\\d.]+[km]?) sent, ([\\d.]+[km]?) received", in: line),
           let sent = c[0].flatMap(Self.tokens), let received = c[1].flatMap(Self.tokens) {
            usage = AgentUsage(inputTokens: (usage?.inputTokens ?? 0) + sent, outputTokens: (usage?.outputTokens ?? 0) + received)
        }
        if let c = ResetTimeParser.captures("Cost: \\$([\\d.]+) message", in: line), let value = c[0].flatMap(Double.init) {
            cost = (cost ?? 0) + value
        }
    }

    /// `120`, `2.3k`, `12k`, `1.5M` as a count.
    static func tokens(_ text: String) -> Int64? {
        let lower = text.lowercased()
        let scale: Double = lower.hasSuffix("k") ? 1e3 : lower.hasSuffix("m") ? 1e6 : 1
        guard let value = Double(scale == 1 ? lower : String(lower.dropLast())) else { return nil }
        return Int64((value * scale).rounded())
    }

    func decide(_ status: ExitStatus, now: Timestamp) -> AgentOutcome {
        let text = AgentWords.trim(reply.joined(separator: "\n"))
        var outcome = AgentOutcome(.succeeded, message: "aider replied", resultText: text.isEmpty ? nil : text,
                                   costUSD: cost, usage: usage)
        if status == .exited(0), replies > 0, errors.isEmpty { return outcome }
        let words = errors.isEmpty ? stderr.text : errors.text
        outcome.verdict = AgentWords.verdict(for: words, now: now, zones: zones)
        let what = status != .exited(0) ? "aider \(AgentWords.describe(status))"
            : replies == 0 ? "aider exited 0 without a model reply" : "aider's last model call failed"
        outcome.message = AgentWords.sentence(words.isEmpty ? what : what + ": " + words)
        return outcome
    }
}
