import Glibc

/// What the daemon does when one of its deadlines comes (see `Deadline`):
/// releases and expiries of waiting tasks, timeouts and kills of running
/// ones, publication, retention, authentication retries and session timers.
extension Daemon {
    func fire(_ deadline: Deadline) {
        switch deadline.action {
        case .release(let id):
            guard scheduler.release(id, now: Timestamp.now()) else { return }
            moveFile(id, from: .pending, to: .queued)
            if let task = scheduler[id]?.task, task.attempts > 0 { store.moveOutputs(id, from: .pending, to: .queued) }
            events.append("task.state") { w in w.field("id", id.rawValue); w.field("from", "pending"); w.field("to", "queued") }
        case .expire(let id):
            guard let entry = scheduler[id], entry.state != .running, !entry.task.started else { return }
            let limit = entry.task.request.queueTimeout ?? config.queueDefaultTimeout
            var message = "Not started within its queue timeout of \(FieldReader.format(limit)) seconds."
            if let authError = sessions[entry.task.provider]?.lastAuthError {
                message += " Provider \(entry.task.provider) could not authenticate: \(authError)."
            }
            finish(entry.task, from: entry.state.directory, state: .error, reason: .expired, message: message)
        case .terminate(let id, let number):
            guard attempts[id]?.number == number else { return }
            log.info("task", "timed out; terminating its process group", [("id", id.rawValue)])
            stopAttempt(id, .timeout)
        case .kill(let id, let number):
            guard let attempt = attempts[id], attempt.number == number else { return }
            attempt.process.exit.signalGroup(.kill)
        case .shutdown:
            for id in attempts.keys { stopAttempt(id, .shutdown) }
        case .publish:
            break
        case .retryClaimed:
            retryClaimed()
        case .retryRecords:
            let waiting = unwrittenRecords
            unwrittenRecords.removeAll()
            for (record, directory) in waiting { complete(record, from: directory) }
        case .authRetry(let name, let id):
            guard let session = sessions.session(name, id), let provider = config.providers[name] else { return }
            authenticate(provider, session: session, attempt: session.auth.attempts + 1)
        case .sessionTick(let name, let id):
            perform(sessions.tick(name, id, armedAt: deadline.at, now: MonotonicInstant.now()))
        case .sessionKill(_, let id):
            sessionProcesses[id]?.signal(.kill)
        case .providerWake(let name):
            perform(sessions.wake(name, now: MonotonicInstant.now()))
        case .settle(let name):
            settled(name)
        case .retention:
            let maxAge = config.retentionDoneMaxAge
            guard maxAge > 0 else { return }
            let (removed, _) = Retention.prune(spool: spool, maxAge: maxAge, now: Timestamp.now())
            if removed > 0 { log.info("retention", "pruned done/", [("removed", "\(removed)"), ("max_age", "\(maxAge)")]) }
            schedule(after: Daemon.retentionInterval(maxAge), .retention)
        case .silence(let id, let number):
            guard let attempt = attempts[id], attempt.number == number, let mark = attempt.activity else { return }
            let quietUntil = mark.last.adding(seconds: attempt.idleOutput)
            guard quietUntil <= MonotonicInstant.now() else { return schedule(at: quietUntil, .silence(id, attempt: number)) }
            log.info("task", "silent for idle_output; terminating its process group", [("id", id.rawValue), ("idle_output", FieldReader.format(attempt.idleOutput))])
            stopAttempt(id, .silence)
        case .limitEnds(let name):
            limitEnds(name)
        case .slurmSubmit, .slurmPoll, .slurmTimeout:
            slurmDeadline(deadline.action)
        }
    }

    /// How often the daemon applies `retention.done_max_age`: a tenth of it,
    /// kept between one minute and one hour, so an idle daemon wakes rarely.
    static func retentionInterval(_ maxAge: Double) -> Double { min(max(maxAge / 10, 60), 3600) }
}
