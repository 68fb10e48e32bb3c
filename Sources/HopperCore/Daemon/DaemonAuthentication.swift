/// Authenticating a session: the token command, then the auth command, each
/// a short process bounded by `timeouts.authentication.timeout`; retries with
/// backoff, and the circuit breaker's verdict when a session gives up.
extension Daemon {
    /// One authentication attempt: the token command, then the auth command.
    func authenticate(_ provider: Provider, session: LiveSession, attempt: Int) {
        let sessionID = session.id, user = session.user
        guard let auth = provider.auth, auth.command != nil || auth.tokenCommand != nil else {
            queue.post(.authStep(provider: provider.name, session: sessionID, step: .done(token: nil)))
            return
        }
        events.append("auth.attempt") { w in w.field("provider", provider.name); w.field("session", sessionID); w.field("attempt", attempt) }
        let env = sessionEnvironment(provider.env, user: user)
        let queue = self.queue
        let timeout = config.authTimeout
        let name = provider.name
        let runCommand: @Sendable (String?) -> Void = { token in
            guard let command = auth.command else {
                queue.post(.authStep(provider: name, session: sessionID, step: .done(token: token)))
                return
            }
            let withToken = env + (token.map { ["\(auth.tokenEnv!)=\($0)"] } ?? [])
            AuthRunner.run(command, environment: withToken, timeout: timeout, workingDirectory: provider.cwd, user: user) { outcome in
                if outcome.status == .exited(0) && !outcome.timedOut {
                    queue.post(.authStep(provider: name, session: sessionID, step: .done(token: token)))
                } else {
                    queue.post(.authStep(provider: name, session: sessionID, step: .failed(outcome, token: token)))
                }
            }
        }
        if let tokenCommand = auth.tokenCommand {
            AuthRunner.run(tokenCommand, environment: env, timeout: timeout, workingDirectory: provider.cwd, user: user) { outcome in
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
                        id: id, provider: provider, environment: sessionEnvironment(session.context, user: session.user),
                        workingDirectory: provider.cwd, user: session.user, log: log) { status in queue.post(.sessionExited(provider: name, session: id, status)) }
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
            armTimer(&session)
            pool.sessions[id] = session
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
}

/// What an authentication attempt came to.
enum AuthStep: Sendable {
    case done(token: String?)
    /// The token, when the token command succeeded before the auth command failed.
    case failed(AuthRunner.Outcome, token: String?)
}
