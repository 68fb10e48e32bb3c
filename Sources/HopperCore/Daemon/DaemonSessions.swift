import Glibc

/// A provider's sessions, its circuit breaker and what its authentication last said.
struct ProviderPool {
    var breaker: CircuitBreaker
    /// After a session gives up authenticating, the next one waits until then.
    var nextOpening: MonotonicInstant?
    var sessions: [String: LiveSession] = [:]
    var lastAuthError: String?
    var authFailures = 0

    /// An idle session serving `owner`'s tasks: a session never serves two owners.
    func idle(for owner: UInt32?) -> LiveSession? {
        sessions.values.first { $0.owner == owner && $0.lifecycle.state == .idle && $0.task == nil }
    }
}

/// One session: an authenticated context (environment, token), and for
/// session-mode providers the live process that runs its tasks.
struct LiveSession {
    let id: String
    let provider: String
    /// The uid whose tasks it serves (nil: tasks accepted before owners were kept).
    let owner: UInt32?
    /// Whom its processes run as (`run_as: "owner"`); nil: the daemon's user.
    let user: UserAccount?
    var lifecycle: SessionLifecycle
    var auth: AuthenticationPolicy
    var process: SessionProcess?
    /// The provider's env and the token: what the session authenticated with.
    var context: [(String, String)] = []
    var task: TaskID?
    var closeReason: SessionLifecycle.CloseReason?
    var tasksRun = 0
}

/// Sessions (SPEC section 7): created on demand up to `max_sessions`,
/// authenticated with backoff behind a per-provider circuit breaker, reused,
/// warned and closed when idle, retired after `max_lifetime`.
extension Daemon {
    /// Whether a provider's tasks need a session (a session-mode process, or an authenticated context).
    func needsSession(_ provider: Provider) -> Bool { provider.mode == .session || provider.auth != nil }

    /// Whether a queued task of `providerName` can start now; when it cannot
    /// only for want of a session, a new one is opened if the pool and the
    /// circuit allow. Never touches `scheduler` (it runs inside its mutation).
    func canStart(_ lane: Lane) -> Bool {
        let providerName = lane.provider
        guard !pause.holds(providerName) else { return false }
        if let slurmProvider = config.providers[providerName], slurmProvider.mode == .slurm { return slurmCanStart(slurmProvider) }
        guard let provider = config.providers[providerName], needsSession(provider) else { return true }
        // An owner Hopper cannot run as fails at its start, with the reason.
        if runsAsOwner, let uid = lane.owner, account(uid) == nil { return true }
        var pool = pools[providerName] ?? ProviderPool(breaker: CircuitBreaker(failureThreshold: config.circuitFailureThreshold, cooldown: config.circuitCooldown))
        defer { pools[providerName] = pool }
        if pool.idle(for: lane.owner) != nil { return true }
        let now = MonotonicInstant.now()
        if let t = pool.breaker.advance(now: now) { announce(t, provider: providerName) }
        let opening = pool.sessions.values.filter { $0.lifecycle.state == .starting || $0.lifecycle.state == .authenticating }.count
        // One session opening at a time per provider: enough to serve the queue, never a storm.
        guard opening == 0, pool.sessions.count < provider.maxSessions, !shuttingDown else { return false }
        if let next = pool.nextOpening, next > now {
            schedule(at: next, .providerWake(providerName))
            return false
        }
        guard pool.breaker.mayAttempt(now: now) else {
            if let until = pool.breaker.openUntil { schedule(at: until, .providerWake(providerName)) }
            return false
        }
        let session = openSession(provider, owner: lane.owner, now: now)
        pool.sessions[session.id] = session
        return false
    }

    private func openSession(_ provider: Provider, owner: UInt32?, now: MonotonicInstant) -> LiveSession {
        let id = "\(provider.name)-\(idSuffixes.next())"
        var lifecycle = SessionLifecycle(createdAt: now, idleTimeout: config.sessionIdleTimeout,
                                         warningBeforeTimeout: config.sessionWarningBeforeTimeout, maxLifetime: config.sessionMaxLifetime)
        lifecycle.authenticating()
        var session = LiveSession(id: id, provider: provider.name, owner: owner,
                                  user: runsAsOwner ? owner.flatMap { account($0) } : nil, lifecycle: lifecycle,
                                  auth: AuthenticationPolicy(maxAttempts: config.authMaxAttempts, delays: config.authRetryDelay,
                                                             retryableExitCodes: provider.auth?.retryableExitCodes ?? []))
        session.context = provider.env
        events.append("session.started") { w in
            w.field("provider", provider.name)
            w.field("session", id)
            if let owner { w.field("owner_uid", Int64(owner)) }
        }
        log.info("session", "opening", [("provider", provider.name), ("session", id)] + (owner.map { [("owner_uid", "\($0)")] } ?? []))
        authenticate(provider, session: session, attempt: 1)
        published.changed = true
        return session
    }

