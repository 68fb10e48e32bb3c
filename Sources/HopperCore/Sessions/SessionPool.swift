/// Every provider's sessions, circuit breaker and last authentication news
/// (SPEC section 7), as one pure value: the daemon hands it events and
/// carries out the actions it returns, in order. No clock (every `now` is
/// passed in), no process, no file: a session's process stays with the
/// daemon, keyed by the session's id.
///
/// A session is created on demand for a lane (provider and owner) with
/// queued tasks and no idle session, authenticated with backoff behind its
/// provider's circuit breaker, reused by that lane's tasks only, warned and
/// closed when idle, retired after `max_lifetime`.
///
/// | event                 | the pool                                                   | actions                                          |
/// |-----------------------|------------------------------------------------------------|--------------------------------------------------|
/// | `open` (lanes waiting)| one new session per lane lacking one, when its provider has none opening, is under `max_sessions`, past its pause after a failure, and its circuit allows | `.opened`, `.authenticate`; otherwise `.wake` at the instant it may (asked once) |
/// | `authenticated`       | session mode: waits for the process; else ready            | `.startProcess`, or `.ready` + `.circuit`         |
/// | `processStarted`      | ready; the circuit records a success                       | `.ready`, `.circuit`, `.tick`                    |
/// | `processFailed`       | the session is dropped; the circuit records a failure      | `.closed(crashed)`, `.circuit`                   |
/// | `authFailed`          | retry after the policy's delay, or give up: the session is dropped, the circuit records a failure, the next session waits like a retry | `.authFailed`, then `.retryAuth`, or `.gaveUp`, `.closed(auth)`, `.circuit`, `.wake` |
/// | `assign`              | the lane's idle session turns busy with the task           | (the session, returned)                          |
/// | `release`             | idle again, or retired past its lifetime                   | `.tick`, or those of `close`                     |
/// | `tick`                | its one armed timer came: an idle warning, or a close      | `.warnIdle`, or those of `close`; `.tick`        |
/// | `close`               | closing: a process is asked to end; a context goes at once | `.terminate`, or `.closed`                       |
/// | `exited`              | the session is gone                                        | `.closed` (its close reason, else crashed)       |
/// | `closeAll`            | every session gone                                         | `.kill` per process, `.closed(shutdown)`         |
/// | `wake`                | an open circuit whose cooldown is over turns half-open     | `.circuit`                                       |
/// | `runReportedAuthFailure` | a task's CLI said it is not logged in: a circuit failure, the session closed (auth), the next opening paused | `.circuit`, `.wake`, those of `close` |
struct SessionPool: Sendable {
    /// What every session and circuit is configured with.
    struct Settings: Sendable, Equatable {
        var idleTimeout: Double
        var warningBeforeTimeout: Double
        var maxLifetime: Double
        var authMaxAttempts: Int
        var authRetryDelay: Backoff
        var circuitFailureThreshold: Int
        var circuitCooldown: Double

        init(_ c: Configuration) {
            (idleTimeout, warningBeforeTimeout, maxLifetime) = (c.sessionIdleTimeout, c.sessionWarningBeforeTimeout, c.sessionMaxLifetime)
            (authMaxAttempts, authRetryDelay) = (c.authMaxAttempts, c.authRetryDelay)
            (circuitFailureThreshold, circuitCooldown) = (c.circuitFailureThreshold, c.circuitCooldown)
        }
    }

    /// One session: an authenticated context (the provider's environment and
    /// a token), and for session-mode providers a live process the daemon holds.
    struct Session: Sendable {
        let id: String
        let provider: String
        /// The uid whose tasks it serves (nil: tasks accepted before owners were kept).
        let owner: UInt32?
        /// Whether a session process runs its tasks (session mode) or it is a context only.
        let hasProcess: Bool
        var lifecycle: SessionLifecycle
        var auth: AuthenticationPolicy
        /// The provider's env and the token: what the session authenticated with.
        var context: [(String, String)]
        var task: TaskID?
        var closeReason: SessionLifecycle.CloseReason?
        var tasksRun = 0
        /// The agent conversation it holds (its last task's `agent_session`).
        var conversation: String?
    }

