/// What agent CLIs say when they are rate-limited, out of quota or not
/// authenticated, as `../shared/agent-clis.md` quotes them, and the shared
/// reading of a failed run's words into a verdict.
///
/// Words are only consulted for a run that did not succeed by the CLI's own
/// structured account (or that has no structured account at all): a
/// retried 429 that the CLI recovered from must not limit the provider.
enum AgentWords {
    /// Fragments of rate-limit and quota messages, lowercase. Curly and
    /// straight apostrophes both occur (`You’ve hit your usage limit`), so
    /// fragments avoid them.
    static let rateLimit = [
        "usage limit reached",              // Claude ≤ 1.0: `Claude AI usage limit reached|1755615600`
        "hit your limit",                   // Claude: `You've hit your limit · resets 1pm (Europe/Lisbon)`
        "hit your session limit",
        "hit your weekly limit",
        "hit your usage limit",             // Codex, Cursor
        "limit reached –", "limit reached -", // Claude org cap: `Limit reached – contact an admin to keep working`
        "rate limit reached",               // Claude: `API Error: Rate limit reached`
        "rate_limit_error", "overloaded_error",
        "request rejected (429)",
        "rate limited you",                 // aider
        "quota exceeded",                   // Codex: `Quota exceeded. Check your plan and billing details.`
        "exhausted your daily quota", "resource_exhausted", "resource has been exhausted", "terminalquotaerror",
        "exceeded your current quota",
        "model_capacity_exhausted", "quota_exhausted", "insufficient_g1_credits_balance", // Gemini
        "usage_limit_reached", "usageLimitExceeded".lowercased(),
        "monthly usage limit",              // opencode
        "too many requests", "status 429", "429 too many",
        "out of credits", "credit balance is too low",
        "rate limit exceeded", "ratelimiterror",
    ]

    /// Fragments of authentication failures, lowercase.
    static let authentication = [
        "not logged in",                    // Claude, Codex
        "login expired",
        "please run /login",
        "failed to authenticate",           // Claude 401
        "invalid api key",                  // Claude: `Invalid API key · Fix external API key`
        "authentication_failed",
        "oauth access token is invalid",
        "refresh token was already used",   // Codex's refresh-token race
        "could not be refreshed",
        "401 unauthorized", "status 401", "(401)",
        "not authenticated",                // Cursor
        "not able to authenticate you",     // aider
        "authenticationerror", "authentication_error",
        "api key not valid",                // Gemini: `API key not valid. Please pass a valid API key.`
        "token has expired", "invalid x-api-key",
        "please set an auth method",        // Gemini, exit 41
    ]

    static func contains(_ text: String, anyOf fragments: [String]) -> Bool {
        let lower = text.lowercased()
        return fragments.contains { lower.contains($0) }
    }

    static func isRateLimit(_ text: String) -> Bool { contains(text, anyOf: rateLimit) }
    static func isAuthentication(_ text: String) -> Bool { contains(text, anyOf: authentication) }

    /// The verdict for a run that failed with `text`: rate-limited (with the
    /// reset the words give), authentication, or a plain failure.
    static func verdict(for text: String, now: Timestamp, zones: ZoneLookup) -> AgentOutcome.Verdict {
        if isRateLimit(text) { return .rateLimited(until: ResetTimeParser.reset(in: text, now: now, zones: zones)) }
        if isAuthentication(text) { return .authenticationFailed }
        return .failed
    }

    /// A failure message from a CLI's words: trimmed, one line, capped, so a
    /// stack trace cannot become the record's sentence.
    static func sentence(_ text: String, limit: Int = 500) -> String {
        let oneLine = text.split(whereSeparator: \.isNewline).map { trim($0) }.filter { !$0.isEmpty }.joined(separator: " ")
        return oneLine.count > limit ? String(oneLine.prefix(limit)) + "…" : oneLine
    }

    /// Without leading and trailing white space.
    static func trim<S: StringProtocol>(_ text: S) -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(text[first...last])
    }

    /// "exit status 3" / "signal 9": how a process ended, for messages.
    static func describe(_ status: ExitStatus) -> String {
        switch status {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "was killed by signal \(signal.rawValue)"
        }
    }
}
