import CHopperShim
import Glibc

/// How `hopper run` was asked to run.
public struct DaemonOptions: Sendable {
    public var spoolPath: String
    public var configPath: String
    public var logger: Logger
    /// Where readiness, status and watchdog pings go (systemd's `NOTIFY_SOCKET`).
    public var notifier: Notifier
    /// `--exit-when-idle`: stop, exit 0, once there is nothing left to do.
    public var exitWhenIdle: Bool
    /// The hopper binary, to start the run's guard with (`RunGuard`); nil
    /// starts none.
    public var guardExecutable: String?

    public init(spoolPath: String, configPath: String, logger: Logger = Logger(), notifier: Notifier = .disabled, exitWhenIdle: Bool = false,
                guardExecutable: String? = nil) {
        self.spoolPath = spoolPath
        self.configPath = configPath
        self.logger = logger
        self.notifier = notifier
        self.exitWhenIdle = exitWhenIdle
        self.guardExecutable = guardExecutable
    }
}

/// The daemon: one loop that owns every piece of mutable state and takes the
/// kernel's news (inotify, exits, signals, its own deadlines) in batches.
///
/// The loop runs on the poller thread, as its turn handler: the kernel's news
/// is handled where it is read, without a thread hand-off per task.
/// A turn: handle the batch (claim and accept dropped files, finish attempts,
/// cancel), fire due deadlines, start queued tasks on free workers, commit
/// (the staged files synced together on the sync thread, renamed into place
/// by a later turn once that sync returns, the renames synced by the next),
/// then release what earlier turns held for their sync (hooks, event lines)
/// and publish status. Nothing is acknowledged before its sync.
///
/// `@unchecked Sendable`: once `run` has opened the spool, every property is
/// touched on the poller thread only.
public final class Daemon: @unchecked Sendable {
    enum Event: Sendable {
        case inotify([InotifyEvent])
        case exited(TaskID, attempt: Int, RunResult)
        case signal(Signal)
        case rescan
        case authStep(provider: String, session: String, step: AuthStep)
        case sessionTaskFinished(TaskID, attempt: Int, SessionTaskResult)
        case sessionExited(provider: String, session: String, ExitStatus)
        case slurm(SlurmNews)
        case hookFinished(TaskID, AuthRunner.Outcome)
        /// The background sync returned (`TaskStore.commit` takes its result).
        case synced
    }

    /// One attempt in flight.
    struct Attempt {
        var task: SpooledTask
        var number: Int
        var process: SpawnedProcess
        var startedAt: Timestamp
        var timeout: Double
        /// Why Hopper stopped it, if it did, and what its end then means.
        var settlement = AttemptSettlement()
        /// The session it runs in, if its provider uses sessions.
        var session: String?
        /// Whether it runs inside a session process (timeouts kill that session).
        var inSessionProcess = false
        /// An agent CLI's adapter, reading the attempt's output (exec agents).
        var tap: AgentTap?
        /// `timeouts.command.idle_output` for it (0: off), and its last output.
        var idleOutput = 0.0
        var activity: ActivityMark?
    }

