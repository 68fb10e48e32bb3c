import Glibc

/// Running tasks: starting attempts, their ends, retries, timeouts and records.
extension Daemon {
    /// Starts queued tasks while workers are free.
    func startQueued() {
        guard !shuttingDown else { return }
        // A task whose provider has no session free waits, keeping its place;
        // the others go ahead (no head-of-line blocking across providers).
        // A start that ran out of resources pauses the rest of this turn's starts too.
        // A Slurm provider's tasks take no worker: `max_jobs` bounds them instead.
        while !startsArePaused, let id = scheduler.nextToStart({ (attempts.count < config.workers || isSlurm($0.provider)) && canStart($0) }) {
            guard let entry = scheduler[id] else { continue }
            startAttempt(entry.task)
        }
    }

    private var startsArePaused: Bool {
        guard let until = startsPausedUntil else { return false }
        return MonotonicInstant.now() < until
    }

    private func startAttempt(_ queuedTask: SpooledTask) {
        var task = queuedTask
        let id = task.id
        guard let provider = config.providers[task.provider] else {
            finish(task, from: .queued, state: .error, reason: .spawn, message: "Provider \(task.provider) is not configured.")
            return
        }
        let user = runAsUser(task)
        if runsAsOwner, let owner = task.owner, user == nil {
            finish(task, from: .queued, state: .error, reason: .spawn,
                   message: "Hopper could not run the task as its owner: uid \(owner.uid) has no entry in the password database.")
            return
        }
        // A Slurm job is submitted as the task's owner (DaemonSlurm.swift).
        if provider.mode == .slurm { return startSlurmAttempt(task, provider: provider) }
        let cwd = task.request.cwd ?? provider.cwd
        if let cwd {
            var st = stat()
            guard stat(cwd, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                finish(task, from: .queued, state: .error, reason: .cwd, message: "The working directory \(cwd) does not exist.")
            return
            }
        }
        do { try store.move(id, from: .queued, to: .running) } catch {
            log.error("spool", "cannot move a task to running/", [("id", id.rawValue), ("error", "\(error)")])
            finish(task, from: .queued, state: .error, reason: .spawn, message: "Hopper could not move the task to running/: \(error).")
            return
        }
        if task.attempts > 0 { store.removeOutputs(id, in: .queued) }
        let access = FileAccess(owner: task.owner?.uid)
        let running = spool[.running]
        let out: FileDescriptor, err: FileDescriptor
        do throws(SystemError) {
            out = try running.openFile(Spool.outputFile(id), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, mode: FileAccess.mode)
            do { err = try running.openFile(Spool.errorFile(id), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, mode: FileAccess.mode) } catch {
                out.close()
                throw error
            }
            // The owner's and the daemon group's to read; other submitters' not.
            access.apply(to: out)
            access.apply(to: err)
        } catch {
            if error.errno.isResourceExhaustion { return backOff(task, because: error) }
            finish(task, from: .running, state: .error, reason: .spawn, message: "Hopper could not create the output files: \(error).")
            return
        }
        task.attempts += 1
        task.started = true
        let timeout = task.request.timeout ?? config.commandDefaultTimeout
        let queue = self.queue
        let number = task.attempts
        // The session that serves it, when its provider uses sessions.
        var session: LiveSession?
        if needsSession(provider), let idle = pools[provider.name]?.idle(for: task.owner?.uid) {
            session = idle
            pools[provider.name]!.sessions[idle.id]!.task = id
            pools[provider.name]!.sessions[idle.id]!.tasksRun += 1
            pools[provider.name]!.sessions[idle.id]!.lifecycle.taskStarted(now: MonotonicInstant.now())
        }
        let process: SpawnedProcess
        if let session, let live = session.process {
            var stdinPath: String?
            if let text = task.request.stdin {
                let name = FileName("\(id.rawValue).stdin")
                do { try AtomicFile.write(Array(text.utf8), to: name, in: spool.tmp, scratch: spool.tmp, sync: false) } catch {
                    out.close()
                    err.close()
                    releaseSession(provider: provider.name, session: session.id)
                    finish(task, from: .running, state: .error, reason: .spawn, message: "Hopper could not store the task's stdin: \(error).")
                    return
                }
                stdinPath = spool.path + "/.hopper/tmp/" + name.escaped
            }
            var env = task.request.env.map { ($0.name, $0.value) }
            env += [("HOPPER_TASK_ID", id.rawValue), ("HOPPER_ATTEMPT", String(task.attempts))]
            var job = SessionTask(command: task.request.command, environment: env, workingDirectory: task.request.cwd,
                                  stdinPath: stdinPath, stdout: out, stderr: err, outputLimit: config.maxOutputBytes)
            job.mask = mask
            live.run(job) { result in queue.post(.sessionTaskFinished(id, attempt: number, result)) }
            process = live.process
        } else {
            var launch = ExecRunner.Launch(argv: provider.command.map { $0.replacing("{command}", with: task.request.command) },
                                           environment: environment(for: task, provider: provider, context: session?.context ?? [], user: user),
                                           workingDirectory: cwd, stdin: task.request.stdin.map { Array($0.utf8) },
                                           stdout: out, stderr: err, outputLimit: config.maxOutputBytes)
            launch.mask = mask
            launch.marker = escapeMarker(id)
            launch.user = user
            do {
                process = try runner.start(launch) { result in queue.post(.exited(id, attempt: number, result)) }
            } catch {
                out.close()
                err.close()
                if let session { releaseSession(provider: provider.name, session: session.id) }
                if error.errno.isResourceExhaustion {
                    task.attempts -= 1
                    return backOff(task, because: error)
                }
                finish(task, from: .running, state: .error, reason: .spawn, message: "Hopper could not start \(launch.argv[0]): \(error.errno).")
                return
            }
        }
        let now = Timestamp.now()
        var attempt = Attempt(task: task, number: number, process: process, startedAt: now, timeout: timeout)
        attempt.session = session?.id
        attempt.inSessionProcess = session?.process != nil
        attempts[id] = attempt
        scheduler.update(task)
        schedule(after: timeout, .terminate(id, attempt: number))
        events.append("task.state") { w in w.field("id", id.rawValue); w.field("from", "queued"); w.field("to", "running") }
        published.changed = true
    }