    /// One provider's sessions and circuit.
    struct ProviderSessions: Sendable {
        var breaker: CircuitBreaker
        /// After a session gives up authenticating, the next one waits until then.
        var nextOpening: MonotonicInstant?
        /// The wake already asked for, so a waiting lane asks once, not every turn.
        var wakeAsked: MonotonicInstant?
        var sessions: [String: Session] = [:]
        var lastAuthError: String?
        var authFailures = 0

        /// An idle session serving `owner`'s tasks: a session never serves two owners.
        func idle(for owner: UInt32?) -> Session? {
            sessions.values.first { $0.owner == owner && $0.lifecycle.state == .idle && $0.task == nil }
        }

        var opening: Int {
            sessions.values.count { $0.lifecycle.state == .starting || $0.lifecycle.state == .authenticating }
        }
    }

    enum Action: Sendable {
        /// A session was created: write `session.started`.
        case opened(Session)
        /// Run authentication attempt `attempt` for the session.
        case authenticate(Session, attempt: Int)
        /// Authenticated, session mode: start its process, then report
        /// `processStarted` or `processFailed`.
        case startProcess(Session)
        /// Write `session.ready`.
        case ready(Session)
        /// Call `tick` for the session at this instant.
        case tick(provider: String, session: String, at: MonotonicInstant)
        /// Write `session.idle_warning`.
        case warnIdle(provider: String, session: String)
        /// Ask the session's process to end (SIGTERM), and kill it after the grace.
        case terminate(provider: String, session: String)
        /// Kill the session's process now (shutdown).
        case kill(provider: String, session: String)
        /// The session is gone: write `session.closed`.
        case closed(provider: String, session: String, reason: String)
        /// Write the circuit's transition.
        case circuit(provider: String, CircuitBreaker.Transition)
        /// Write `auth.failed` for one failed attempt.
        case authFailed(provider: String, session: String, retryable: Bool, message: String)
        /// Run the next authentication attempt after `delay` seconds.
        case retryAuth(provider: String, session: String, after: Double)
        /// A session gave up authenticating: say why in the log.
        case gaveUp(provider: String, session: String, summary: String)
        /// Call `wake` for the provider at this instant.
        case wake(provider: String, at: MonotonicInstant)
    }

    private(set) var providers: [String: ProviderSessions] = [:]
    private(set) var settings: Settings
    private var ids = IDSuffixGenerator()

    init(settings: Settings) { self.settings = settings }

    subscript(provider: String) -> ProviderSessions? { providers[provider] }

    func session(_ provider: String, _ id: String) -> Session? { providers[provider]?.sessions[id] }

    /// Whether `lane` has an idle session for its next task.
    func hasIdle(_ lane: Lane) -> Bool { providers[lane.provider]?.idle(for: lane.owner) != nil }

    private func fresh() -> ProviderSessions {
        ProviderSessions(breaker: CircuitBreaker(failureThreshold: settings.circuitFailureThreshold, cooldown: settings.circuitCooldown))
    }

    // MARK: opening

