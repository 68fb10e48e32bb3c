import Glibc

/// News from the Slurm side, posted into the daemon's queue.
enum SlurmNews: Sendable {
    /// A batch's `sbatch` calls came back: a job id or a refusal per task.
    case submitted(provider: String, [(TaskID, Result<String, SlurmJobTable.SubmitRefusal>)])
    /// `squeue` answered (nil: it failed).
    case polled(provider: String, [SlurmJobTable.JobState]?)
    /// Renames in the job directories (start and exit files).
    case files([InotifyEvent])
}

/// The daemon's Slurm providers (SPEC section 11): one `SlurmJobTable` each,
/// the watch on the jobs' start and exit files, and the commands found at start.
struct SlurmRuntime {
    var tables: [String: SlurmJobTable] = [:]
    var commands: SlurmCommands?
    var inotify: Inotify?
    var directories: SlurmJobDirectories?
    /// When each running job began (its start file), for timeouts and records.
    var startedAt: [TaskID: (Timestamp, MonotonicInstant)] = [:]
    var nodes: [TaskID: String] = [:]
}

/// Slurm providers in the loop: the thin part that carries out what each
/// provider's `SlurmJobTable` decides. Tasks of a Slurm provider are not
/// local attempts: they take no worker, the shutdown leaves their jobs
/// running, and the next start follows them by the job id in their task file.
extension Daemon {
    var hasSlurmProviders: Bool { config.providers.values.contains { $0.mode == .slurm } }

    /// At start, before the loop: finds Slurm's commands, checks that the
    /// nodes can write to the spool, and watches the jobs' files. Throws a
    /// message naming what is missing.
    func openSlurm() throws(HopperError) {
        guard hasSlurmProviders else { return }
        let dir = spool.path + "/" + SlurmJobScript.directory
        do {
            if !spool.root.exists(FileName(SlurmJobScript.directory)) { try Directory.create(dir) }
            slurm.directories = SlurmJobDirectories(shared: try Directory.open(dir))
        } catch {
            throw HopperError(error, "cannot create \(dir)")
        }
        for provider in config.providers.values where provider.mode == .slurm {
            try SlurmSpoolProbe.check(commands: slurm.commands!, partition: provider.slurm?.partition, spool: spool.path,
                                      environment: slurmEnvironment, log: log)
        }
    }

    /// A Slurm provider without Slurm's commands is a configuration error
    /// (before the spool is touched).
    func locateSlurmCommands() throws(HopperError) {
        let path = ProcessEnvironment.pairs().first { $0.0 == "PATH" }?.1
        for provider in config.providers.values.sorted(by: { $0.name < $1.name }) where provider.mode == .slurm {
            slurm.commands = try SlurmCommands.locate(path: path, provider: provider.name)
        }
    }

    /// On the poller thread, before recovery: the watch on the jobs' files,
    /// in the shared job directory and in every owner's found on disk.
    func watchSlurm() throws(HopperError) {
        guard hasSlurmProviders, var directories = slurm.directories else { return }
        let dir = spool.path + "/" + SlurmJobScript.directory
        do {
            let inotify = try Inotify()
            try directories.watchShared(inotify)
            if runsAsOwner {
                for uid in directories.ownersOnDisk() { _ = try directories.directory(owner: uid, inotify: inotify) }
            }
            slurm.directories = directories
            let queue = self.queue
            _ = Poller.shared.register(inotify.descriptor, .readable) { _ in
                let batch = (try? inotify.readEvents()) ?? [InotifyEvent(watch: -1, mask: InotifyMask.queueOverflow, cookie: 0, name: [])]
                if !batch.isEmpty { queue.post(.slurm(.files(batch))) }
            }
            slurm.inotify = inotify
        } catch {
            throw HopperError(error, "cannot watch \(dir)")
        }
    }

