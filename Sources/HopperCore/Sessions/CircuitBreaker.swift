/// One provider's circuit breaker (SPEC section 7): after
/// `failureThreshold` sessions in a row fail authentication, no session of the
/// provider is attempted for `cooldown` seconds; then exactly one trial
/// session may run (half-open), whose outcome closes or reopens the circuit.
///
/// A pure value: it never reads a clock. Its methods return the transition
/// they made, and the caller turns each into its `circuit.open`,
/// `circuit.half_open` or `circuit.closed` event and arms a timer at
/// `openUntil`.
///
/// | state     | `advance` (cooldown over) | `mayAttempt`           | `recordSuccess` | `recordFailure`                  |
/// |-----------|---------------------------|------------------------|-----------------|----------------------------------|
/// | closed    | —                         | true                   | —               | count; at threshold → open       |
/// | open      | → half-open               | false                  | → closed        | count (cooldown not extended)    |
/// | half-open | —                         | true once (the trial)  | → closed        | → open, fresh cooldown           |
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: String, Sendable { case closed, open, halfOpen = "half_open" }

    /// What a call changed, for the event log.
    public enum Transition: Sendable, Equatable {
        case opened(until: MonotonicInstant)
        case halfOpened
        case closed
    }

    public private(set) var state: State = .closed
    /// Authentication failures since the last success.
    public private(set) var consecutiveFailures = 0
    /// When an open circuit's cooldown ends; nil unless open.
    public private(set) var openUntil: MonotonicInstant?
    public private(set) var failureThreshold: Int
    public private(set) var cooldown: Double
    /// Half-open only: the one trial session has been let through.
    private var isTrialInFlight = false

    /// A closed circuit. A threshold below 1 counts as 1; a negative or NaN
    /// cooldown as none.
    public init(failureThreshold: Int, cooldown: Double) {
        self.failureThreshold = max(1, failureThreshold)
        self.cooldown = cooldown > 0 ? cooldown : 0
    }

    /// Moves an open circuit whose cooldown has passed to half-open.
    ///
    /// Call it before `mayAttempt(now:)` (and when the timer armed at
    /// `openUntil` fires) so the `.halfOpened` transition is seen and logged.
    public mutating func advance(now: MonotonicInstant) -> Transition? {
        guard state == .open, let until = openUntil, now >= until else { return nil }
        state = .halfOpen
        openUntil = nil
        isTrialInFlight = false
        return .halfOpened
    }

    /// May a new session be attempted now? Closed: yes. Open: no. Half-open:
    /// yes for exactly one trial, which this call marks as in flight until
    /// `recordSuccess()` or `recordFailure(now:)`.
    ///
    /// An open circuit whose cooldown has passed is advanced first, so the
    /// answer never depends on whether the caller remembered `advance(now:)`;
    /// but then the `.halfOpened` transition is not reported, so call
    /// `advance(now:)` first.
    public mutating func mayAttempt(now: MonotonicInstant) -> Bool {
        _ = advance(now: now)
        switch state {
        case .closed:
            return true
        case .open:
            return false
        case .halfOpen:
            guard !isTrialInFlight else { return false }
            isTrialInFlight = true
            return true
        }
    }

    /// A session authenticated: the count resets and the circuit closes.
    ///
    /// From open too: a session that began before the circuit opened and
    /// then authenticated shows the provider works again.
    public mutating func recordSuccess() -> Transition? {
        consecutiveFailures = 0
        isTrialInFlight = false
        guard state != .closed else { return nil }
        state = .closed
        openUntil = nil
        return .closed
    }

    /// A session failed authentication (after its own retries). Opens a
    /// closed circuit at the threshold and reopens a half-open one at once,
    /// each with a cooldown counted from `now`. An open circuit stays open
    /// until its current cooldown ends: late failures of sessions that began
    /// before it opened do not extend it.
    public mutating func recordFailure(now: MonotonicInstant) -> Transition? {
        consecutiveFailures += 1
        switch state {
        case .closed where consecutiveFailures >= failureThreshold, .halfOpen:
            return open(now: now)
        case .closed, .open:
            return nil
        }
    }

    /// Applies a reloaded configuration. A running cooldown keeps its end;
    /// the new values apply from the next failure, so a lower threshold that
    /// the count already reaches opens the circuit at the next failure.
    public mutating func update(failureThreshold: Int, cooldown: Double) {
        self.failureThreshold = max(1, failureThreshold)
        self.cooldown = cooldown > 0 ? cooldown : 0
    }

    private mutating func open(now: MonotonicInstant) -> Transition {
        let until = now.adding(seconds: cooldown)
        state = .open
        openUntil = until
        isTrialInFlight = false
        return .opened(until: until)
    }
}