    /// A failed attempt with retries left: the task waits in pending/, with
    /// its last outputs, until its retry delay is over (exec, session and
    /// Slurm attempts alike).
    func scheduleRetry(_ failed: SpooledTask, outcome: String) {
        var task = failed
        let id = task.id
        let delay = config.commandRetryDelay.delay(forRetry: task.attempts - 1)
        let notBefore = Timestamp.now().adding(seconds: delay)
        task.notBefore = notBefore
        write(task, to: .running)
        moveFile(id, from: .running, to: .pending)
        store.moveOutputs(id, from: .running, to: .pending)
        scheduler.defer_(task, until: notBefore)
        schedule(after: delay, .release(id))
        log.info("task", "attempt failed; retrying", [("id", id.rawValue), ("attempt", "\(task.attempts)"), ("delay", "\(delay)"), ("outcome", outcome)])
        events.append("task.state") { w in w.field("id", id.rawValue); w.field("from", "running"); w.field("to", "pending") }
    }

    /// The daemon is out of descriptors, memory or processes: the task goes
    /// back to queued/ uncharged and starts are paused briefly (backpressure,
    /// not an error the task has to carry).
    private func backOff(_ task: SpooledTask, because error: SystemError) {
        store.removeOutputs(task.id, in: .running)
        moveFile(task.id, from: .running, to: .queued)
        scheduler.requeue(task)
        startsPausedUntil = MonotonicInstant.now().adding(seconds: 0.05)
        schedule(after: 0.05, .publish)
        log.warning("task", "out of resources; the task goes back to queued", [("id", task.id.rawValue), ("error", "\(error.errno)")])
    }