    let options: DaemonOptions
    var log: Logger
    var config: Configuration
    var intake: Intake
    /// `security.run_as` is "owner" (decided at start).
    var runsAsOwner = false
    /// Password database entries by uid, looked up once (nil: none).
    var accounts: [UInt32: UserAccount?] = [:]
    /// Files written in place in incoming/, waiting to be left alone.
    var settling: DropSettling
    let queue = EventQueue<Event>()
    let runner = ExecRunner()
    var spool: Spool!
    var store: TaskStore!
    var events: EventLog!
    var lock: FileLock?
    var inotify: Inotify?
    var incomingWatch: Int32 = -1
    var cancelWatch: Int32 = -1
    var pausedWatch: Int32 = -1
    /// The providers paused by files in paused/.
    var pause = PauseSwitch()
    /// Completion hooks due, running, and those this turn made due (held with its sync: `holdForSync`).
    var hooks: HookQueue
    var hooksToStart: [HookQueue.Job] = []
    var hookMarkers: Directory?
    var scheduler = Scheduler()
    var attempts: [TaskID: Attempt] = [:]
    var deadlines = DeadlineTable()
    var nextSeq: UInt64 = 1
    var idSuffixes = IDSuffixGenerator()
    var baseEnvironment: [(String, String)] = []
    /// The daemon's environment merged with each provider's and user's
    /// (`EnvironmentBlock`), made at a provider's first start after a reload
    /// and again when the user's account changed.
    var environmentBlocks: [EnvironmentKey: (user: UserAccount?, block: EnvironmentBlock)] = [:]
    struct EnvironmentKey: Hashable {
        var provider: String
        var uid: UInt32?
    }
    /// Files claimed from incoming/ this turn, removed once the turn is durable.
    var acknowledged: [FileName] = []
    /// Files that may go only once this turn is durable (a Slurm job's exit
    /// file, until its task's record is on disk).
    var removeAfterCommit: [(Directory, FileName)] = []
    var rescanIncoming = false
    /// What turns left for after their commit's background sync (event
    /// lines, due hooks, what status.json says), released in order once the
    /// store has carried out the batch each turn's changes went with
    /// (DaemonHeldForSync.swift). Its `released` snapshot is what status.json
    /// and metrics.prom say, so that they never count a task whose record is
    /// not yet in done/, or whose file is not yet where its state says.
    var held = SyncHolds<HookQueue.Job, StatusCounts>(released: StatusCounts(stats: Stats(), counts: [:]))
    /// The counters and the tasks in each unfinished state at a turn's end
    /// (what status.json and metrics.prom say once the turn is released).
    struct StatusCounts {
        var stats: Stats
        var counts: [TaskState: Int]
    }
    var syncer: BackgroundSync?
    /// Tasks accepted or recovered since the heap was last trimmed, and how
    /// many make a burst worth trimming after (`releaseBurstGarbage`).
    var tasksSinceTrim = 0
    static let trimAfterTasks = 4096
    var shuttingDown = false
    var shutdownDeadline: MonotonicInstant?
    var stats = Stats()
    /// Every provider's sessions and circuit (decisions only).
    var sessions: SessionPool
    /// The live processes of session-mode sessions, by session id.
    var sessionProcesses: [String: SessionProcess] = [:]
    /// Agent providers' rate-limit and budget windows (DaemonLimits.swift).
    var limits: [String: ProviderLimit] = [:]
    /// What each agent provider spent today (UTC), from the records.
    var budget = BudgetLedger()
    /// Time zones for the reset times agent CLIs print.
    let zones = ZoneLookup.system(tz: getenv("TZ").map { String(cString: $0) })
    /// Records that could not be written yet, with where their task file is.
    var unwrittenRecords: [(TaskRecord, SpoolDirectory?)] = []
    /// How often "cannot write a record" is logged while the disk stays full.
    var recordWriteFailures = RepeatedFailure()
    /// When the one armed retry of the claimed files is due, if armed.
    var claimedRetryAt: MonotonicInstant?
    /// After running out of resources, no task starts before this instant.
    var startsPausedUntil: MonotonicInstant?
    /// Values masked as *** in everything Hopper writes.
    var mask = SecretMask()
    var published = Publication()
    let startedAt = Timestamp.now()
    /// Marks every process this daemon run starts (environment `HOPPER_RUN`),
    /// so the next run can find and kill what a crash left behind.
    let runID = IDSuffixGenerator.random(16)
    var previousRun: String?
    static let runMarker = "HOPPER_RUN"
    /// Kills this run's processes if the daemon dies without stopping them.
    var runGuard: RunGuard?
    /// Set with the exit code when the loop ends.
    let stopped = Latch<Result<Int32, HopperError>>()
    var signalSubscriptions: [(Signal, UInt64)] = []
    /// Slurm providers' job tables and watch (DaemonSlurm.swift).
    var slurm = SlurmRuntime()

