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
        while !startsArePaused, let id = scheduler.nextToStart({ lane, task in
            (attempts.count < config.workers || isSlurm(lane.provider)) && canStart(lane, task)
        }) {
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
        // `continue`: the conversation of the task it names, read from that task's record.
        var continuing: (session: String, result: JSONValue?)?
        if let earlier = task.request.continues {
            switch conversation(of: earlier, for: task, provider: provider) {
            case .success(let found): continuing = found
            case .failure(let refusal):
                finish(task, from: .queued, state: refusal.state, reason: refusal.reason, message: refusal.message)
                return
            }
        }
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
        let idleOutput = config.idleOutputTimeout(for: provider)
        let activity = idleOutput > 0 ? ActivityMark(MonotonicInstant.now()) : nil
        let queue = self.queue
        let number = task.attempts
        // The session that serves it, when its provider uses sessions.
        // A `continue` of a session agent goes to the live session holding its
        // conversation; with none left, to a process of its own with the CLI's resume flag.
        let resumesAlone = continuing != nil && provider.mode == .session && sessions.holder(of: continuing!.session, in: task.lane) == nil
        let session = needsSession(provider) && !resumesAlone
            ? sessions.assign(task.lane, task: id, conversation: provider.mode == .session ? continuing?.session : nil, now: MonotonicInstant.now())
            : nil
        let process: SpawnedProcess
        var tap: AgentTap?
        if let session, let live = sessionProcesses[session.id] {
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
            job.activity = activity
            live.run(job) { result in queue.post(.sessionTaskFinished(id, attempt: number, result)) }
            process = live.process
        } else {
            var argv = provider.argv(running: task.request.command)
            // An agent CLI's output is read by its adapter as it comes; a CLI
            // that cannot name its conversation gets one from Hopper.
            if var agent = provider.agent {
                if let earlier = continuing {
                    // A session agent resuming alone runs the CLI's per-task form.
                    if agent.mode == .session { agent.mode = .exec }
                    argv = agent.argv(prompt: task.request.command, resume: earlier.session) ?? argv
                    tap = AgentTap(agent.preset.makeAdapter(zones: zones, session: earlier.session, continuing: earlier.result))
                } else {
                    let conversation = agent.preset.newSessionArguments != nil ? Daemon.conversationID() : nil
                    if let built = agent.argv(prompt: task.request.command, newSession: conversation) { argv = built }
                    tap = AgentTap(agent.preset.makeAdapter(zones: zones, session: conversation))
                }
            }
            var launch = ExecRunner.Launch(argv: argv,
                                           environment: environment(for: task, provider: provider, context: session?.context ?? [], user: user),
                                           workingDirectory: cwd, stdin: task.request.stdin.map { Array($0.utf8) },
                                           stdout: out, stderr: err, outputLimit: config.maxOutputBytes)
            launch.mask = mask
            launch.marker = escapeMarker(id)
            launch.user = user
            launch.tap = tap
            launch.activity = activity
            do {
                process = try runner.start(launch) { result in queue.post(.exited(id, attempt: number, result)) }
                // A CLI known to hang after a fatal error is ended once its adapter has decided.
                tap?.onDecided = { [exit = process.exit] in exit.signalGroup(.term) }
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
        attempt.inSessionProcess = session.map { sessionProcesses[$0.id] != nil } ?? false
        attempt.tap = tap
        attempt.idleOutput = idleOutput
        attempt.activity = activity
        if activity != nil { schedule(after: idleOutput, .silence(id, attempt: number)) }
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

    /// Why a `continue` cannot go on (the task ends with it).
    struct ContinueRefusal: Error {
        var state: TaskState
        var reason: TerminalReason
        var message: String
    }

    /// The conversation a `continue` task goes on with: the `agent_session`
    /// (and `result`) of the earlier task's record, which must be of the same
    /// provider, whose CLI must be able to resume.
    func conversation(of earlier: TaskID, for task: SpooledTask, provider: Provider) -> Result<(session: String, result: JSONValue?), ContinueRefusal> {
        guard let agent = provider.agent else {
            return .failure(ContinueRefusal(state: .error, reason: .spawn, message: "Provider \(provider.name) runs no agent CLI, so it has no conversation to continue."))
        }
        guard agent.preset.invocation(.exec)?.resumeArguments != nil else {
            return .failure(ContinueRefusal(state: .error, reason: .spawn, message: "\(agent.preset.name.rawValue) cannot resume a conversation."))
        }
        guard let record = record(of: earlier) else {
            return .failure(ContinueRefusal(state: .cancelled, reason: .dependency, message: "Task \(earlier) has no record to continue."))
        }
        guard record.object["provider"]?.stringValue == task.provider else {
            return .failure(ContinueRefusal(state: .cancelled, reason: .dependency,
                                            message: "Task \(earlier) ran on provider \(record.object["provider"]?.stringValue ?? "?"), not \(task.provider): its conversation is not this provider's."))
        }
        // Never another submitter's conversation.
        if let mine = task.owner?.uid, let theirs = record.object["owner"]?.objectValue?["uid"]?.intValue, Int(mine) != theirs {
            return .failure(ContinueRefusal(state: .cancelled, reason: .dependency, message: "Task \(earlier) is another user's: its conversation cannot be continued."))
        }
        guard let session = record.object["agent_session"]?.stringValue, !session.isEmpty else {
            return .failure(ContinueRefusal(state: .cancelled, reason: .dependency, message: "Task \(earlier) has no agent_session to continue."))
        }
        return .success((session, record.object["result"]))
    }

    /// A new conversation id for a CLI that takes one from its caller: a
    /// random UUID (version 4), the form such CLIs expect.
    static func conversationID() -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let hex = bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        return [0..<4, 4..<6, 6..<8, 8..<10, 10..<16].map { hex[$0].joined() }.joined(separator: "-")
    }

    /// The environment entries every process of one task carries (a session
    /// task's through the `export` before it), and no other process.
    func escapeMarker(_ id: TaskID) -> [String] {
        ["HOPPER_TASK_ID=\(id.rawValue)", "\(Daemon.runMarker)=\(runID)"]
    }

    /// The environment of a task: the daemon's, the provider's, the task's,
    /// then Hopper's own markers.
    private func environment(for task: SpooledTask, provider: Provider, context: [(String, String)], user: UserAccount?) -> [String] {
        let key = EnvironmentKey(provider: provider.name, uid: user?.uid)
        let block: EnvironmentBlock
        if let cached = environmentBlocks[key], cached.user == user {
            block = cached.block
        } else {
            block = EnvironmentBlock(baseEnvironment, Daemon.identity(user), provider.env)
            environmentBlocks[key] = (user, block)
        }
        return block.with(context, task.request.env.map { ($0.name, $0.value) },
                          [("HOPPER_TASK_ID", task.id.rawValue), ("HOPPER_SPOOL", spool.path),
                           ("HOPPER_ATTEMPT", String(task.attempts)), (Daemon.runMarker, runID)])
    }

    /// A task in a session process ended (or its session died).
    func finishSessionAttempt(_ id: TaskID, number: Int, result: SessionTaskResult) {
        if attempts[id]?.task.request.stdin != nil { try? spool.tmp.remove(FileName("\(id.rawValue).stdin")) }
        var sessionGone = false
        let end: AttemptEnd
        switch result.outcome {
        case .exited(let code): end = .process(.exited(code))
        case .agent(let isError, let object): end = .agent(.resultLine(isError: isError, object: object))
        case .agentDecided(let outcome): end = .agent(outcome)
        case .sessionDied(let status, let agent):
            sessionGone = true
            // The CLI's own words win where they say why it went (a rate limit, a login).
            switch agent?.verdict {
            case .rateLimited?, .authenticationFailed?: end = .agent(agent!)
            default: end = .sessionLost(status ?? .signaled(.kill))
            }
        }
        finishAttempt(id, number: number, end: end, output: OutputCounts(result), sessionGone: sessionGone)
    }

    /// Asks a running attempt to stop; the first stop terminates its process
    /// group and arms the kill (see `AttemptSettlement` for the ranks).
    func stopAttempt(_ id: TaskID, _ reason: AttemptSettlement.Stop) {
        guard var attempt = attempts[id] else { return }
        let signalNow = attempt.settlement.request(reason)
        attempts[id] = attempt
        guard signalNow else { return }
        attempt.process.exit.signalGroup(.term)
        schedule(after: config.commandKillGrace, .kill(id, attempt: attempt.number))
    }

    /// An attempt is over, however it ran: its task gets its outcome.
    func finishAttempt(_ id: TaskID, number: Int, end: AttemptEnd, output: OutputCounts, sessionGone: Bool = false) {
        guard let attempt = attempts[id], attempt.number == number else { return }
        attempts[id] = nil
        let sessionLost = sessionGone || { if case .sessionLost = end { true } else { false } }()
        // The session process is dead or in an unknown state: it is closed, not reused.
        let closesSession = attempt.inSessionProcess && (attempt.settlement.stop != nil || sessionLost)
        if attempt.inSessionProcess {
            // What the task left, adopted by the daemon: escaped with setsid, or
            // still in the session's group (a closed session's group dies with it).
            // A look again (one caught in its execve) goes by the marker only:
            // by then the session's group may run the next task.
            let marker = escapeMarker(id), group = closesSession ? nil : attempt.process.processGroup, shell = attempt.process.pid
            var first = true
            Orphans.sweep(on: Poller.shared) {
                defer { first = false }
                return Orphans.killLeftovers(markedWith: marker, inGroup: first ? group : nil, except: shell)
            }
        }
        if let session = attempt.session {
            if closesSession {
                closeSession(provider: attempt.task.provider, session: session,
                             reason: attempt.settlement.stop == .timeout || attempt.settlement.stop == .silence ? .timeout : .crashed)
            } else {
                // A session agent's conversation stays with its session, for `continue`.
                let conversation: String? = if case .agent(let o) = end { o.agentSession } else { nil }
                releaseSession(provider: attempt.task.provider, session: session, conversation: conversation)
            }
        }
        let task = attempt.task
        published.changed = true
        switch attempt.settlement.settle(end, attemptsMade: task.attempts, retries: task.request.retries, timeout: attempt.timeout,
                                          idleOutput: attempt.idleOutput) {
        case .requeue:
            requeueUncharged(task)
        case .limited(let until, let message):
            requeueUncharged(task)
            limitProvider(task.provider, until: until, message: message)
        case .authenticationFailed(let message):
            requeueUncharged(task)
            perform(sessions.runReportedAuthFailure(task.provider, session: sessionLost ? nil : attempt.session, message: message, now: MonotonicInstant.now()))
        case .retry(let verdict):
            scheduleRetry(task, outcome: verdict.message)
        case .record(let verdict):
            var record = TaskRecord(task: task, state: verdict.state, reason: verdict.reason, message: verdict.message, finishedAt: Timestamp.now())
            record.exitCode = verdict.exitCode
            record.signal = verdict.signal
            record.startedAt = attempt.startedAt
            record.stdoutBytes = output.stdoutBytes
            record.stderrBytes = output.stderrBytes
            record.truncated = output.truncated
            record.session = attempt.session
            record.result = verdict.result
            record.agentOutcome = verdict.agent ?? (config.providers[task.provider]?.agent != nil ? AgentOutcome(.failed, message: verdict.message) : nil)
            if verdict.state == .succeeded, verdict.agent != nil {
                limits[task.provider]?.recordSuccess()
                perform(sessions.runSucceeded(task.provider))
            }
            if let problem = output.error { record.message += " Output was lost: \(problem)." }
            complete(record, from: .running)
        }
    }

    /// Back to queued, the attempt not charged: the daemon stopped it, or the
    /// agent could not work (rate limit, login), which is not the task's fault.
    private func requeueUncharged(_ stopped: SpooledTask) {
        var task = stopped
        let id = task.id
        task.attempts -= 1
        task.started = true
        write(task, to: .running)
        moveFile(id, from: .running, to: .queued)
        store.removeOutputs(id, in: .running)
        scheduler.requeue(task)
        events.append("task.state") { w in w.field("id", id.rawValue); w.field("from", "running"); w.field("to", "queued") }
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
        if let directory { store.removeTaskFile(id, from: directory) }
        chargeBudget(record)
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
