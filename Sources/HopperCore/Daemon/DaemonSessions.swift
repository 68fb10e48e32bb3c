import Glibc

/// A provider's sessions, its circuit breaker and what its authentication last said.
struct ProviderPool {
    var breaker: CircuitBreaker
    /// After a session gives up authenticating, the next one waits until then.
    var nextOpening: MonotonicInstant?
    var sessions: [String: LiveSession] = [:]
    var lastAuthError: String?
    var authFailures = 0

    var idle: LiveSession? { sessions.values.first { $0.lifecycle.state == .idle && $0.task == nil } }
}

/// One session: an authenticated context (environment, token), and for
/// session-mode providers the live process that runs its tasks.
struct LiveSession {
    let id: String
    let provider: String
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
    func canStart(_ providerName: String) -> Bool {
        guard let provider = config.providers[providerName], needsSession(provider) else { return true }
        var pool = pools[providerName] ?? ProviderPool(breaker: CircuitBreaker(failureThreshold: config.circuitFailureThreshold, cooldown: config.circuitCooldown))
        defer { pools[providerName] = pool }
        if pool.idle != nil { return true }
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
        let session = openSession(provider, now: now)
        pool.sessions[session.id] = session
        return false
    }

    private func openSession(_ provider: Provider, now: MonotonicInstant) -> LiveSession {
        let id = "\(provider.name)-\(idSuffixes.next())"
        var lifecycle = SessionLifecycle(createdAt: now, idleTimeout: config.sessionIdleTimeout,
                                         warningBeforeTimeout: config.sessionWarningBeforeTimeout, maxLifetime: config.sessionMaxLifetime)
        lifecycle.authenticating()
        var session = LiveSession(id: id, provider: provider.name, lifecycle: lifecycle,
                                  auth: AuthenticationPolicy(maxAttempts: config.authMaxAttempts, delays: config.authRetryDelay,
                                                             retryableExitCodes: provider.auth?.retryableExitCodes ?? []))
        session.context = provider.env
        events.append("session.started") { w in w.field("provider", provider.name); w.field("session", id) }
        log.info("session", "opening", [("provider", provider.name), ("session", id)])
        authenticate(provider, sessionID: id, attempt: 1)
        published.changed = true
        return session
    }

    /// One authentication attempt: the token command, then the auth command.
    func authenticate(_ provider: Provider, sessionID: String, attempt: Int) {
        guard let auth = provider.auth, auth.command != nil || auth.tokenCommand != nil else {
            queue.post(.authStep(provider: provider.name, session: sessionID, step: .done(token: nil)))
            return
        }
        events.append("auth.attempt") { w in w.field("provider", provider.name); w.field("session", sessionID); w.field("attempt", attempt) }
        let env = sessionEnvironment(provider.env)
        let queue = self.queue
        let timeout = config.authTimeout
        let name = provider.name
        let runCommand: @Sendable (String?) -> Void = { token in
            guard let command = auth.command else {
                queue.post(.authStep(provider: name, session: sessionID, step: .done(token: token)))
                return
            }
            let withToken = env + (token.map { ["\(auth.tokenEnv!)=\($0)"] } ?? [])
            AuthRunner.run(command, environment: withToken, timeout: timeout, workingDirectory: provider.cwd) { outcome in
                if outcome.status == .exited(0) && !outcome.timedOut {
                    queue.post(.authStep(provider: name, session: sessionID, step: .done(token: token)))
                } else {
                    queue.post(.authStep(provider: name, session: sessionID, step: .failed(outcome, token: token)))
                }
            }
        }
        if let tokenCommand = auth.tokenCommand {
            AuthRunner.run(tokenCommand, environment: env, timeout: timeout, workingDirectory: provider.cwd) { outcome in
                guard outcome.status == .exited(0), !outcome.timedOut else {
                    return queue.post(.authStep(provider: name, session: sessionID, step: .failed(outcome, token: nil)))
                }
                runCommand(outcome.stdout.trimmingWhitespace)
            }
        } else {
            runCommand(nil)
        }
    }