    /// Counters since start, for status.json and metrics.prom.
    struct Stats {
        var accepted = 0
        var rejected = 0
        var finished: [TaskState: Int] = [.succeeded: 0, .failed: 0, .error: 0, .cancelled: 0]
        var durationSum = 0.0
        /// Cumulative: bucket i counts durations ≤ Publication.buckets[i].
        var durationBuckets = [Int](repeating: 0, count: Publication.buckets.count)
        var durationCount = 0
        var hookFailures = 0
    }

    /// Loads the configuration; a bad one stops here, before the spool is touched.
    public init(options: DaemonOptions) throws(HopperError) {
        self.options = options
        self.log = options.logger
        config = try Configuration.load(path: options.configPath)
        intake = Intake(config: config)
        settling = DropSettling(settle: config.intakeSettle)
        hooks = HookQueue(limit: config.workers)
        sessions = SessionPool(settings: SessionPool.Settings(config))
        try locateSlurmCommands()
    }

    /// Runs until SIGTERM or SIGINT, blocking the calling thread; returns the
    /// process exit code. The loop itself runs on the poller thread.
    public func run() throws(HopperError) -> Int32 {
        try open()
        defer { close() }
        try openSlurm()
        let poller = Poller.shared
        poller.execute {
            do throws(HopperError) {
                try self.startWatching()
            } catch {
                return self.stopped.set(.failure(error))
            }
            do throws(HopperError) {
                try self.watchSlurm()
            } catch {
                return self.stopped.set(.failure(error))
            }
            self.recoverHooks()
            self.recover()
            self.readPauseFiles()
            self.followSlurmJobs()
            self.scanIncoming()
            self.scanCancel()
            self.log.info("daemon", "taking tasks", [("spool", self.spool.path), ("workers", "\(self.config.workers)"),
                                                     ("durability", self.config.durability.rawValue)])
            self.options.notifier.ready(status: "taking tasks")
            self.pingWatchdog()
            poller.setTurnHandler { self.turn() }
            self.finishTurn()
        }
        // Signals go to the poller thread, which is awake anyway: a SIGCHLD
        // taken here would wake this thread only to write to the relay's pipe.
        _ = hopper_block_all_signals()
        return try stopped.wait().get()
    }

    /// `WATCHDOG=1` every half of `WATCHDOG_USEC`, from the loop's own
    /// thread: a loop that stops turning stops pinging.
    private func pingWatchdog() {
        // Only while the loop runs: it has not set its exit code yet.
        guard let interval = options.notifier.watchdogInterval, stopped.current == nil else { return }
        options.notifier.watchdog()
        Poller.shared.after(Double(interval) / 1e6) { self.pingWatchdog() }
    }

    /// One turn of the loop, at the end of a poller wake-up; returns when the
    /// next deadline falls. Does nothing when nothing was posted and nothing is due.
    private func turn() -> MonotonicInstant? {
        // --exit-when-idle looks at every wake-up, the first one included.
        let watchingForIdle = options.exitWhenIdle && !shuttingDown
        if queue.isEmpty && !rescanIncoming && !watchingForIdle {
            guard let next = nextWake() else { return nil }
            if next > MonotonicInstant.now() { return next }
        }
        for event in queue.take() { handle(event) }
        finishTurn()
        releaseBurstGarbage()
        if watchingForIdle && isIdle() {
            log.info("daemon", "nothing left to do; exiting (--exit-when-idle)")
            beginShutdown()
        }
        if shuttingDown && attempts.isEmpty {
            Poller.shared.setTurnHandler(nil)
            closeAllSessions()
            events.flush(reportingTo: log)
            log.info("daemon", "stopped")
            SignalStream.unsubscribe(signalSubscriptions)
            stopped.set(.success(0))
            return nil
        }
        // Posted during the turn (a rescan asked for): the next turn comes at once.
        if !queue.isEmpty || rescanIncoming { return MonotonicInstant.now() }
        return nextWake()
    }