    /// Opens sessions for lanes with queued tasks and no idle session: at most
    /// `budget` in all (the free workers), one opening at a time per provider.
    mutating func open(for lanes: [Lane], providers configured: [String: Provider], budget: Int,
                       now: MonotonicInstant, wallNow: Timestamp) -> [Action] {
        var actions: [Action] = []
        var left = budget
        for lane in lanes where left > 0 {
            guard let provider = configured[lane.provider] else { continue }
            var p = providers[lane.provider] ?? fresh()
            defer { providers[lane.provider] = p }
            if p.idle(for: lane.owner) != nil { continue }
            if let t = p.breaker.advance(now: now) { actions.append(.circuit(provider: provider.name, t)) }
            guard p.opening == 0, p.sessions.count < provider.maxSessions else { continue }
            if let next = p.nextOpening, next > now {
                actions += askWake(&p, provider.name, at: next)
                continue
            }
            guard p.breaker.mayAttempt(now: now) else {
                if let until = p.breaker.openUntil { actions += askWake(&p, provider.name, at: until) }
                continue
            }
            var lifecycle = SessionLifecycle(createdAt: now, idleTimeout: settings.idleTimeout,
                                             warningBeforeTimeout: settings.warningBeforeTimeout, maxLifetime: settings.maxLifetime)
            lifecycle.authenticating()
            let session = Session(id: "\(provider.name)-\(ids.next(now: wallNow))", provider: provider.name, owner: lane.owner,
                                  hasProcess: provider.mode == .session, lifecycle: lifecycle,
                                  auth: AuthenticationPolicy(maxAttempts: settings.authMaxAttempts, delays: settings.authRetryDelay,
                                                             retryableExitCodes: provider.auth?.retryableExitCodes ?? []),
                                  context: provider.env)
            p.sessions[session.id] = session
            left -= 1
            actions += [.opened(session), .authenticate(session, attempt: 1)]
        }
        return actions
    }

    private func askWake(_ p: inout ProviderSessions, _ name: String, at: MonotonicInstant) -> [Action] {
        if p.wakeAsked == at { return [] }
        p.wakeAsked = at
        return [.wake(provider: name, at: at)]
    }

    /// A provider's timer came: an open circuit past its cooldown half-opens.
    mutating func wake(_ provider: String, now: MonotonicInstant) -> [Action] {
        guard var p = providers[provider] else { return [] }
        p.wakeAsked = nil
        let t = p.breaker.advance(now: now)
        providers[provider] = p
        return t.map { [.circuit(provider: provider, $0)] } ?? []
    }

    // MARK: authentication

    /// An authentication attempt succeeded (`token`: what the token command printed).
    mutating func authenticated(_ provider: String, _ id: String, token: (name: String, value: String)?, now: MonotonicInstant) -> [Action] {
        guard var s = providers[provider]?.sessions[id] else { return [] }
        if let token { s.context.append(token) }
        _ = s.auth.record(.success)
        providers[provider]!.sessions[id] = s
        // Ready only once its process is up: one that cannot start is a failure, not a success.
        return s.hasProcess ? [.startProcess(s)] : becomeReady(provider, id, now: now)
    }

    mutating func processStarted(_ provider: String, _ id: String, now: MonotonicInstant) -> [Action] {
        becomeReady(provider, id, now: now)
    }

    private mutating func becomeReady(_ provider: String, _ id: String, now: MonotonicInstant) -> [Action] {
        guard var p = providers[provider], var s = p.sessions[id] else { return [] }
        var actions: [Action] = []
        if let t = p.breaker.recordSuccess() { actions.append(.circuit(provider: provider, t)) }
        p.lastAuthError = nil
        s.lifecycle.ready(now: now)
        p.sessions[id] = s
        providers[provider] = p
        actions.append(.ready(s))
        return actions + armTimer(provider, id)
    }

    /// The session's process could not be started.
    mutating func processFailed(_ provider: String, _ id: String, message: String, now: MonotonicInstant) -> [Action] {
        guard var p = providers[provider], p.sessions[id] != nil else { return [] }
        p.lastAuthError = message
        p.sessions[id] = nil
        var actions: [Action] = [.closed(provider: provider, session: id, reason: SessionLifecycle.CloseReason.crashed.rawValue)]
        if let t = p.breaker.recordFailure(now: now) { actions.append(.circuit(provider: provider, t)) }
        providers[provider] = p
        return actions
    }

