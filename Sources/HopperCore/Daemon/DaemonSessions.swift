import Glibc

/// Sessions (SPEC section 7), carried out: the `SessionPool` decides, this
/// file does what its actions say (events, timers, processes, signals).
extension Daemon {
    /// Whether a provider's tasks need a session (a session-mode process, or an authenticated context).
    func needsSession(_ provider: Provider) -> Bool { provider.mode == .session || provider.auth != nil }

    /// Whether a queued task of `lane` can start now. Pure: reads the pause,
    /// the Slurm budget and the session pool, changes nothing (it runs inside
    /// the scheduler's start pass).
    func canStart(_ lane: Lane, _ task: SpooledTask) -> Bool {
        // A `continue` of a session agent waits for the session holding its
        // conversation to be idle; with no such session it runs alone.
        if let earlier = task.request.continues, !pause.holds(lane.provider), let provider = config.providers[lane.provider],
           provider.mode == .session, provider.agent != nil, !isLimited(provider.name),
           let conversation = record(of: earlier)?.object["agent_session"]?.stringValue {
            guard let holder = sessions.holder(of: conversation, in: lane) else { return true }
            return holder.lifecycle.state == .idle && holder.task == nil
        }
        return canStart(lane)
    }

    func canStart(_ lane: Lane) -> Bool {
        guard !pause.holds(lane.provider) else { return false }
        guard let provider = config.providers[lane.provider] else { return true }
        if provider.mode == .slurm { return slurmCanStart(provider) }
        if provider.agent != nil, isLimited(provider.name) { return false }
        guard needsSession(provider) else {
            return provider.agent == nil || sessions.mayRunWithoutSession(provider.name, now: MonotonicInstant.now())
        }
        // An owner Hopper cannot run as fails at its start, with the reason.
        if cannotRunAs(lane) { return true }
        return sessions.hasIdle(lane)
    }

    private func cannotRunAs(_ lane: Lane) -> Bool {
        guard runsAsOwner, let uid = lane.owner else { return false }
        return account(uid) == nil
    }

    /// After the start pass: sessions for the lanes still waiting for one,
    /// as many as there are free workers.
    func openSessionsForWaitingLanes() {
        guard !shuttingDown else { return }
        let budget = config.workers - attempts.count
        // No lane listing a turn where no provider has sessions (an exec-only spool).
        guard budget > 0, config.providers.values.contains(where: needsSession) else { return }
        let waiting = scheduler.lanesWithQueuedTasks().filter { lane in
            guard !pause.holds(lane.provider), let p = config.providers[lane.provider], p.mode != .slurm, needsSession(p),
                  !(p.agent != nil && isLimited(p.name)) else { return false }
            return !cannotRunAs(lane)
        }
        guard !waiting.isEmpty else { return }
        perform(sessions.open(for: waiting, providers: config.providers, budget: budget, now: MonotonicInstant.now(), wallNow: Timestamp.now()))
    }

    /// Whom a session's processes run as (`run_as: "owner"`); nil: the daemon's user.
    func user(of session: SessionPool.Session) -> UserAccount? {
        runsAsOwner ? session.owner.flatMap { account($0) } : nil
    }

    /// Carries out the pool's actions, in order.
    func perform(_ actions: [SessionPool.Action]) {
        for action in actions { perform(action) }
    }