    /// A burst of accepted (or recovered) tasks leaves the garbage of their
    /// decoding scattered between the tasks it keeps, where free(3) does not
    /// give it back: about a sixth of the resident memory after 100,000 dropped
    /// files. Once the burst is over (nothing waits for the next turn), the
    /// heap's free pages go back to the kernel.
    private func releaseBurstGarbage() {
        guard tasksSinceTrim >= Daemon.trimAfterTasks && queue.isEmpty else { return }
        tasksSinceTrim = 0
        hopper_release_free_memory()
    }

    /// The earliest deadline.
    private func nextWake() -> MonotonicInstant? {
        deadlines.next
    }

    private func open() throws(HopperError) {
        let path = Spool.absolute(options.spoolPath)
        do {
            try Spool.create(at: path)
            let daemonUID = ProcessIdentity.effectiveUID
            if let problem = Daemon.securityProblem(config, spool: path, daemonUID: daemonUID) {
                throw HopperError(.config, "refusing to run on spool \(path): \(problem)")
            }
            runsAsOwner = config.security.effectiveRunAs(daemonUID: daemonUID) == .owner
            // `hopper status` asks a running daemon for a fresh status.json with
            // SIGUSR1 once the lock is held: ignored until it is handled below.
            SignalStream.ignore(.user1)
            guard let lock = try acquireLock(path) else {
                throw HopperError(.locked, "another hopper daemon (pid \(lockHolder(path).map(String.init) ?? "?")) is running on spool \(path)")
            }
            self.lock = lock
            // "pid run-id": the previous run's id finds what it left running.
            let previous = (try? AtomicFile.read(path: Spool.lockPath(path), limit: 256)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            previousRun = previous.split(separator: " ").dropFirst().first.map { String($0.filter { !$0.isWhitespace }) }
            lock.record("\(getpid()) \(runID)\n")
            spool = try Spool.open(at: path)
            store = TaskStore(spool: spool, durable: config.durability == .fsync)
            events = try EventLog(root: spool.root, maxBytes: config.maxEventsBytes)
            let queue = self.queue
            let syncer = try BackgroundSync(spool.tmp) { queue.post(.synced) }
            store.syncInBackground(syncer)
            self.syncer = syncer
        } catch let e as HopperError {
            throw e
        } catch {
            throw HopperError(error as! SystemError, "cannot open spool \(path)")
        }
        SignalStream.ignore(.pipe)
        let queue = self.queue
        signalSubscriptions = SignalStream.subscribe([.term, .interrupt, .hangup, .user1]) { queue.post(.signal($0)) }
        Reaper.shared.start()
        Orphans.adoptOrphans()
        // The service manager's socket is the daemon's alone: a task must not notify in its name.
        baseEnvironment = ProcessEnvironment.pairs().filter { !Notifier.environmentNames.contains($0.0) }
        collectConfiguredSecrets()
        if let previousRun, !previousRun.isEmpty {
            let killed = ProcessScan.killMarked("\(Daemon.runMarker)=\(previousRun)").count
            if killed > 0 { log.warning("recovery", "killed processes left by a previous daemon", [("count", "\(killed)")]) }
        }
        if let executable = options.guardExecutable {
            do { runGuard = try RunGuard.start(executable: executable, runID: runID, format: log.format) } catch {
                // The next start still kills what a crash leaves: worth a warning, not a refusal.
                log.warning("daemon", "cannot start the run guard; a crash would leave tasks running until the next start", [("error", "\(error)")])
            }
        }
    }

    private func lockHolder(_ path: String) -> pid_t? { Spool.recordedLockHolder(path) }

    /// Takes the spool's lock. A daemon killed while spawning a task leaves
    /// the lock held for a moment by that child (until its exec closes the
    /// descriptor it shares), so when the recorded holder is dead the lock
    /// is tried again for up to five seconds instead of refusing at once.
    private func acquireLock(_ path: String) throws(SystemError) -> FileLock? {
        if let lock = try FileLock.tryAcquire(Spool.lockPath(path)) { return lock }
        guard let holder = lockHolder(path), kill(holder, 0) != 0, Errno.current == .noProcess else { return nil }
        log.warning("daemon", "the spool's lock outlived its daemon; waiting for it", [("pid", "\(holder)")])
        let deadline = MonotonicInstant.now().adding(seconds: 5)
        while MonotonicInstant.now() < deadline {
            usleep(10_000)
            if let lock = try FileLock.tryAcquire(Spool.lockPath(path)) { return lock }
        }
        return nil
    }

    private func close() {
        // A clean byte only when the loop ended normally: sessions closed, no attempt left.
        if let runGuard {
            let clean: Bool
            if case .success? = stopped.current { clean = true } else { clean = false }
            runGuard.release(clean: clean)
        }
        inotify?.close()
        hookMarkers?.close()
        syncer?.stop()
        events?.flush(reportingTo: log)
        writeStatus(state: "stopped")
        spool?.close()
        lock?.release()
    }

    private func startWatching() throws(HopperError) {
        do {
            let inotify = try Inotify()
            incomingWatch = try inotify.addWatch(spool.path + "/incoming", mask: InotifyMask.closeWrite | InotifyMask.movedTo | InotifyMask.create | InotifyMask.open | InotifyMask.attributes | InotifyMask.onlyDir)
            cancelWatch = try inotify.addWatch(spool.path + "/cancel", mask: InotifyMask.closeWrite | InotifyMask.movedTo | InotifyMask.onlyDir)
            pausedWatch = try inotify.addWatch(PauseFiles.path(spool.path), mask: PauseFiles.watchMask)
            let queue = self.queue
            _ = Poller.shared.register(inotify.descriptor, .readable) { _ in
                do {
                    let batch = try inotify.readEvents()
                    if !batch.isEmpty { queue.post(.inotify(batch)) }
                } catch {
                    // Unreadable: treat as lost events, so the daemon rescans.
                    queue.post(.inotify([InotifyEvent(watch: -1, mask: InotifyMask.queueOverflow, cookie: 0, name: [])]))
                }
            }
            self.inotify = inotify
        } catch {
            throw HopperError(error, "cannot watch spool \(spool.path)")
        }
    }

    func handle(_ event: Event) {
        switch event {
        case .inotify(let batch):
            if batch.contains(where: { $0.watch == pausedWatch || $0.watch == -1 }) { readPauseFiles() }
            handleInotify(batch)
        case .exited(let id, let number, let result):
            let end: AttemptEnd = attempts[id]?.tap.map { .agent($0.exited(result.status)) } ?? .process(result.status)
            finishAttempt(id, number: number, end: end, output: OutputCounts(result))
        case .signal(let signal): handleSignal(signal)
        case .rescan: rescanIncoming = true
        case .authStep(let provider, let session, let step): authenticationStep(provider: provider, session: session, step: step)
        case .sessionTaskFinished(let id, let number, let result): finishSessionAttempt(id, number: number, result: result)
        case .sessionExited(let provider, let session, _): sessionExited(provider: provider, session: session)
        case .slurm(let news): handleSlurm(news)
        case .hookFinished(let id, let outcome): hookFinished(id, outcome)
        case .synced: break
        }
    }

    private func handleSignal(_ signal: Signal) {
        switch signal {
        case .hangup: reload()
        case .user1: publishNow()
        default: beginShutdown()
        }
    }

    func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        log.info("daemon", "shutting down", [("running", "\(attempts.count)"), ("grace", "\(config.shutdownGrace)")])
        schedule(after: config.shutdownGrace, .shutdown)
        published.changed = true
        options.notifier.stopping(status: "shutting down, \(attempts.count) running")
    }