    /// An authentication attempt failed: `attempt` as the policy judges it,
    /// `message` as `auth.failed` reports it.
    mutating func authFailed(_ provider: String, _ id: String, attempt: AuthenticationPolicy.AttemptResult, message: String,
                             now: MonotonicInstant) -> [Action] {
        guard var p = providers[provider], var s = p.sessions[id] else { return [] }
        defer { providers[provider] = p }
        let decision = s.auth.record(attempt)
        var actions: [Action] = [.authFailed(provider: provider, session: id, retryable: s.auth.isRetryable(attempt), message: message)]
        p.authFailures += 1
        if case .retry(let delay, _) = decision {
            p.sessions[id] = s
            return actions + [.retryAuth(provider: provider, session: id, after: delay)]
        }
        var summary = message
        if case .gaveUp(_, let s) = decision { summary = s }
        p.lastAuthError = summary
        p.sessions[id] = nil
        actions += [.gaveUp(provider: provider, session: id, summary: summary),
                    .closed(provider: provider, session: id, reason: SessionLifecycle.CloseReason.auth.rawValue)]
        if let t = p.breaker.recordFailure(now: now) { actions.append(.circuit(provider: provider, t)) }
        // No storm of sessions failing back to back: the next waits like a retry would.
        let next = now.adding(seconds: settings.authRetryDelay.delay(forRetry: p.breaker.consecutiveFailures - 1))
        p.nextOpening = next
        return actions + askWake(&p, provider, at: p.breaker.openUntil ?? next)
    }

    /// A task's run said its CLI is not logged in (SPEC section 7a): a
    /// failure for the provider's circuit, like a session that could not
    /// authenticate; the session it ran in, if still alive, closes (reason
    /// `auth`), and the next session waits like a retry would.
    mutating func runReportedAuthFailure(_ provider: String, session: String?, message: String, now: MonotonicInstant) -> [Action] {
        var p = providers[provider] ?? fresh()
        p.authFailures += 1
        p.lastAuthError = message
        var actions: [Action] = []
        if let t = p.breaker.recordFailure(now: now) { actions.append(.circuit(provider: provider, t)) }
        let next = now.adding(seconds: settings.authRetryDelay.delay(forRetry: p.breaker.consecutiveFailures - 1))
        p.nextOpening = next
        actions += askWake(&p, provider, at: p.breaker.openUntil ?? next)
        providers[provider] = p
        if let session { actions += close(provider, session, reason: .auth) }
        return actions
    }

    /// A task of the provider's CLI succeeded: its login works, so a circuit
    /// that counted run-reported login failures closes and the pause ends.
    mutating func runSucceeded(_ provider: String) -> [Action] {
        guard var p = providers[provider], p.breaker.consecutiveFailures > 0 || p.breaker.state != .closed || p.nextOpening != nil else { return [] }
        var actions: [Action] = []
        if let t = p.breaker.recordSuccess() { actions.append(.circuit(provider: provider, t)) }
        p.nextOpening = nil
        p.lastAuthError = nil
        providers[provider] = p
        return actions
    }

    /// For a provider whose tasks need no session: whether its circuit and
    /// its pause after a reported login failure let a task start now.
    func mayRunWithoutSession(_ provider: String, now: MonotonicInstant) -> Bool {
        guard let p = providers[provider] else { return true }
        if p.breaker.state == .open, let until = p.breaker.openUntil, until > now { return false }
        if let next = p.nextOpening, next > now { return false }
        return true
    }

    // MARK: tasks

    /// The session of `lane` that holds agent conversation `conversation`, in whatever state.
    func holder(of conversation: String, in lane: Lane) -> Session? {
        providers[lane.provider]?.sessions.values.first { $0.owner == lane.owner && $0.conversation == conversation }
    }

    /// Gives `task` the lane's idle session, if it has one (the one holding
    /// `conversation`, when given); it turns busy.
    mutating func assign(_ lane: Lane, task: TaskID, conversation: String? = nil, now: MonotonicInstant) -> Session? {
        let chosen = conversation.map { holder(of: $0, in: lane) } ?? providers[lane.provider]?.idle(for: lane.owner)
        guard var s = chosen, s.lifecycle.state == .idle, s.task == nil else { return nil }
        s.task = task
        s.tasksRun += 1
        s.lifecycle.taskStarted(now: now)
        providers[lane.provider]!.sessions[s.id] = s
        return s
    }