    /// The environment of `sbatch`, `squeue` and `scancel` (and so of every
    /// job, which `sbatch` exports): the daemon's, without its run marker,
    /// and with the `HOME`, `USER` and `LOGNAME` of the user `sbatch` runs as.
    func slurmEnvironment(as user: UserAccount? = nil) -> [String] {
        let identity = Daemon.identity(user)
        let replaced = Set(identity.map(\.0))
        return (baseEnvironment.filter { !replaced.contains($0.0) } + identity).map { "\($0.0)=\($0.1)" }
    }
    var slurmEnvironment: [String] { slurmEnvironment() }

    /// The uid a task's job is submitted as and runs as, when that is not
    /// the daemon's own: its owner, under `run_as: "owner"`.
    func slurmOwner(_ task: SpooledTask) -> UInt32? {
        guard runsAsOwner, let uid = task.owner?.uid, uid != ProcessIdentity.effectiveUID else { return nil }
        return uid
    }

    /// The job directory of jobs that run as `owner`, if it is open.
    private func jobDirectory(_ owner: UInt32?) -> Directory? {
        guard let directories = slurm.directories else { return nil }
        guard let owner else { return directories.shared }
        return directories.owners[owner]
    }

    /// The provider's table, with `max_jobs` as the configuration says now (a reload may change it).
    private func table(_ provider: Provider) -> SlurmJobTable {
        var t = slurm.tables[provider.name] ?? SlurmJobTable(maxJobs: provider.slurm?.maxJobs ?? 100)
        t.maxJobs = provider.slurm?.maxJobs ?? 100
        return t
    }

    func isSlurm(_ providerName: String) -> Bool { config.providers[providerName]?.mode == .slurm }

    /// `canStart` for a Slurm provider: below `max_jobs`.
    func slurmCanStart(_ provider: Provider) -> Bool { table(provider).hasCapacity }

    /// Starts a queued task of a Slurm provider: into running/, empty output
    /// files (the job appends to them; its owner's, as a local task's are),
    /// the attempt noted in the task file before anything is submitted, then
    /// the table decides when. A job that runs as its owner gets the owner's
    /// job directory, made on first use.
    func startSlurmAttempt(_ queuedTask: SpooledTask, provider: Provider) {
        var task = queuedTask
        let id = task.id
        let owner = slurmOwner(task)
        if let owner {
            let inotify = slurm.inotify
            do { _ = try slurm.directories?.directory(owner: owner, inotify: inotify) } catch {
                finish(task, from: .queued, state: .error, reason: .spawn, message: "Hopper could not make the Slurm job directory of uid \(owner): \(error).")
                return
            }
        }
        if task.attempts > 0 { store.removeOutputs(id, in: .queued) }
        // A requeue this turn staged the removal of the last job's outputs in running/: these replace them.
        store.keepOutputs(id, in: .running)
        let access = FileAccess(owner: task.owner?.uid)
        for name in [Spool.outputFile(id), Spool.errorFile(id)] {
            do {
                let fd = try spool[.running].openFile(name, O_WRONLY | O_CREAT | O_TRUNC, mode: FileAccess.mode)
                // The job opens it as its own user; the owner's, as a local task's output is.
                access.apply(to: fd)
                fd.close()
            } catch {
                store.removeOutputs(id, in: .running)
                finish(task, from: .queued, state: .error, reason: .spawn, message: "Hopper could not create the output files: \(error).")
                return
            }
        }
        task.attempts += 1
        task.started = true
        task.slurmAttempt = task.attempts
        task.slurmJobID = nil
        // Written into running/ with its attempt, then gone from queued/: a
        // crash in between leaves it in running/ with the attempt (followed,
        // found never submitted, requeued uncharged), never in running/
        // without one, which recovery would count as an interruption.
        guard write(task, to: .running) else {
            store.removeOutputs(id, in: .running)
            finish(queuedTask, from: .queued, state: .error, reason: .spawn, message: "Hopper could not write the task file before submitting its job.")
            return
        }
        store.removeTaskFile(id, from: .queued)
        scheduler.update(task)
        events.append("task.state") { w in w.field("id", id.rawValue); w.field("from", "queued"); w.field("to", "running") }
        published.changed = true
        var t = table(provider)
        let actions = t.start(id, attempt: task.attempts, owner: owner)
        slurm.tables[provider.name] = t
        carryOut(actions, provider: provider.name)
    }