    private func reload() {
        do {
            let fresh = try Configuration.load(path: options.configPath)
            let wasRetaining = config.retentionDoneMaxAge > 0
            config = fresh
            intake = Intake(config: fresh)
            settling.settle = fresh.intakeSettle
            store.durable = fresh.durability == .fsync
            events.maxBytes = fresh.maxEventsBytes
            collectConfiguredSecrets()
            environmentBlocks.removeAll()
            applyReloadedSessionSettings()
            hooksToStart += hooks.setLimit(fresh.workers)
            // Passes already scheduled carry on with the new age; a first non-zero age starts them.
            if fresh.retentionDoneMaxAge > 0 && !wasRetaining { schedule(after: 0, .retention) }
            log.info("config", "reloaded", [("file", options.configPath)])
        } catch {
            log.error("config", "reload failed, keeping the running configuration", [("error", error.message)])
        }
    }

    /// The end of every turn: deadlines, starts, commit, acknowledgements.
    func finishTurn() {
        if rescanIncoming {
            rescanIncoming = false
            scanIncoming()
            scanCancel()
            readPauseFiles()
        }
        fireDueDeadlines()
        startQueued()
        openSessionsForWaitingLanes()
        // A transition that cannot be made durable is never acknowledged: the
        // commit removes the claimed files only once their tasks are on disk.
        // Its sync runs in the background; the turn's events and hooks wait
        // until the renames it covers are made (a later turn's commit).
        let batch: UInt64
        do { batch = try store.commit(acknowledging: acknowledged, removing: removeAfterCommit, settle: shuttingDown) } catch { fatalDurabilityFailure(error) }
        acknowledged.removeAll(keepingCapacity: true)
        removeAfterCommit.removeAll(keepingCapacity: true)
        holdForSync(batch)
        releaseHeldForSync()
        let wasStale = published.changed
        publishIfDue()
        // status.json was just written: the same news, in one line, for `systemctl status`.
        if wasStale && !published.changed { notifyStatus() }
    }

