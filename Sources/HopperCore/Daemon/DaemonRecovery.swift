import Glibc

/// The daemon's start on a spool a previous run left: what recovery found,
/// placed again (see `Recovery` for the reading of the directories).
extension Daemon {
    func recover() {
        // Retention runs at start, then every tenth of done_max_age (1 min to 1 h).
        if config.retentionDoneMaxAge > 0 { schedule(after: 0, .retention) }
        let loaded = Recovery.run(store: store, log: log)
        tasksSinceTrim = loaded.tasks.count
        if let failure = loaded.syncFailure { fatalDurabilityFailure(failure) }
        countTodaysSpend()
        nextSeq = loaded.nextSeq
        let now = Timestamp.now()
        var origins = loaded.finishedOrigins
        // Tasks whose Slurm jobs are followed (after this) were accepted too.
        for task in loaded.following { if let origin = task.origin { origins[origin] = task.id } }
        for (task, directory) in loaded.tasks {
            if let origin = task.origin { origins[origin] = task.id }
            place(task, now: now, existing: directory)
        }
        for id in loaded.requeued {
            events.append("task.state") { w in w.field("id", id.rawValue); w.field("from", "running"); w.field("to", "queued") }
        }
        for task in loaded.interrupted {
            finish(task, from: .running, state: .error, reason: .interrupted,
                   message: "The daemon stopped \(task.interruptions) times while this task ran; it is not retried again.")
        }
        for (id, directory, problem) in loaded.unreadable {
            // The task was accepted, so it still ends with a record; its file is kept in rejected/.
            log.error("recovery", "a task file cannot be read; ending the task with an error record", [("id", id.rawValue), ("problem", problem.message)])
            let placeholder = SpooledTask(id: id, request: TaskRequest(command: ""), provider: "", source: "", submittedAt: now, seq: 0)
            let message = "Its task file in \(directory.rawValue)/ could not be read (\(problem.message)); the file was moved to rejected/."
            do { try store.writeRecord(TaskRecord(task: placeholder, state: .error, reason: .interrupted, message: message, finishedAt: now)) } catch {
                stopIfSyncFailed(error)
                log.error("recovery", "cannot write a record", [("id", id.rawValue), ("error", "\(error)")])
                continue
            }
            // The record durable before the task file leaves its state directory.
            do { try store.commit() } catch { fatalDurabilityFailure(error) }
            _ = try? store.reject(Spool.taskFile(id), from: spool[directory], error: problem, at: now)
            if directory == .running { store.moveOutputs(id, from: .running, to: .done) }
        }
        // Files a crash left claimed: accepted ones are dropped, the rest taken again.
        for name in (try? spool.claimed.entries()) ?? [] {
            if let st = (try? spool.claimed.status(name)) ?? nil {
                let origin = SpooledTask.Origin(st)
                if origins[origin] != nil {
                    try? spool.claimed.remove(name)
                    continue
                }
            }
            examineClaimed(name)
        }
        if loaded.removedTemp > 0 || !loaded.requeued.isEmpty || !loaded.interrupted.isEmpty {
            log.info("recovery", "recovered the spool", [("tasks", "\(loaded.tasks.count)"), ("requeued", "\(loaded.requeued.count)"),
                                                          ("interrupted", "\(loaded.interrupted.count)"), ("temp_removed", "\(loaded.removedTemp)")])
        }
    }
}