    /// A cancel of a task whose Slurm job Hopper holds; false if it holds none.
    func cancelSlurm(_ id: TaskID) -> Bool {
        guard let entry = scheduler[id], entry.state == .running, let attempt = entry.task.slurmAttempt,
              var t = slurm.tables[entry.task.provider], t.jobs[id] != nil else { return false }
        let actions = t.stop(id, attempt: attempt, .cancel)
        slurm.tables[entry.task.provider] = t
        log.info("cancel", "cancelling a Slurm job", [("id", id.rawValue)])
        carryOut(actions, provider: entry.task.provider)
        return true
    }

    func slurmDeadline(_ action: Deadline.Action) {
        switch action {
        case .slurmSubmit(let name):
            guard var t = slurm.tables[name] else { return }
            let actions = t.submitIfDue()
            slurm.tables[name] = t
            carryOut(actions, provider: name)
        case .slurmPoll(let name):
            guard var t = slurm.tables[name] else { return }
            let actions = t.pollIfDue()
            slurm.tables[name] = t
            carryOut(actions, provider: name)
        case .slurmTimeout(let id, let attempt):
            guard let entry = scheduler[id], var t = slurm.tables[entry.task.provider] else { return }
            let actions = t.stop(id, attempt: attempt, .timeout)
            slurm.tables[entry.task.provider] = t
            if !actions.isEmpty { log.info("task", "timed out; cancelling its Slurm job", [("id", id.rawValue)]) }
            carryOut(actions, provider: entry.task.provider)
        default:
            break
        }
    }

    func handleSlurm(_ news: SlurmNews) {
        switch news {
        case .submitted(let name, let results):
            guard var t = slurm.tables[name] else { return }
            for (id, result) in results {
                if case .failure(let refusal) = result { log.error("slurm", "sbatch refused a job", [("id", id.rawValue), ("error", refusal.message)]) }
            }
            let actions = t.submitted(results)
            slurm.tables[name] = t
            carryOut(actions, provider: name)
        case .polled(let name, let states):
            guard let before = slurm.tables[name] else { return }
            if states == nil { log.warning("slurm", "squeue failed; asking again shortly", [("provider", name)]) }
            // An exit file that squeue's news outran, or that inotify did not
            // report (written by another NFS client), is read first.
            if let states {
                let active = Set(states.filter(\.isActive).map(\.jobID))
                for (id, job) in before.jobs {
                    if case .submitted(let jobID) = job.phase, !active.contains(jobID) { readJobFiles(id, attempt: job.attempt, owner: job.owner) }
                }
            }
            // Reading those files changed the table: take it as it is now.
            var t = slurm.tables[name]!
            let actions = t.polled(states)
            slurm.tables[name] = t
            carryOut(actions, provider: name)
            if slurm.tables[name]?.needsPolling == true { schedule(after: 1, .slurmPoll(name)) }
        case .files(let batch):
            if batch.contains(where: \.isOverflow) {
                for (owner, directory) in slurm.directories?.all ?? [] {
                    for name in (try? directory.entries()) ?? [] { jobFile(name, owner: owner) }
                }
            } else {
                for event in batch {
                    guard let owner = slurm.directories?.owner(ofWatch: event.watch) else { continue }
                    jobFile(FileName(bytes: event.name), owner: owner)
                }
            }
        }
    }

    /// Reads the start and exit files of one attempt, if they are there.
    private func readJobFiles(_ id: TaskID, attempt: Int, owner: UInt32?) {
        jobFile(FileName("\(id.rawValue).\(attempt).start"), owner: owner)
        jobFile(FileName("\(id.rawValue).\(attempt).exit"), owner: owner)
    }

