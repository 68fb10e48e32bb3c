/// One session's states and timers (SPEC section 7): idle timeout with a
/// warning before it, and retirement past the maximum lifetime.
///
/// ```
/// starting → authenticating → idle ⇄ busy
///     any state → closing   (dropped once its process is gone)
/// ```
///
/// An idle session is warned once `idleTimeout - warningBeforeTimeout`
/// seconds after its last activity, and closed `idleTimeout` seconds after
/// it; a task clears the warning and the next idle period starts when the
/// task ends. A session older than `maxLifetime` is retired: when idle at
/// once, when busy after its current task. Busy sessions are never timed out
/// here (the task's own timeout bounds them).
///
/// A pure value: no clock, no timer. The owner calls `tick(now:)` at
/// `nextDeadline()` (or any time: early ticks return nil) and carries out
/// the action. Returning `.close` moves the session to `closing`, so each
/// action is returned once. Once `closing`, nothing changes the state: the
/// session's owner drops it when its process has gone.
///
/// The owner holds one timer per session, armed where `timerToArm()` says
/// and reported with `timerFired(armedAt:)`. Each task moves the deadline
/// later; the timer already armed stays, comes early, ticks (nothing is
/// due) and is armed again at the deadline of then. So a session that runs
/// task after task costs its owner one timer, not one per task.
public struct SessionLifecycle: Sendable {
    public enum State: String, Sendable { case starting, authenticating, idle, busy, closing }
    /// The `reason` of `session.closed`.
    public enum CloseReason: String, Sendable { case idle, lifetime, timeout, crashed, auth, shutdown }
    public enum Action: Sendable, Equatable {
        /// Write `session.idle_warning`.
        case warnIdle
        /// Close the session; the state is already `closing`.
        case close(CloseReason)
    }

    public let createdAt: MonotonicInstant
    public private(set) var idleTimeout: Double
    public private(set) var warningBeforeTimeout: Double
    public private(set) var maxLifetime: Double

    public private(set) var state: State = .starting
    /// The idle warning was sent and no task has cleared it since.
    public private(set) var warned = false
    /// When the session last became idle or started a task; `createdAt` before that.
    public private(set) var lastActivity: MonotonicInstant
    /// Why the session is closing or closed.
    public private(set) var closeReason: CloseReason?
    /// Where the owner's one timer for this session is armed; nil: none.
    public private(set) var armedTimer: MonotonicInstant?

    /// A warning of 0 or less is never sent.
    public init(createdAt: MonotonicInstant, idleTimeout: Double, warningBeforeTimeout: Double, maxLifetime: Double) {
        self.createdAt = createdAt
        self.idleTimeout = idleTimeout
        self.warningBeforeTimeout = warningBeforeTimeout
        self.maxLifetime = maxLifetime
        self.lastActivity = createdAt
    }

    /// The process is up and its authentication is running.
    public mutating func authenticating() {
        guard state == .starting else { return }
        state = .authenticating
    }

    /// Authenticated: idle from `now`, the idle timer starts.
    public mutating func ready(now: MonotonicInstant) {
        guard state == .starting || state == .authenticating else { return }
        state = .idle
        warned = false
        lastActivity = now
    }

    /// A task starts in the session: busy, the warning is cleared.
    public mutating func taskStarted(now: MonotonicInstant) {
        guard state == .idle else { return }
        state = .busy
        warned = false
        lastActivity = now
    }

    /// The session's task ended: idle again from `now`, or `.close(.lifetime)`
    /// when the session has outlived `maxLifetime` (it then is `closing`).
    public mutating func taskFinished(now: MonotonicInstant) -> Action? {
        guard state == .busy else { return nil }
        lastActivity = now
        if now >= lifetimeEnd { return close(.lifetime) }
        state = .idle
        return nil
    }

    /// The owner is closing the session (`reason` is the first one given).
    public mutating func closing(_ reason: CloseReason) {
        guard state != .closing else { return }
        state = .closing
        closeReason = reason
    }

    /// Time has passed: the action due at `now`, if any. Only idle sessions
    /// get one: `.warnIdle` once per idle period, then `.close(.idle)`, or
    /// `.close(.lifetime)` once past `maxLifetime` (whichever deadline came
    /// first; a close that is due makes a warning not yet sent pointless).
    public mutating func tick(now: MonotonicInstant) -> Action? {
        guard state == .idle else { return nil }
        let (closeAt, reason) = closeDeadline
        if now >= closeAt { return close(reason) }
        if let warnAt = pendingWarning, now >= warnAt {
            warned = true
            return .warnIdle
        }
        return nil
    }

    /// The earliest instant at which `tick(now:)` returns an action; nil when
    /// no action can come without another event (not idle).
    public func nextDeadline() -> MonotonicInstant? {
        guard state == .idle else { return nil }
        return pendingWarning ?? closeDeadline.at
    }

    /// Where the owner must arm its timer now, if anywhere: at
    /// `nextDeadline()`, unless the timer already armed comes at or before
    /// that (it will tick early, find nothing due, and ask again). A timer
    /// armed earlier than one still to come supersedes it.
    public mutating func timerToArm() -> MonotonicInstant? {
        guard let at = nextDeadline() else { return nil }
        if let armed = armedTimer, armed <= at { return nil }
        armedTimer = at
        return at
    }

    /// The owner's timer armed at `instant` came. True when it is the
    /// session's timer (the owner then ticks and asks `timerToArm()` again);
    /// false for one that an earlier timer superseded, to be ignored.
    public mutating func timerFired(armedAt instant: MonotonicInstant) -> Bool {
        guard armedTimer == instant else { return false }
        armedTimer = nil
        return true
    }

    /// Applies a reloaded configuration; the current idle period and lifetime
    /// are measured against the new values from now on.
    public mutating func update(idleTimeout: Double, warningBeforeTimeout: Double, maxLifetime: Double) {
        self.idleTimeout = idleTimeout
        self.warningBeforeTimeout = warningBeforeTimeout
        self.maxLifetime = maxLifetime
    }

    private var lifetimeEnd: MonotonicInstant { createdAt.adding(seconds: maxLifetime) }

    /// When an idle session closes, and why.
    private var closeDeadline: (at: MonotonicInstant, reason: CloseReason) {
        let idleEnd = lastActivity.adding(seconds: idleTimeout)
        return lifetimeEnd <= idleEnd ? (lifetimeEnd, .lifetime) : (idleEnd, .idle)
    }

    /// When the idle warning is due, if it is still to be sent before the close.
    private var pendingWarning: MonotonicInstant? {
        guard !warned, warningBeforeTimeout > 0 else { return nil }
        let warnAt = lastActivity.adding(seconds: max(0, idleTimeout - warningBeforeTimeout))
        return warnAt < closeDeadline.at ? warnAt : nil
    }

    private mutating func close(_ reason: CloseReason) -> Action {
        state = .closing
        closeReason = reason
        return .close(reason)
    }
}
