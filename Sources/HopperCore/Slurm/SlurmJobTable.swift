/// One Slurm provider's tasks from their start to their end: which wait to be
/// submitted, which are being submitted, which job id each has, which are
/// being cancelled. A pure value: events in, actions out; the daemon runs
/// `sbatch`, `squeue` and `scancel` and reads the spool.
///
/// | phase \ event  | start      | submitted(id)     | failed to submit | started file | exit file | polled: ended, no exit file | cancel/timeout   |
/// |----------------|------------|-------------------|------------------|--------------|-----------|-----------------------------|------------------|
/// | (none)         | waiting    |                   |                  |              |           |                             |                  |
/// | waiting        |            |                   |                  |              |           |                             | finish (never submitted) |
/// | submitting     |            | submitted(+writeJobID, or scancel if stop asked) | finish(notSubmitted) | running | finish | | stop noted |
/// | submitted      |            |                   |                  | armTimeout   | finish    | finish(slurm state), after a second look | scancel |
/// | locating (recovered, id unknown) | | polled by name: submitted / requeue (after a second look) | | | finish | | |
///
/// A batch of waiting tasks of one owner (the user `sbatch` runs as; nil:
/// the daemon's own) is submitted in one action, up to
/// `maxSubmissionsInFlight` at a time; a poll is asked for while jobs are
/// submitted and none is in flight. Every end is returned once: the task
/// leaves the table with its `finish` (or `requeue`), and always right after
/// it `removeJobFiles`.
///
/// - Important: the exit file is the only proof of how the command ended.
///   The loop must carry out `finish` (the record, retry or requeue written)
///   before it removes the files: a daemon killed in between leaves the task
///   in running/ with its exit file, and the next one records it from that
///   file. The other way round, it would find a job Slurm calls COMPLETED
///   with no exit file.
struct SlurmJobTable: Sendable {
    /// Why Hopper stopped a job.
    enum Stop: Sendable, Equatable { case cancel, timeout }

    enum Phase: Sendable, Equatable {
        case waiting
        case submitting
        case submitted(jobID: String)
        /// Recovered from a task file without a job id: found by name, or never submitted.
        case locating
    }

    struct Job: Sendable, Equatable {
        var attempt: Int
        var phase: Phase
        /// The uid the job is submitted as and runs as; nil: the daemon's user.
        var owner: UInt32? = nil
        var stop: Stop?
        var node: String?
        /// Whether the job's started file has been seen (its timeout is armed).
        var hasStarted = false
        /// Polls that saw the job ended (or gone) with no exit file yet; or,
        /// locating, that found no job of its name.
        var endedPolls = 0
    }

    /// How a job ended, as the loop learnt it.
    enum End: Sendable, Equatable {
        /// The wrapper's exit file: the command's status.
        case exited(ExitStatus, node: String?, jobID: String?)
        /// Slurm says the job ended, and it left no exit file.
        case slurm(state: String, node: String?, jobID: String)
        /// The job is unknown to Slurm and left no exit file.
        case lost(jobID: String)
        /// `sbatch` refused it.
        case notSubmitted(String)
        /// Stopped before it was submitted.
        case neverSubmitted
    }

    enum Action: Sendable, Equatable {
        /// Call `submitIfDue` at the next turn.
        case armSubmit
        /// Submit these tasks (their job scripts), as one batch, as `owner` (nil: the daemon's user).
        case submit([TaskID], owner: UInt32?)
        /// Keep the job id in the task file.
        case writeJobID(TaskID, String)
        case scancel(TaskID, String)
        /// The job runs: Hopper's own timeout starts.
        case armTimeout(TaskID, attempt: Int)
        /// Ask Slurm for the state of its jobs.
        case poll
        /// The attempt is over.
        case finish(TaskID, attempt: Int, End, Stop?)
        /// Found never submitted after a restart: back to queued, uncharged.
        case requeue(TaskID)
        /// The attempt's files (in its owner's job directory) go: only after its `finish` or `requeue`.
        case removeJobFiles(TaskID, attempt: Int, owner: UInt32?)
    }