    /// One `<id>.<attempt>.start` or `.exit` file in the job directory of
    /// `owner`, if it is there and that directory is its task's: a file in
    /// one owner's directory never speaks for another owner's task.
    private func jobFile(_ name: FileName, owner: UInt32?) {
        let text = String(decoding: name.bytes, as: UTF8.self)
        let parts = text.split(separator: ".")
        guard parts.count >= 3, let kind = parts.last, kind == "start" || kind == "exit",
              let attempt = Int(parts[parts.count - 2]), let id = TaskID(parts.dropLast(2).joined(separator: ".")),
              let entry = scheduler[id], entry.task.slurmAttempt == attempt, slurmOwner(entry.task) == owner,
              let directory = jobDirectory(owner), var t = slurm.tables[entry.task.provider],
              let bytes = ((try? AtomicFile.read(name, in: directory, limit: 4096)) ?? nil) else { return }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        let actions: [SlurmJobTable.Action]
        if kind == "start" {
            guard t.jobs[id]?.hasStarted == false else { return }
            let st = (try? directory.status(name)) ?? nil
            let wall = st.map { Timestamp(nanoseconds: Int64($0.st_mtim.tv_sec) * 1_000_000_000 + Int64($0.st_mtim.tv_nsec)) } ?? Timestamp.now()
            let age = max(0, Timestamp.now() - wall)
            slurm.startedAt[id] = (wall, MonotonicInstant.now().adding(seconds: -age))
            if let node = fields.first { slurm.nodes[id] = node }
            actions = t.started(id, attempt: attempt, node: fields.first)
        } else {
            guard let status = fields.first.flatMap({ Int32($0) }) else { return }
            actions = t.exited(id, attempt: attempt, status: SlurmOutcome.status(status),
                               node: fields.count > 1 ? fields[1] : nil, jobID: fields.count > 2 ? fields[2] : nil)
        }
        slurm.tables[entry.task.provider] = t
        carryOut(actions, provider: entry.task.provider)
    }

    /// The thin loop: what a table decided, done.
    func carryOut(_ actions: [SlurmJobTable.Action], provider name: String) {
        for action in actions {
            switch action {
            case .armSubmit:
                schedule(after: 0, .slurmSubmit(name))
            case .submit(let ids, let owner):
                submit(ids, owner: owner, provider: name)
            case .writeJobID(let id, let jobID):
                guard var task = scheduler[id]?.task else { continue }
                task.slurmJobID = jobID
                write(task, to: .running)
                scheduler.update(task)
            case .scancel(let id, let jobID):
                guard let scancel = slurm.commands?.scancel else { continue }
                AuthRunner.run([scancel, jobID], environment: slurmEnvironment, timeout: 30) { [log] outcome in
                    if outcome.status != .exited(0) {
                        log.warning("slurm", "scancel failed", [("id", id.rawValue), ("job", jobID), ("error", outcome.stderr.slurmTrimmed)])
                    }
                }
                schedule(after: 1, .slurmPoll(name))
            case .armTimeout(let id, let attempt):
                guard let task = scheduler[id]?.task else { continue }
                let timeout = task.request.timeout ?? config.commandDefaultTimeout
                let began = slurm.startedAt[id]?.1 ?? MonotonicInstant.now()
                schedule(at: began.adding(seconds: timeout), .slurmTimeout(id, attempt: attempt))
            case .poll:
                poll(provider: name)
            case .finish(let id, let attempt, let end, let stop):
                finishSlurmAttempt(id, attempt: attempt, end: end, stop: stop)
            case .requeue(let id):
                guard var task = scheduler[id]?.task else { continue }
                log.info("slurm", "its job was never submitted; back to queued", [("id", id.rawValue)])
                task.attempts = max(0, task.attempts - 1)
                requeueFromRunning(task)
            case .removeJobFiles(let id, let attempt, let owner):
                guard let directory = jobDirectory(owner) else { continue }
                // Only once the turn's commit has made the record (or the requeue)
                // durable: until then the exit file is what the next daemon reads.
                for suffix in ["job", "start", "exit", "stdin"] { removeAfterCommit.append((directory, FileName("\(id.rawValue).\(attempt).\(suffix)"))) }
            }
        }
    }

