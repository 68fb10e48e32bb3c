/// Completion hooks: the daemon's side of `HookQueue` and `HookMarkers`.
///
/// A record is marked before it is written (`markHook`), announced once it
/// is (`hookDue`), and its hook started once the sync that covers the
/// record has returned and the record is renamed into done/
/// (`releaseHeldForSync`), so a hook never sees a record that a crash could
/// still take back. A hook runs as `AuthRunner` runs short commands: in its
/// own process group, SIGKILLed at `on_finish_timeout`, output kept (64 KiB)
/// for the log. Its end comes back as `.hookFinished`. Nothing about it
/// touches the record or the scheduler: a slow hook delays no task.
extension Daemon {
    /// Opens `.hopper/hooks/` and queues the hooks a previous run left due.
    func recoverHooks() {
        guard let dir = try? HookMarkers.open(spool.path) else {
            log.error("hooks", "cannot open .hopper/hooks; completion hooks are not recorded across restarts")
            return
        }
        hookMarkers = dir
        for id in HookMarkers.list(dir) {
            guard let record = record(of: id) else {
                HookMarkers.clear(id, in: dir)
                continue
            }
            log.info("hooks", "running a completion hook that was due when the daemon stopped", [("id", id.rawValue)])
            hooksToStart += hooks.due(.init(id: id, state: record.state, provider: record.object["provider"]?.stringValue ?? ""))
        }
    }

    /// Before the record is written: marks its hook as due, if it has one.
    func markHook(_ record: TaskRecord) {
        guard let dir = hookMarkers, config.hook(for: record.task.provider) != nil else { return }
        do { try HookMarkers.mark(record.task.id, in: dir) } catch {
            log.warning("hooks", "cannot mark a completion hook as due; it runs, but not again after a crash", [("id", record.task.id.rawValue), ("error", "\(error)")])
        }
    }

    /// After the record is written: queues its hook.
    func hookDue(_ record: TaskRecord) {
        guard config.hook(for: record.task.provider) != nil else { return }
        hooksToStart += hooks.due(.init(id: record.task.id, state: record.state, provider: record.task.provider))
    }

    /// Starts the hooks the queue released.
    func startDueHooks() {
        guard !hooksToStart.isEmpty else { return }
        let jobs = hooksToStart
        hooksToStart.removeAll()
        for job in jobs { startHook(job) }
    }

    private func startHook(_ job: HookQueue.Job) {
        guard let (command, timeout) = config.hook(for: job.provider) else {
            // Unconfigured since it became due (a reload): nothing to run.
            if let dir = hookMarkers { HookMarkers.clear(job.id, in: dir) }
            hooksToStart += hooks.finished(job.id)
            return
        }
        let recordPath = spool.path + "/done/" + job.id.rawValue + ".json"
        let environment = EnvironmentBlock(baseEnvironment, [("HOPPER_TASK_ID", job.id.rawValue), ("HOPPER_STATE", job.state.rawValue),
                                                             ("HOPPER_SPOOL", spool.path), (Daemon.runMarker, runID)])
        let queue = self.queue
        let id = job.id
        AuthRunner.run(command + [recordPath], environment: environment.lines, timeout: timeout,
                       workingDirectory: spool.path) { outcome in
            queue.post(.hookFinished(id, outcome))
        }
    }

    /// A hook ended: log a failure, count it, forget the marker, start the next.
    func hookFinished(_ id: TaskID, _ outcome: AuthRunner.Outcome) {
        if outcome.status != .exited(0) {
            stats.hookFailures += 1
            published.changed = true
            let what: String = if let e = outcome.spawnError { e } else if outcome.timedOut {
                "timed out; its process group was killed"
            } else {
                "ended \(outcome.status.map { "\($0)" } ?? "?")"
            }
            var fields = [("id", id.rawValue), ("result", what)]
            let said = Logger.oneLine(outcome.stderr.isEmpty ? outcome.stdout : outcome.stderr)
            if !said.isEmpty { fields.append(("output", String(said.prefix(300)))) }
            log.warning("hooks", "completion hook failed", fields)
        }
        if let dir = hookMarkers { HookMarkers.clear(id, in: dir) }
        hooksToStart += hooks.finished(id)
    }
}