    func announce(_ t: CircuitBreaker.Transition, provider: String) {
        let name: String
        switch t {
        case .opened: name = "circuit.open"
        case .halfOpened: name = "circuit.half_open"
        case .closed: name = "circuit.closed"
        }
        events.append(name) { w in w.field("provider", provider) }
        log.info("circuit", name, [("provider", provider)])
        published.changed = true
    }

    /// The environment of a session process or auth command; running as
    /// `user`, with its `HOME`, `USER` and `LOGNAME`.
    func sessionEnvironment(_ context: [(String, String)], user: UserAccount? = nil) -> [String] {
        var merged: [String: String] = [:]
        var order: [String] = []
        for (k, v) in baseEnvironment + Daemon.identity(user) + context + [("HOPPER_SPOOL", spool.path), (Daemon.runMarker, runID)] {
            if merged.updateValue(v, forKey: k) == nil { order.append(k) }
        }
        return order.map { "\($0)=\(merged[$0]!)" }
    }

    /// Arms the session's one timer, if it needs one now (see
    /// `SessionLifecycle.timerToArm`). The caller stores `session` back.
    func armTimer(_ session: inout LiveSession) {
        if let at = session.lifecycle.timerToArm() { schedule(at: at, .sessionTick(provider: session.provider, session: session.id)) }
    }

    /// Idle warnings and closes, when the session's timer armed at `armedAt` comes.
    func sessionTick(provider name: String, session id: String, armedAt: MonotonicInstant) {
        guard var session = pools[name]?.sessions[id], session.lifecycle.timerFired(armedAt: armedAt) else { return }
        let action = session.lifecycle.tick(now: MonotonicInstant.now())
        pools[name]!.sessions[id] = session
        switch action {
        case .warnIdle?:
            events.append("session.idle_warning") { w in w.field("provider", name); w.field("session", id) }
            published.changed = true
        case .close(let reason)?:
            closeSession(provider: name, session: id, reason: reason)
        case nil:
            break
        }
        if var session = pools[name]?.sessions[id] {
            armTimer(&session)
            pools[name]!.sessions[id] = session
        }
    }

    func closeSession(provider name: String, session id: String, reason: SessionLifecycle.CloseReason) {
        guard var session = pools[name]?.sessions[id] else { return }
        session.lifecycle.closing(reason)
        session.closeReason = session.closeReason ?? reason
        if let process = session.process {
            pools[name]!.sessions[id] = session
            process.signal(.term)
            schedule(after: config.commandKillGrace, .sessionKill(provider: name, session: id))
        } else {
            // An exec-mode context has no process: it is gone at once.
            pools[name]!.sessions[id] = nil
            events.append("session.closed") { w in w.field("provider", name); w.field("session", id); w.field("reason", reason.rawValue) }
        }
        published.changed = true
    }

    /// A session process died (closed by us, or crashed).
    func sessionExited(provider name: String, session id: String) {
        guard let session = pools[name]?.sessions[id] else { return }
        pools[name]!.sessions[id] = nil
        let reason = session.closeReason?.rawValue ?? "crashed"
        events.append("session.closed") { w in w.field("provider", name); w.field("session", id); w.field("reason", reason) }
        if reason == "crashed" { log.warning("session", "session process exited", [("provider", name), ("session", id)]) }
        published.changed = true
    }

    /// Every session goes, at shutdown, and so does any authentication in flight.
    func closeAllSessions() {
        AuthRunner.killAll()
        for (name, pool) in pools {
            for (id, session) in pool.sessions {
                if let process = session.process {
                    process.signal(.kill)
                }
                events.append("session.closed") { w in w.field("provider", name); w.field("session", id); w.field("reason", "shutdown") }
            }
            pools[name]!.sessions.removeAll()
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

extension Daemon {
    /// Adds a value to the mask of records, events, logs and outputs.
    func addSecret(_ value: String) {
        var m = mask
        m.add(value)
        guard m != mask else { return }
        mask = m
        store.mask = m
        events.mask = m
        log.mask = m
    }

    /// Values of the variables configured providers name in `secrets`, from
    /// the daemon's environment or the provider's `env`.
    func collectConfiguredSecrets() {
        let environment = Dictionary(baseEnvironment, uniquingKeysWith: { _, last in last })
        for provider in config.providers.values {
            let own = Dictionary(provider.env, uniquingKeysWith: { _, last in last })
            for name in provider.secrets {
                if let value = own[name] ?? environment[name] { addSecret(value) }
            }
        }
    }
}

extension Daemon {
    /// After a reload: circuits take the new threshold and cooldown, open
    /// sessions the new idle and lifetime limits.
    func applyReloadedSessionSettings() {
        for (name, var pool) in pools {
            pool.breaker.update(failureThreshold: config.circuitFailureThreshold, cooldown: config.circuitCooldown)
            for (id, var session) in pool.sessions {
                session.lifecycle.update(idleTimeout: config.sessionIdleTimeout, warningBeforeTimeout: config.sessionWarningBeforeTimeout,
                                         maxLifetime: config.sessionMaxLifetime)
                armTimer(&session)
                pool.sessions[id] = session
            }
            pools[name] = pool
        }
    }
}
