/// Authenticating a session: the token command, then the auth command, each
/// a short process bounded by `timeouts.authentication.timeout`; retries with
/// backoff, and the circuit breaker's verdict when a session gives up.
extension Daemon {
    /// One authentication attempt: the token command, then the auth command.
    func authenticate(_ provider: Provider, session: SessionPool.Session, attempt: Int) {
        let sessionID = session.id, user = user(of: session)
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
        guard let provider = config.providers[name] else { return }
        let now = MonotonicInstant.now()
        switch step {
        case .done(let token):
            let named = token.flatMap { value in provider.auth?.tokenEnv.map { (name: $0, value: value) } }
            if let named { addSecret(named.value) }
            perform(sessions.authenticated(name, id, token: named, now: now))
        case .failed(let outcome, let token):
            // Masked before anything below can write it.
            if let token { addSecret(token) }
            let exitCode = outcome.status.flatMap { if case .exited(let c) = $0 { c } else { nil } }
            let attempt = AuthenticationPolicy.AttemptResult.failed(exitCode: exitCode, timedOut: outcome.timedOut, message: Daemon.detail(outcome))
            perform(sessions.authFailed(name, id, attempt: attempt, message: Daemon.describe(outcome), now: now))
        }
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
