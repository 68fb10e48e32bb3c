/// The retry rules for one session's authentication (SPEC section 7).
///
/// The caller runs `auth.command`, bounded by `authentication.timeout`, and
/// records each attempt's result; the decision says whether the session is
/// authenticated, when to try again, or that it gave up. A retryable failure
/// is an exit code in `retryableExitCodes` or a timeout; it is retried up to
/// `maxAttempts` attempts in all, waiting `delays` between them. Any other
/// failure gives up at once. Every retry comes with its delay and every
/// attempt is counted, so there is no loop and no retry storm.
///
/// A pure value: the caller sleeps, spawns and logs (`auth.attempt`,
/// `auth.failed` with `retryable`).
public struct AuthenticationPolicy: Sendable {
    /// How one run of the auth command ended.
    public enum AttemptResult: Sendable, Equatable {
        case success
        /// `exitCode` is nil when the command never exited normally (it could
        /// not be spawned, was killed, or timed out); `message` says why, e.g.
        /// the last line of its stderr.
        case failed(exitCode: Int32?, timedOut: Bool, message: String)
    }

    /// What to do after an attempt.
    public enum Decision: Sendable, Equatable {
        case succeeded
        /// Wait `after` seconds, then run attempt number `attempt` (2, 3, ...).
        case retry(after: Double, attempt: Int)
        /// Stop; `retryable` tells whether the last failure was retryable
        /// (the attempts ran out) or not (it failed for good). `message` is
        /// one sentence naming the attempts and the last error.
        case gaveUp(retryable: Bool, message: String)
    }

    public let maxAttempts: Int
    public let delays: Backoff
    public let retryableExitCodes: [Int32]
    /// Attempts recorded so far.
    public private(set) var attempts = 0
    /// The final decision, once there is one; later records repeat it.
    public private(set) var outcome: Decision?

    /// `maxAttempts` below 1 counts as 1.
    public init(maxAttempts: Int, delays: Backoff, retryableExitCodes: [Int32]) {
        self.maxAttempts = max(1, maxAttempts)
        self.delays = delays
        self.retryableExitCodes = retryableExitCodes
    }

    /// Counts an attempt and decides what follows. After `.succeeded` or
    /// `.gaveUp`, further results are not counted and get the same decision.
    public mutating func record(_ result: AttemptResult) -> Decision {
        if let outcome { return outcome }
        attempts += 1
        guard case .failed = result else {
            outcome = .succeeded
            return .succeeded
        }
        let retryable = isRetryable(result)
        if retryable && attempts < maxAttempts {
            // The first retry (before attempt 2) waits delays[0].
            return .retry(after: delays.delay(forRetry: attempts - 1), attempt: attempts + 1)
        }
        let decision = Decision.gaveUp(retryable: retryable, message: Self.sentence(attempts: attempts, retryable: retryable, last: result))
        outcome = decision
        return decision
    }

    /// Whether a failure may be retried: its exit code is listed, or it timed out.
    public func isRetryable(_ result: AttemptResult) -> Bool {
        guard case .failed(let exitCode, let timedOut, _) = result else { return false }
        if timedOut { return true }
        guard let exitCode else { return false }
        return retryableExitCodes.contains(exitCode)
    }

    /// One sentence, e.g. "authentication failed after 3 attempts: the last
    /// timed out (no answer in 30 s)" or "authentication failed after 1
    /// attempt, not retryable: the auth command exited with code 1 (denied)".
    static func sentence(attempts: Int, retryable: Bool, last: AttemptResult) -> String {
        guard case .failed(let exitCode, let timedOut, let message) = last else { return "authentication succeeded" }
        let count = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
        let kind = retryable ? "" : ", not retryable"
        let subject = attempts == 1 ? "the auth command" : "the last"
        let what = timedOut ? "timed out" : exitCode.map { "exited with code \($0)" } ?? "failed"
        // One line whatever the command printed.
        let detail = message.split(whereSeparator: \.isNewline).map(\.trimmingSpaces).filter { !$0.isEmpty }.joined(separator: " ")
        return "authentication failed after \(count)\(kind): \(subject) \(what)" + (detail.isEmpty ? "" : " (\(detail))")
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }
}