    /// The session's task is over: idle again, or retired.
    mutating func release(_ provider: String, _ id: String, conversation: String? = nil, now: MonotonicInstant) -> [Action] {
        guard var s = providers[provider]?.sessions[id] else { return [] }
        s.task = nil
        if let conversation { s.conversation = conversation }
        let action = s.lifecycle.taskFinished(now: now)
        providers[provider]!.sessions[id] = s
        if case .close(let reason)? = action { return close(provider, id, reason: reason) }
        return armTimer(provider, id)
    }

    /// Idle warnings and closes, when the `.tick` armed at `armedAt` comes.
    /// A session has one timer armed at a time (see `SessionLifecycle`): a
    /// tick superseded by an earlier one is ignored.
    mutating func tick(_ provider: String, _ id: String, armedAt: MonotonicInstant, now: MonotonicInstant) -> [Action] {
        guard var s = providers[provider]?.sessions[id], s.lifecycle.timerFired(armedAt: armedAt) else { return [] }
        let action = s.lifecycle.tick(now: now)
        providers[provider]!.sessions[id] = s
        var actions: [Action] = []
        switch action {
        case .warnIdle?: actions.append(.warnIdle(provider: provider, session: id))
        case .close(let reason)?: actions += close(provider, id, reason: reason)
        case nil: break
        }
        return actions + armTimer(provider, id)
    }

    /// The session's timer, when it needs one armed (at most one at a time:
    /// tasks that move its deadline later leave the armed one in place).
    private mutating func armTimer(_ provider: String, _ id: String) -> [Action] {
        guard var s = providers[provider]?.sessions[id], let at = s.lifecycle.timerToArm() else { return [] }
        providers[provider]!.sessions[id] = s
        return [.tick(provider: provider, session: id, at: at)]
    }

    // MARK: closing

    /// Closes a session: its process is asked to end (the session goes when
    /// it has); a context without a process goes at once.
    mutating func close(_ provider: String, _ id: String, reason: SessionLifecycle.CloseReason) -> [Action] {
        guard var s = providers[provider]?.sessions[id] else { return [] }
        s.lifecycle.closing(reason)
        s.closeReason = s.closeReason ?? reason
        if s.hasProcess {
            providers[provider]!.sessions[id] = s
            return [.terminate(provider: provider, session: id)]
        }
        providers[provider]!.sessions[id] = nil
        return [.closed(provider: provider, session: id, reason: reason.rawValue)]
    }

    /// A session's process ended: closed by Hopper, or crashed.
    mutating func exited(_ provider: String, _ id: String) -> [Action] {
        guard let s = providers[provider]?.sessions[id] else { return [] }
        providers[provider]!.sessions[id] = nil
        return [.closed(provider: provider, session: id, reason: (s.closeReason ?? .crashed).rawValue)]
    }

    /// Shutdown: every session goes.
    mutating func closeAll() -> [Action] {
        var actions: [Action] = []
        for name in providers.keys.sorted() {
            for id in providers[name]!.sessions.keys.sorted() {
                if providers[name]!.sessions[id]!.hasProcess { actions.append(.kill(provider: name, session: id)) }
                actions.append(.closed(provider: name, session: id, reason: SessionLifecycle.CloseReason.shutdown.rawValue))
            }
            providers[name]!.sessions.removeAll()
        }
        return actions
    }

    /// A reload: circuits take the new threshold and cooldown, open sessions
    /// the new idle and lifetime limits.
    mutating func update(_ new: Settings) -> [Action] {
        settings = new
        var actions: [Action] = []
        for name in providers.keys.sorted() {
            providers[name]!.breaker.update(failureThreshold: new.circuitFailureThreshold, cooldown: new.circuitCooldown)
            for id in providers[name]!.sessions.keys.sorted() {
                providers[name]!.sessions[id]!.lifecycle.update(idleTimeout: new.idleTimeout, warningBeforeTimeout: new.warningBeforeTimeout,
                                                               maxLifetime: new.maxLifetime)
                actions += armTimer(name, id)
            }
        }
        return actions
    }
}
