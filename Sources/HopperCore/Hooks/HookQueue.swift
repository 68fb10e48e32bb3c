/// Completion hooks due and running (SPEC section 12): a FIFO of the
/// records whose `on_finish` must run, at most `limit` (the configuration's
/// `workers`) at once.
///
/// A pure value: the daemon reports each event and starts the jobs the
/// call returns; it never decides anything about hooks itself.
///
/// | event | returns |
/// |---|---|
/// | `due(job)`, fewer than `limit` running | `[job]`: start it now |
/// | `due(job)`, `limit` running | `[]`: it waits, in order |
/// | `due(job)` for a task already waiting or running | `[]`: one run per record and start |
/// | `finished(id)` | the next waiting job, if any |
/// | `setLimit(n)` (reload) | the waiting jobs that now fit |
public struct HookQueue: Sendable {
    public struct Job: Sendable, Equatable {
        public var id: TaskID
        public var state: TaskState
        public var provider: String

        public init(id: TaskID, state: TaskState, provider: String) {
            self.id = id
            self.state = state
            self.provider = provider
        }
    }

    public private(set) var limit: Int
    private var waiting: [Job] = []
    private var head = 0
    public private(set) var running: Set<TaskID> = []
    private var known: Set<TaskID> = []

    public init(limit: Int) { self.limit = max(1, limit) }

    public var waitingCount: Int { waiting.count - head }
    /// No hook waits or runs.
    public var isIdle: Bool { running.isEmpty && waitingCount == 0 }

    public mutating func due(_ job: Job) -> [Job] {
        guard known.insert(job.id).inserted else { return [] }
        waiting.append(job)
        return startable()
    }

    public mutating func finished(_ id: TaskID) -> [Job] {
        guard running.remove(id) != nil else { return [] }
        known.remove(id)
        return startable()
    }

    public mutating func setLimit(_ n: Int) -> [Job] {
        limit = max(1, n)
        return startable()
    }

    private mutating func startable() -> [Job] {
        var jobs: [Job] = []
        while running.count < limit, head < waiting.count {
            let job = waiting[head]
            head += 1
            running.insert(job.id)
            jobs.append(job)
        }
        // Compact once the consumed prefix dominates.
        if head > 64 && head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        return jobs
    }
}