    /// Back to queued/, without its attempt: written there first, then gone
    /// from running/, so that a crash in between leaves the task in running/
    /// with its attempt (followed again), never there without one.
    private func requeueFromRunning(_ task: SpooledTask) {
        var task = task
        task.slurmAttempt = nil
        task.slurmJobID = nil
        if write(task, to: .queued) {
            store.removeTaskFile(task.id, from: .running)
        } else {
            moveFile(task.id, from: .running, to: .queued)
        }
        store.removeOutputs(task.id, in: .running)
        scheduler.requeue(task)
        events.append("task.state") { w in w.field("id", task.id.rawValue); w.field("from", "running"); w.field("to", "queued") }
        published.changed = true
    }

    /// Writes each task's job script and submits the batch in one process,
    /// run as the tasks' owner when their jobs run as that owner: the job is
    /// then the owner's in Slurm, from its accounting to the uid it runs as.
    private func submit(_ ids: [TaskID], owner: UInt32?, provider name: String) {
        let queue = self.queue
        guard let provider = config.providers[name], let commands = slurm.commands else { return }
        let user = owner.flatMap { account($0) }
        guard let directory = jobDirectory(owner), owner == nil || user != nil else {
            let why = owner.map { "uid \($0) has no entry in the password database, or no job directory" } ?? "no job directory"
            queue.post(.slurm(.submitted(provider: name, ids.map { ($0, .failure(.init(message: "Hopper cannot submit as the task's owner: \(why)"))) })))
            return
        }
        // Readable by the job's user, who runs sbatch and the job; no one else.
        let access = FileAccess(owner: owner)
        var paths: [String] = []
        var submitted: [TaskID] = []
        var refused: [(TaskID, Result<String, SlurmJobTable.SubmitRefusal>)] = []
        for id in ids {
            guard let task = scheduler[id]?.task, let attempt = task.slurmAttempt else {
                refused.append((id, .failure(.init(message: "the task is gone"))))
                continue
            }
            let script = jobScript(task, attempt: attempt, provider: provider, jobDirectory: SlurmJobScript.directory(owner: owner))
            do {
                if let stdin = task.request.stdin {
                    try AtomicFile.write(Array(stdin.utf8), to: FileName("\(script.base).stdin"), in: directory, scratch: spool.tmp, sync: false, private: access)
                }
                try AtomicFile.write(Array(script.text.utf8), to: FileName("\(script.base).job"), in: directory, scratch: spool.tmp, sync: false, private: access)
            } catch {
                refused.append((id, .failure(.init(message: "Hopper could not write its job script: \(error)"))))
                continue
            }
            paths.append(script.path)
            submitted.append(id)
        }
        guard !submitted.isEmpty else {
            queue.post(.slurm(.submitted(provider: name, refused)))
            return
        }
        var arguments = provider.slurm?.args ?? []
        if let partition = provider.slurm?.partition { arguments = ["--partition=\(partition)"] + arguments }
        let loop = SlurmJobScript.submitLoop(sbatch: commands.sbatch, arguments: arguments)
        let ids = submitted
        let refusedEarly = refused
        AuthRunner.run(["/bin/sh", "-c", loop, "hopper-sbatch"] + paths, environment: slurmEnvironment(as: user) + ["\(Daemon.runMarker)=\(runID)"],
                       timeout: 600, user: user) { outcome in
            let message = outcome.spawnError ?? (outcome.timedOut ? "sbatch did not answer" : "")
            let results = message.isEmpty ? SlurmJobScript.parseSubmissions(outcome.stdout, count: ids.count)
                : ids.map { _ in .failure(SlurmJobTable.SubmitRefusal(message: message)) }
            queue.post(.slurm(.submitted(provider: name, refusedEarly + Array(zip(ids, results)))))
        }
    }