    private func perform(_ action: SessionPool.Action) {
        published.changed = true
        switch action {
        case .opened(let s):
            events.append("session.started") { w in
                w.field("provider", s.provider)
                w.field("session", s.id)
                if let owner = s.owner { w.field("owner_uid", Int64(owner)) }
            }
            log.info("session", "opening", [("provider", s.provider), ("session", s.id)] + (s.owner.map { [("owner_uid", "\($0)")] } ?? []))
        case .authenticate(let s, let attempt):
            guard let provider = config.providers[s.provider] else { return }
            authenticate(provider, session: s, attempt: attempt)
        case .startProcess(let s):
            startSessionProcess(s)
        case .ready(let s):
            events.append("session.ready") { w in w.field("provider", s.provider); w.field("session", s.id) }
        case .tick(let provider, let id, let at):
            schedule(at: at, .sessionTick(provider: provider, session: id))
        case .warnIdle(let provider, let id):
            events.append("session.idle_warning") { w in w.field("provider", provider); w.field("session", id) }
        case .terminate(let provider, let id):
            sessionProcesses[id]?.signal(.term)
            schedule(after: config.commandKillGrace, .sessionKill(provider: provider, session: id))
        case .kill(_, let id):
            sessionProcesses[id]?.signal(.kill)
        case .closed(let provider, let id, let reason):
            sessionProcesses[id] = nil
            events.append("session.closed") { w in w.field("provider", provider); w.field("session", id); w.field("reason", reason) }
        case .circuit(let provider, let t):
            announce(t, provider: provider)
        case .authFailed(let provider, let id, let retryable, let message):
            events.append("auth.failed") { w in
                w.field("provider", provider); w.field("session", id); w.field("retryable", retryable); w.field("message", message)
            }
        case .retryAuth(let provider, let id, let delay):
            schedule(after: delay, .authRetry(provider: provider, session: id))
        case .gaveUp(let provider, let id, let summary):
            log.warning("auth", "authentication failed", [("provider", provider), ("session", id), ("error", summary)])
        case .wake(let provider, let at):
            schedule(at: at, .providerWake(provider))
        }
    }

    /// Authenticated, session mode: the session's process starts, as its owner when so configured.
    private func startSessionProcess(_ s: SessionPool.Session) {
        guard let provider = config.providers[s.provider] else { return }
        let queue = self.queue, name = s.provider, id = s.id, user = user(of: s)
        let now = MonotonicInstant.now()
        do {
            let process = try SessionProcess.start(
                id: id, provider: provider, environment: sessionEnvironment(s.context, user: user),
                workingDirectory: provider.cwd, user: user, log: log) { status in queue.post(.sessionExited(provider: name, session: id, status)) }
            // An agent CLI's adapter lives as long as its process (running totals).
            if let agent = provider.agent { process.tap = AgentTap(agent.preset.makeAdapter(zones: zones, session: id)) }
            sessionProcesses[id] = process
        } catch {
            log.error("session", "cannot start the session process", [("provider", name), ("error", "\(error)")])
            return perform(sessions.processFailed(name, id, message: "cannot start \(provider.command[0]): \(error.errno)", now: now))
        }
        perform(sessions.processStarted(name, id, now: now))
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
        EnvironmentBlock(baseEnvironment, Daemon.identity(user), context, [("HOPPER_SPOOL", spool.path), (Daemon.runMarker, runID)]).lines
    }

    /// A session's task is over: it is idle again, or retires.
    /// `conversation`: the agent conversation its task left it holding (for `continue`).
    func releaseSession(provider name: String, session id: String, conversation: String? = nil) {
        perform(sessions.release(name, id, conversation: conversation, now: MonotonicInstant.now()))
    }

    func closeSession(provider name: String, session id: String, reason: SessionLifecycle.CloseReason) {
        perform(sessions.close(name, id, reason: reason))
    }

    /// A session process died (closed by Hopper, or crashed).
    func sessionExited(provider name: String, session id: String) {
        if let s = sessions.session(name, id), s.closeReason == nil {
            log.warning("session", "session process exited", [("provider", name), ("session", id)])
        }
        perform(sessions.exited(name, id))
    }

    /// Every session goes, at shutdown, and so does any authentication in flight.
    func closeAllSessions() {
        AuthRunner.killAll()
        perform(sessions.closeAll())
    }
}

extension Daemon {
    /// After a reload: circuits take the new threshold and cooldown, open
    /// sessions the new idle and lifetime limits.
    func applyReloadedSessionSettings() {
        perform(sessions.update(SessionPool.Settings(config)))
    }
}