    /// The environment entries every process of one task carries (a session
    /// task's through the `export` before it), and no other process.
    func escapeMarker(_ id: TaskID) -> [String] {
        ["HOPPER_TASK_ID=\(id.rawValue)", "\(Daemon.runMarker)=\(runID)"]
    }

    /// The environment of a task: the daemon's, the provider's, the task's,
    /// then Hopper's own markers.
    private func environment(for task: SpooledTask, provider: Provider, context: [(String, String)], user: UserAccount?) -> [String] {
        var merged: [String: String] = [:]
        var order: [String] = []
        func set(_ k: String, _ v: String) {
            if merged.updateValue(v, forKey: k) == nil { order.append(k) }
        }
        for (k, v) in baseEnvironment { set(k, v) }
        for (k, v) in Daemon.identity(user) { set(k, v) }
        for (k, v) in provider.env { set(k, v) }
        for (k, v) in context { set(k, v) }
        for p in task.request.env { set(p.name, p.value) }
        set("HOPPER_TASK_ID", task.id.rawValue)
        set("HOPPER_SPOOL", spool.path)
        set("HOPPER_ATTEMPT", String(task.attempts))
        set(Daemon.runMarker, runID)
        return order.map { "\($0)=\(merged[$0]!)" }
    }

    /// A task in a session process ended (or its session died).
    func finishSessionAttempt(_ id: TaskID, number: Int, result: SessionTaskResult) {
        if attempts[id]?.task.request.stdin != nil { try? spool.tmp.remove(FileName("\(id.rawValue).stdin")) }
        let end: AttemptEnd = switch result.outcome {
        case .exited(let code): .process(.exited(code))
        case .agent(let isError, let object): .agent(isError: isError, result: object)
        case .sessionDied(let status): .sessionLost(status ?? .signaled(.kill))
        }
        finishAttempt(id, number: number, end: end, output: OutputCounts(result))
    }

    /// A session's task is over: it is idle again, or retires.
    func releaseSession(provider name: String, session id: String) {
        guard var session = pools[name]?.sessions[id] else { return }
        session.task = nil
        let action = session.lifecycle.taskFinished(now: MonotonicInstant.now())
        pools[name]!.sessions[id] = session
        if case .close(let reason)? = action { closeSession(provider: name, session: id, reason: reason) } else { scheduleTick(session) }
    }

    /// An attempt is over, however it ran: its task gets its verdict.
    func finishAttempt(_ id: TaskID, number: Int, end: AttemptEnd, output: OutputCounts) {
        guard let attempt = attempts[id], attempt.number == number else { return }
        attempts[id] = nil
        let sessionLost = if case .sessionLost = end { true } else { false }
        // The session process is dead or in an unknown state: it is closed, not reused.
        let closesSession = attempt.inSessionProcess && (attempt.timedOut || attempt.cancelled || sessionLost || attempt.stoppedForShutdown)
        if attempt.inSessionProcess {
            // What the task left, adopted by the daemon: escaped with setsid, or
            // still in the session's group (a closed session's group dies with it).
            Orphans.killLeftovers(markedWith: escapeMarker(id), inGroup: closesSession ? nil : attempt.process.processGroup,
                                  except: attempt.process.pid)
        }
        if let session = attempt.session {
            if closesSession {
                closeSession(provider: attempt.task.provider, session: session, reason: attempt.timedOut ? .timeout : .crashed)
            } else {
                releaseSession(provider: attempt.task.provider, session: session)
            }
        }
        var task = attempt.task
        published.changed = true
        if attempt.stoppedForShutdown && !attempt.cancelled {
            // Not the task's fault: back to queued, the attempt not charged.
            task.attempts -= 1
            task.started = true
            write(task, to: .running)
            moveFile(id, from: .running, to: .queued)
            store.removeOutputs(id, in: .running)
            scheduler.requeue(task)
            events.append("task.state") { w in w.field("id", id.rawValue); w.field("from", "running"); w.field("to", "queued") }
            return
        }
        let verdict = Daemon.verdict(attempt, end)
        if verdict.state == .failed && !attempt.cancelled && task.attempts <= task.request.retries {
            scheduleRetry(task, outcome: verdict.message)
            return
        }
        var record = TaskRecord(task: task, state: verdict.state, reason: verdict.reason, message: verdict.message, finishedAt: Timestamp.now())
        record.exitCode = verdict.exitCode
        record.signal = verdict.signal
        record.startedAt = attempt.startedAt
        record.stdoutBytes = output.stdoutBytes
        record.stderrBytes = output.stderrBytes
        record.truncated = output.truncated
        record.session = attempt.session
        record.result = verdict.result
        if let problem = output.error { record.message += " Output was lost: \(problem)." }
        complete(record, from: .running)
    }