    /// The result of one authentication attempt arrived.
    func authenticationStep(provider name: String, session id: String, step: AuthStep) {
        guard var pool = pools[name], var session = pool.sessions[id], let provider = config.providers[name] else { return }
        defer { pools[name] = pool }
        let now = MonotonicInstant.now()
        switch step {
        case .done(let token):
            if let token, let tokenEnv = provider.auth?.tokenEnv {
                session.context.append((tokenEnv, token))
                addSecret(token)
            }
            _ = session.auth.record(.success)
            if provider.mode == .session {
                let queue = self.queue
                do {
                    session.process = try SessionProcess.start(
                        id: id, provider: provider, environment: sessionEnvironment(session.context),
                        workingDirectory: provider.cwd) { status in queue.post(.sessionExited(provider: name, session: id, status)) }
                } catch {
                    pool.lastAuthError = "cannot start \(provider.command[0]): \(error.errno)"
                    log.error("session", "cannot start the session process", [("provider", name), ("error", "\(error)")])
                    pool.sessions[id] = nil
                    events.append("session.closed") { w in w.field("provider", name); w.field("session", id); w.field("reason", "crashed") }
                    if let t = pool.breaker.recordFailure(now: now) { announce(t, provider: name) }
                    return
                }
            }
            // Ready only now: a session whose process cannot start is a failure, not a success.
            if let t = pool.breaker.recordSuccess() { announce(t, provider: name) }
            pool.lastAuthError = nil
            session.lifecycle.ready(now: now)
            events.append("session.ready") { w in w.field("provider", name); w.field("session", id) }
            pool.sessions[id] = session
            scheduleTick(session)
        case .failed(let outcome, let token):
            // Masked before anything below can write it.
            if let token { addSecret(token) }
            let message = Daemon.describe(outcome)
            let exitCode = outcome.status.flatMap { if case .exited(let c) = $0 { c } else { nil } }
            let attempt = AuthenticationPolicy.AttemptResult.failed(exitCode: exitCode, timedOut: outcome.timedOut, message: Daemon.detail(outcome))
            let decision = session.auth.record(attempt)
            let retryable = session.auth.isRetryable(attempt)
            events.append("auth.failed") { w in
                w.field("provider", name); w.field("session", id); w.field("retryable", retryable); w.field("message", message)
            }
            pool.authFailures += 1
            if case .retry(let delay, _) = decision {
                pool.sessions[id] = session
                schedule(after: delay, .authRetry(provider: name, session: id))
            } else {
                var summary = message
                if case .gaveUp(_, let s) = decision { summary = s }
                pool.lastAuthError = summary
                log.warning("auth", "authentication failed", [("provider", name), ("session", id), ("error", summary)])
                pool.sessions[id] = nil
                events.append("session.closed") { w in w.field("provider", name); w.field("session", id); w.field("reason", "auth") }
                if let t = pool.breaker.recordFailure(now: now) { announce(t, provider: name) }
                // No storm of sessions failing back to back: the next waits like a retry would.
                let pause = config.authRetryDelay.delay(forRetry: pool.breaker.consecutiveFailures - 1)
                pool.nextOpening = now.adding(seconds: pause)
                schedule(at: pool.breaker.openUntil ?? pool.nextOpening!, .providerWake(name))
            }
        }
        published.changed = true
    }

    /// What the command itself said: its last line on stderr, or why it could not run.
    static func detail(_ o: AuthRunner.Outcome) -> String {
        o.spawnError ?? (o.stderr.trimmingWhitespace.split(separator: "\n").last.map(String.init) ?? "")
    }

    static func describe(_ o: AuthRunner.Outcome) -> String {
        if let e = o.spawnError { return e }
        if o.timedOut { return "timed out" }
        let reason = detail(o)
        switch o.status {
        case .exited(let c)?: return "exited with status \(c)" + (reason.isEmpty ? "" : ": " + reason)
        case .signaled(let s)?: return "killed by \(s.name)"
        case nil: return "did not finish"
        }
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

    /// The environment of a session process or auth command.
    func sessionEnvironment(_ context: [(String, String)]) -> [String] {
        var merged: [String: String] = [:]
        var order: [String] = []
        for (k, v) in baseEnvironment + context + [("HOPPER_SPOOL", spool.path), (Daemon.runMarker, runID)] {
            if merged.updateValue(v, forKey: k) == nil { order.append(k) }
        }
        return order.map { "\($0)=\(merged[$0]!)" }
    }

    func scheduleTick(_ session: LiveSession) {
        if let at = session.lifecycle.nextDeadline() { schedule(at: at, .sessionTick(provider: session.provider, session: session.id)) }
    }

    /// Idle warnings and closes.
    func sessionTick(provider name: String, session id: String) {
        guard var session = pools[name]?.sessions[id] else { return }
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
        if let s = pools[name]?.sessions[id] { scheduleTick(s) }
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

/// What an authentication attempt came to.
enum AuthStep: Sendable {
    case done(token: String?)
    /// The token, when the token command succeeded before the auth command failed.
    case failed(AuthRunner.Outcome, token: String?)
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
                pool.sessions[id] = session
                scheduleTick(session)
            }
            pools[name] = pool
        }
    }
}
