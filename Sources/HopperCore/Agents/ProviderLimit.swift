/// One provider's rate-limit window (SPEC section 7a): after a task reports
/// a rate limit, a quota or a spent budget, no task of the provider starts
/// until the reset; other providers are not affected.
///
/// A pure value: it never reads a clock. Its methods return the transition
/// they made, and the owner turns each into its `provider.limited` or
/// `provider.resumed` event, arms a timer at `limitedUntil` and calls
/// `advance(now:)` when it fires.
///
/// | state   | `limit` with a future reset      | `limit` without one (or a past one) | `advance` (now ≥ until) | `recordSuccess` |
/// |---------|----------------------------------|-------------------------------------|-------------------------|-----------------|
/// | open    | → limited until the reset        | → limited for the next backoff      | —                       | backoff resets  |
/// | limited | until moves later, never earlier | until moves later, never earlier    | → open (`resumed`)      | backoff resets  |
///
/// The backoff starts at `backoff.start` seconds and doubles with each
/// limit in a row, up to `backoff.cap`; a task of the provider that succeeds
/// ends the row. A reset in the past is read as none (the CLI's clock or
/// zone disagrees with ours, and retrying at once would loop), and one
/// further away than `longestReset` is cut to it (a parse gone wrong must
/// not stop a provider for months). A budget limit lasts until the next
/// 00:00 UTC and does not count towards the backoff.
public struct ProviderLimit: Sendable, Equatable {
    public enum Reason: String, Sendable { case rateLimit = "rate_limit", budget }

    public enum Transition: Sendable, Equatable {
        case limited(until: Timestamp, reason: Reason)
        case resumed
    }

    /// Eight days: longer than the longest window a CLI reports (weekly).
    public static let longestReset = 8 * 86_400.0

    public private(set) var limitedUntil: Timestamp?
    public private(set) var reason: Reason?
    /// Rate limits since the last success, for the backoff.
    public private(set) var consecutiveLimits = 0
    public private(set) var backoffStart: Double
    public private(set) var backoffCap: Double

    /// An open window; `rate_limit.backoff` is `[start, cap]` (default `[60, 3600]`).
    public init(backoffStart: Double = 60, backoffCap: Double = 3600) {
        self.backoffStart = max(0, backoffStart)
        self.backoffCap = max(self.backoffStart, backoffCap)
    }

    public var isLimited: Bool { limitedUntil != nil }

    /// The wait before a provider limited without a reset time may try again.
    public var nextBackoff: Double {
        let doublings = min(consecutiveLimits, 62)
        return min(backoffCap, backoffStart * Double(UInt64(1) << UInt64(doublings)))
    }

    /// A task reported a rate limit or quota; `reset` is when the CLI said
    /// it ends. Returns the transition when the window opened or moved later.
    public mutating func limit(now: Timestamp, reset: Timestamp?) -> Transition? {
        let until: Timestamp
        if let reset, reset > now {
            until = min(reset, now.adding(seconds: Self.longestReset))
        } else {
            until = now.adding(seconds: nextBackoff)
        }
        consecutiveLimits += 1
        if let current = limitedUntil, current >= until { return nil }
        limitedUntil = until
        reason = .rateLimit
        return .limited(until: until, reason: .rateLimit)
    }

    /// The provider's spend reached its daily budget: limited until the next
    /// 00:00 UTC.
    public mutating func exhaustBudget(now: Timestamp) -> Transition? {
        let until = BudgetLedger.nextUTCMidnight(after: now)
        if let current = limitedUntil, current >= until { return nil }
        limitedUntil = until
        reason = .budget
        return .limited(until: until, reason: .budget)
    }

    /// Opens the window once its time has come.
    public mutating func advance(now: Timestamp) -> Transition? {
        guard let until = limitedUntil, now >= until else { return nil }
        limitedUntil = nil
        reason = nil
        return .resumed
    }

    /// May a task of the provider start now? Advances first, so the answer
    /// never depends on the timer; call `advance(now:)` before it to see the
    /// `resumed` transition.
    public mutating func mayStart(now: Timestamp) -> Bool {
        _ = advance(now: now)
        return limitedUntil == nil
    }

    /// A task of the provider succeeded: the next limit starts the backoff over.
    public mutating func recordSuccess() {
        consecutiveLimits = 0
    }

    /// Applies a reloaded configuration; a running window keeps its end.
    public mutating func update(backoffStart: Double, backoffCap: Double) {
        self.backoffStart = max(0, backoffStart)
        self.backoffCap = max(self.backoffStart, backoffCap)
    }
}