    /// Ends a task that is not running (cancel, dependency, expiry, errors
    /// before spawn, interruptions) with a record.
    @discardableResult
    func finish(_ task: SpooledTask, from directory: SpoolDirectory?, state: TaskState, reason: TerminalReason, message: String) -> Bool {
        let record = TaskRecord(task: task, state: state, reason: reason, message: message, finishedAt: Timestamp.now())
        return complete(record, from: directory)
    }

    /// Writes the record, retires the task file, and settles dependents.
    /// Returns false when the record could not be written.
    @discardableResult
    func complete(_ record: TaskRecord, from directory: SpoolDirectory?) -> Bool {
        let id = record.task.id
        // Outputs first, so a reader who sees the record finds its files beside it.
        // A task that ran has output files, and they travel with its task file.
        if let directory, record.task.attempts > 0 {
            store.moveOutputs(id, from: directory, to: .done)
        }
        markHook(record)
        do { try store.writeRecord(record) } catch {
            stopIfSyncFailed(error)
            // Without its record the task must not disappear: it stays where it
            // is, and the record is tried again shortly (a full disk or no
            // descriptors left are usually passing).
            // Said once, then at a falling rate while it lasts; every try at debug level.
            let fields = [("id", id.rawValue), ("error", "\(error)")]
            if case .log(let unlogged) = recordWriteFailures.failed(now: MonotonicInstant.now()) {
                log.error("spool", "cannot write a record; trying again shortly", fields + (unlogged > 0 ? [("not_logged_since", "\(unlogged)")] : []))
            } else {
                log.debug("spool", "cannot write a record; trying again shortly", fields)
            }
            // One retry for all of them: one per record would multiply every round.
            if unwrittenRecords.isEmpty { schedule(after: 0.2, .retryRecords) }
            unwrittenRecords.append((record, directory))
            return false
        }
        if case .recovered(let failures) = recordWriteFailures.succeeded() {
            log.info("spool", "records are written again", [("failed_attempts", "\(failures)")])
        }
        if let directory { try? store.removeTaskFile(id, from: directory) }
        hookDue(record)
        let from = directory?.rawValue ?? "incoming"
        events.append("task.state") { w in w.field("id", id.rawValue); w.field("from", from); w.field("to", record.state.rawValue) }
        stats.finished[record.state, default: 0] += 1
        if let d = record.durationMs { stats.recordDuration(Double(d) / 1000) }
        published.changed = true
        let (queued, cancelled) = scheduler.finish(id, state: record.state)
        for next in queued {
            moveFile(next, from: .pending, to: .queued)
            events.append("task.state") { w in w.field("id", next.rawValue); w.field("from", "pending"); w.field("to", "queued") }
        }
        for dependent in cancelled {
            guard let entry = scheduler[dependent] else { continue }
            finish(entry.task, from: entry.state.directory, state: .cancelled, reason: .dependency,
                   message: "Dependency \(id) ended \(record.state.rawValue), so this task was not run.")
        }
        return true
    }
}

extension Daemon.Stats {
    mutating func recordDuration(_ seconds: Double) {
        durationSum += seconds
        durationCount += 1
        for (i, bound) in Publication.buckets.enumerated() where seconds <= bound { durationBuckets[i] += 1 }
    }
}