    private func jobScript(_ task: SpooledTask, attempt: Int, provider: Provider, jobDirectory: String) -> SlurmJobScript {
        var env = provider.env
        env += task.request.env.map { ($0.name, $0.value) }
        env += [("HOPPER_TASK_ID", task.id.rawValue), ("HOPPER_SPOOL", spool.path), ("HOPPER_ATTEMPT", String(attempt))]
        return SlurmJobScript(id: task.id, attempt: attempt,
                              argv: provider.argv(running: task.request.command),
                              environment: env, workingDirectory: task.request.cwd ?? provider.cwd,
                              hasStdin: task.request.stdin != nil, spool: spool.path,
                              timeout: task.request.timeout ?? config.commandDefaultTimeout, jobDirectory: jobDirectory)
    }

    /// Asks `squeue` about this provider's jobs, by their names: only
    /// Hopper's, as a cluster's whole queue can be more than a poll keeps.
    private func poll(provider name: String) {
        let queue = self.queue
        guard let squeue = slurm.commands?.squeue, let ids = slurm.tables[name]?.jobs.keys, !ids.isEmpty else {
            queue.post(.slurm(.polled(provider: name, nil)))
            return
        }
        let log = self.log
        AuthRunner.run([squeue] + SlurmJobScript.queueArguments(for: ids.sorted { $0.rawValue < $1.rawValue }), environment: slurmEnvironment, timeout: 60) { outcome in
            // Cut at the 64 KiB a step keeps: jobs past the cut would look gone. A failed poll changes nothing.
            let isCut = outcome.stdout.utf8.count >= 65536
            if isCut { log.warning("slurm", "squeue said more than a poll reads; its answer is not used", [("provider", name)]) }
            let states = outcome.status == .exited(0) && !isCut ? SlurmJobScript.parseQueue(outcome.stdout) : nil
            queue.post(.slurm(.polled(provider: name, states)))
        }
    }

    /// A Slurm attempt is over: its record, a retry, or (the cluster lost it)
    /// an interruption that submits it again. The job's files are left for
    /// the table's `removeJobFiles`, which follows: until the record is
    /// written, its exit file is what a restarted daemon would record it from.
    private func finishSlurmAttempt(_ id: TaskID, attempt: Int, end: SlurmJobTable.End, stop: SlurmJobTable.Stop?) {
        guard var task = scheduler[id]?.task, task.slurmAttempt == attempt else { return }
        let timeout = task.request.timeout ?? config.commandDefaultTimeout
        let outcome = SlurmOutcome.of(end, stop: stop, timeout: timeout)
        var jobID = task.slurmJobID, node = slurm.nodes[id]
        switch end {
        case .exited(_, let n, let j): node = n ?? node; jobID = j ?? jobID
        case .slurm(_, let n, let j): node = n ?? node; jobID = j
        case .lost(let j): jobID = j
        case .notSubmitted, .neverSubmitted: break
        }
        let began = slurm.startedAt[id]?.0
        slurm.startedAt[id] = nil
        slurm.nodes[id] = nil
        published.changed = true
        switch outcome {
        case .interrupted(let why):
            task.interruptions += 1
            if task.interruptions >= Recovery.maxInterruptions {
                var record = TaskRecord(task: task, state: .error, reason: .interrupted, message: "\(why); interrupted \(task.interruptions) times, it is not retried again.", finishedAt: Timestamp.now())
                record.slurmJobID = jobID
                record.node = node
                record.startedAt = began
                complete(record, from: .running)
            } else {
                log.warning("slurm", "the cluster interrupted a job; submitting it again", [("id", id.rawValue), ("why", why)])
                requeueFromRunning(task)
            }
        case .record(let state, let reason, let message, let exitCode, let signal):
            let output = slurmOutputCounts(id)
            if state == .failed && stop == nil && task.attempts <= task.request.retries {
                // The next attempt is a new job.
                task.slurmAttempt = nil
                task.slurmJobID = nil
                scheduleRetry(task, outcome: message)
                return
            }
            var record = TaskRecord(task: task, state: state, reason: reason, message: message, finishedAt: Timestamp.now())
            record.exitCode = exitCode
            record.signal = signal
            record.startedAt = began
            record.slurmJobID = jobID
            record.node = node
            record.stdoutBytes = output.0
            record.stderrBytes = output.1
            record.truncated = output.2
            complete(record, from: .running)
        }
    }