    /// `STATUS=N running, M queued, workers W` for the service manager.
    private func notifyStatus() {
        guard options.notifier.isEnabled else { return }
        let counts = scheduler.counts()
        let line = "\(counts[.running] ?? 0) running, \(counts[.queued] ?? 0) queued, workers \(config.workers)"
        options.notifier.status(shuttingDown ? "shutting down: " + line : line)
    }

    /// fsync or fdatasync failed: the kernel may have dropped the dirty
    /// pages, so nothing written since the last commit can be trusted. Exit
    /// at once, acknowledging nothing more; the next start recovers from
    /// what is on disk.
    func fatalDurabilityFailure(_ error: SystemError) -> Never {
        log.error("spool", "\(error.call) failed; stopping without acknowledging this turn", [("error", "\(error)")])
        for attempt in attempts.values { attempt.process.exit.signalGroup(.kill) }
        exit(75)
    }

    /// Ends the daemon if `error` is a failed fsync or fdatasync; any other
    /// write failure is for the caller to wait out.
    func stopIfSyncFailed(_ error: SystemError) {
        if error.isSyncFailure { fatalDurabilityFailure(error) }
    }

    func schedule(after seconds: Double, _ action: Deadline.Action) {
        schedule(at: MonotonicInstant.now().adding(seconds: seconds), action)
    }

    func schedule(at instant: MonotonicInstant, _ action: Deadline.Action) {
        deadlines.arm(at: instant, action, isLive: isLive)
    }

    /// Whether a deadline can still do anything when it fires.
    func isLive(_ deadline: Deadline) -> Bool {
        switch deadline.action {
        case .terminate(let id, let number), .kill(let id, let number), .silence(let id, let number): return attempts[id]?.number == number
        case .release(let id): return scheduler[id] != nil
        case .expire(let id): return scheduler[id].map { !$0.task.started } ?? false
        case .sessionTick(let name, let id): return sessions.session(name, id)?.lifecycle.armedTimer == deadline.at
        default: return true
        }
    }

    private func fireDueDeadlines() {
        let now = MonotonicInstant.now()
        while let due = deadlines.takeDue(now: now) { fire(due) }
    }
}