    /// A task's end, then its files.
    private static func end(_ id: TaskID, _ job: Job, _ end: End, _ stop: Stop?) -> [Action] {
        [.finish(id, attempt: job.attempt, end, stop), .removeJobFiles(id, attempt: job.attempt, owner: job.owner)]
    }

    /// What `squeue` said about one job.
    struct JobState: Sendable, Equatable {
        var jobID: String
        var name: String
        var state: String
        var node: String?
        var isActive: Bool { SlurmJobTable.activeStates.contains(state) }
    }

    static let activeStates: Set<String> = ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                                            "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"]

    var maxJobs: Int
    let maxBatch: Int
    let maxSubmissionsInFlight: Int
    private(set) var jobs: [TaskID: Job] = [:]
    private(set) var order: [TaskID] = []
    private(set) var submissionsInFlight = 0
    private(set) var isPolling = false
    private(set) var isSubmitArmed = false

    init(maxJobs: Int, maxBatch: Int = 100, maxSubmissionsInFlight: Int = 2) {
        self.maxJobs = maxJobs
        self.maxBatch = maxBatch
        self.maxSubmissionsInFlight = maxSubmissionsInFlight
    }

    /// Whether another task may start (`max_jobs` bounds every unfinished one).
    var hasCapacity: Bool { jobs.count < maxJobs }
    var count: Int { jobs.count }
    /// Whether any job is known to Slurm (so polling is worth it).
    var needsPolling: Bool { jobs.values.contains { if case .submitted = $0.phase { true } else { $0.phase == .locating } } }

    /// A task starts: it waits for the next submission, which comes at the
    /// loop's next turn, so that the tasks started in one turn go together.
    mutating func start(_ id: TaskID, attempt: Int, owner: UInt32? = nil) -> [Action] {
        jobs[id] = Job(attempt: attempt, phase: .waiting, owner: owner)
        order.append(id)
        guard !isSubmitArmed, submissionsInFlight < maxSubmissionsInFlight else { return [] }
        isSubmitArmed = true
        return [.armSubmit]
    }

    /// A task found in running/ at start, with its job id if it was known.
    mutating func follow(_ id: TaskID, attempt: Int, jobID: String?, hasStarted: Bool, owner: UInt32? = nil) -> [Action] {
        var job = Job(attempt: attempt, phase: jobID.map { .submitted(jobID: $0) } ?? .locating, owner: owner)
        job.hasStarted = hasStarted
        jobs[id] = job
        return pollIfDue()
    }

    /// The armed submission is due (or a batch came back): submit what waits.
    mutating func submitIfDue() -> [Action] {
        isSubmitArmed = false
        var actions: [Action] = []
        while submissionsInFlight < maxSubmissionsInFlight {
            order.removeAll { jobs[$0]?.phase != .waiting }
            guard let first = order.first else { break }
            // One owner a batch: its sbatch runs as that user.
            let owner = jobs[first]!.owner
            let batch = Array(order.filter { jobs[$0]!.owner == owner }.prefix(maxBatch))
            let taken = Set(batch)
            order.removeAll { taken.contains($0) }
            for id in batch { jobs[id]!.phase = .submitting }
            submissionsInFlight += 1
            actions.append(.submit(batch, owner: owner))
        }
        return actions
    }

    /// A batch's submission came back: a job id or a refusal for each of its tasks.
    mutating func submitted(_ results: [(TaskID, Result<String, SubmitRefusal>)]) -> [Action] {
        submissionsInFlight = max(0, submissionsInFlight - 1)
        var actions: [Action] = []
        for (id, result) in results {
            guard var job = jobs[id], job.phase == .submitting else { continue }
            switch result {
            case .success(let jobID):
                job.phase = .submitted(jobID: jobID)
                jobs[id] = job
                actions.append(.writeJobID(id, jobID))
                if job.stop != nil { actions.append(.scancel(id, jobID)) }
            case .failure(let refusal):
                jobs[id] = nil
                actions += SlurmJobTable.end(id, job, job.stop != nil ? .neverSubmitted : .notSubmitted(refusal.message), job.stop)
            }
        }
        return actions + submitIfDue() + pollIfDue()
    }

    struct SubmitRefusal: Error, Sendable, Equatable { var message: String }

    /// The wrapper's started file: the job runs on `node`.
    mutating func started(_ id: TaskID, attempt: Int, node: String?) -> [Action] {
        guard var job = jobs[id], job.attempt == attempt, !job.hasStarted else { return [] }
        job.hasStarted = true
        job.node = node
        jobs[id] = job
        return job.stop == nil ? [.armTimeout(id, attempt: attempt)] : []
    }

    /// The wrapper's exit file: the command's own end.
    mutating func exited(_ id: TaskID, attempt: Int, status: ExitStatus, node: String?, jobID: String?) -> [Action] {
        guard let job = jobs[id], job.attempt == attempt else { return [] }
        jobs[id] = nil
        var known = jobID
        if case .submitted(let j) = job.phase { known = j }
        return SlurmJobTable.end(id, job, .exited(status, node: node ?? job.node, jobID: known), job.stop)
    }

    /// Cancel or timeout: `scancel` what Slurm has; what it has not yet is never submitted.
    mutating func stop(_ id: TaskID, attempt: Int, _ why: Stop) -> [Action] {
        guard var job = jobs[id], job.attempt == attempt, job.stop == nil else { return [] }
        job.stop = why
        switch job.phase {
        case .waiting:
            jobs[id] = nil
            return SlurmJobTable.end(id, job, .neverSubmitted, why)
        case .submitting, .locating:
            jobs[id] = job
            return []
        case .submitted(let jobID):
            jobs[id] = job
            return [.scancel(id, jobID)]
        }
    }

    /// A poll is due (the loop's timer).
    mutating func pollIfDue() -> [Action] {
        guard !isPolling, needsPolling else { return [] }
        isPolling = true
        return [.poll]
    }

    /// `squeue` answered (nil: it failed). `hasExitFile` tells whether a
    /// task's exit file is there after all (the loop reads it and reports
    /// `exited` instead). A job seen ended twice without an exit file ends
    /// with Slurm's state; one Slurm no longer knows ends `lost`.
    mutating func polled(_ states: [JobState]?) -> [Action] {
        isPolling = false
        guard let states else { return [] }
        let byID = Dictionary(states.map { ($0.jobID, $0) }, uniquingKeysWith: { a, _ in a })
        let byName = Dictionary(states.map { ($0.name, $0) }, uniquingKeysWith: { a, b in a.isActive ? a : b })
        var actions: [Action] = []
        for id in jobs.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            guard var job = jobs[id] else { continue }
            switch job.phase {
            case .locating:
                if let found = byName[SlurmJobTable.jobName(id)] {
                    job.phase = .submitted(jobID: found.jobID)
                    job.endedPolls = 0
                    jobs[id] = job
                    actions.append(.writeJobID(id, found.jobID))
                    if job.stop != nil { actions.append(.scancel(id, found.jobID)) }
                } else {
                    // Looked for once more before it counts as never submitted: an
                    // sbatch killed with the previous daemon may have reached
                    // slurmctld and not yet be listed.
                    job.endedPolls += 1
                    if job.endedPolls < 2 {
                        jobs[id] = job
                        continue
                    }
                    jobs[id] = nil
                    // Never submitted: a cancel ends it here, anything else runs it again.
                    actions += job.stop != nil ? SlurmJobTable.end(id, job, .neverSubmitted, job.stop)
                        : [.requeue(id), .removeJobFiles(id, attempt: job.attempt, owner: job.owner)]
                }
            case .submitted(let jobID):
                let state = byID[jobID]
                if let state, state.isActive {
                    if job.node == nil, let node = state.node { job.node = node }
                    job.endedPolls = 0
                    jobs[id] = job
                    continue
                }
                // Ended: the exit file may trail Slurm's news on a shared file system.
                job.endedPolls += 1
                if job.endedPolls < 2 {
                    jobs[id] = job
                    continue
                }
                jobs[id] = nil
                let end: End = state.map { .slurm(state: $0.state, node: $0.node ?? job.node, jobID: jobID) } ?? .lost(jobID: jobID)
                actions += SlurmJobTable.end(id, job, end, job.stop)
            case .waiting, .submitting:
                continue
            }
        }
        return actions
    }

    /// The job name Hopper gives a task: `hopper-<id>`.
    static func jobName(_ id: TaskID) -> String { "hopper-" + id.rawValue }
}
