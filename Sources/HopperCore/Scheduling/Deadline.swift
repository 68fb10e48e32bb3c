/// Something the daemon must do at a moment on the monotonic clock.
public struct Deadline: Sendable, Comparable {
    public enum Action: Sendable, Equatable {
        /// A pending task's run_after or retry delay has come.
        case release(TaskID)
        /// A task not started by its queue_timeout ends `error`/`expired`.
        case expire(TaskID)
        /// A running attempt's timeout or cancel: SIGTERM its process group.
        case terminate(TaskID, attempt: Int)
        /// The kill grace after SIGTERM is over: SIGKILL.
        case kill(TaskID, attempt: Int)
        /// Rewrite status.json and metrics.prom.
        case publish
        /// Shutdown grace is over: kill what still runs.
        case shutdown
        /// Apply retention to done/.
        case retention
        /// Examine files left claimed after a failed write.
        case retryClaimed
        /// A session's next authentication attempt.
        case authRetry(provider: String, session: String)
        /// A session's idle warning, idle close or lifetime retirement may be due.
        case sessionTick(provider: String, session: String)
        /// A closing session's kill grace is over.
        case sessionKill(provider: String, session: String)
        /// A provider's circuit cooldown is over: try its queue again.
        case providerWake(String)
        /// Records that could not be written get another try.
        case retryRecords
        /// A file written in place in incoming/ may have settled (`DropSettling`).
        case settle(FileName)
        /// Slurm providers: submit the tasks started since the last batch.
        case slurmSubmit(String)
        /// Slurm providers: ask squeue about the jobs again.
        case slurmPoll(String)
        /// Slurm providers: a job's exact timeout (scancel).
        case slurmTimeout(TaskID, attempt: Int)
        /// A provider's rate-limit or budget window may be over.
        case limitEnds(String)
        /// A running attempt may have been silent for `idle_output` seconds.
        case silence(TaskID, attempt: Int)
    }

    public var at: MonotonicInstant
    public var action: Action
    var order: UInt64 = 0

    public init(at: MonotonicInstant, _ action: Action) {
        self.at = at
        self.action = action
    }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.at != b.at ? a.at < b.at : a.order < b.order }
    public static func == (a: Deadline, b: Deadline) -> Bool { a.at == b.at && a.order == b.order }
}