    /// The job wrote its output itself: the sizes, cut to `max_output_bytes`
    /// with a marker line when over it.
    private func slurmOutputCounts(_ id: TaskID) -> (Int64, Int64, Bool) {
        var sizes: [Int64] = []
        var truncated = false
        let limit = Int64(config.maxOutputBytes)
        for name in [Spool.outputFile(id), Spool.errorFile(id)] {
            let size = ((try? spool[.running].status(name)) ?? nil).map { Int64($0.st_size) } ?? 0
            if size > limit, let fd = try? spool[.running].openFile(name, O_WRONLY) {
                _ = ftruncate(fd.rawValue, off_t(limit))
                _ = lseek(fd.rawValue, 0, SEEK_END)
                try? fd.writeAll(Array("\n[hopper: output truncated at \(limit) bytes]\n".utf8))
                fd.close()
                truncated = true
            }
            sizes.append(min(size, limit))
        }
        return (sizes[0], sizes[1], truncated)
    }

    /// After recovery: tasks left in running/ with a Slurm attempt are
    /// followed by their job id (or found by job name), never run again.
    func followSlurmJobs() {
        guard hasSlurmProviders else { return }
        var byID = 0, byName = 0
        for name in (try? spool[.running].entries()) ?? [] where name.hasSuffix(".json") {
            guard let bytes = ((try? AtomicFile.read(name, in: spool[.running])) ?? nil), let task = try? SpooledTask.decode(bytes),
                  let attempt = task.slurmAttempt, scheduler[task.id] == nil else { continue }
            guard let provider = config.providers[task.provider], provider.mode == .slurm else {
                log.warning("slurm", "a task's Slurm job is left alone: its provider is no longer a Slurm provider", [("id", task.id.rawValue)])
                continue
            }
            let owner = slurmOwner(task)
            if let owner {
                let inotify = slurm.inotify
                do { _ = try slurm.directories?.directory(owner: owner, inotify: inotify) } catch {
                    log.error("slurm", "cannot open the job directory of a task's owner; its end will come from Slurm", [("id", task.id.rawValue), ("error", "\(error)")])
                }
            }
            scheduler.adoptRunning(task)
            var t = table(provider)
            let actions = t.follow(task.id, attempt: attempt, jobID: task.slurmJobID, hasStarted: false, owner: owner)
            slurm.tables[provider.name] = t
            carryOut(actions, provider: provider.name)
            if task.slurmJobID == nil { byName += 1 } else { byID += 1 }
        }
        let directories = slurm.directories?.all ?? []
        // Files of attempts that are over (a crash between the record and their removal).
        for (owner, directory) in directories {
            for name in (try? directory.entries()) ?? [] {
                let parts = String(decoding: name.bytes, as: UTF8.self).split(separator: ".")
                guard parts.count >= 3, let attempt = Int(parts[parts.count - 2]), let id = TaskID(parts.dropLast(2).joined(separator: ".")) else { continue }
                if let task = scheduler[id]?.task, task.slurmAttempt == attempt, slurmOwner(task) == owner { continue }
                try? directory.remove(name)
            }
        }
        guard byID + byName > 0 else { return }
        log.info("slurm", "following jobs a previous daemon submitted", [("by_job_id", "\(byID)"), ("by_job_name", "\(byName)")])
        // Jobs that started or ended while no daemon watched.
        for suffix in [".start", ".exit"] {
            for (owner, directory) in directories {
                for name in (try? directory.entries()) ?? [] where name.hasSuffix(suffix) { jobFile(name, owner: owner) }
            }
        }
        published.changed = true
    }
}
