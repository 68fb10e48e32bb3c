/// The in-memory picture of every accepted, unfinished task and the rules that
/// move it: dependencies, run_after and retry delays, priority order and
/// queue timeouts. No I/O: it returns what should happen and the daemon does
/// it, so every rule here is testable with plain values.
public struct Scheduler: Sendable {
    /// One unfinished task.
    public struct Entry: Sendable {
        public var task: SpooledTask
        public var state: TaskState
        /// Dependencies that have not succeeded yet.
        public var waitingFor: Set<TaskID> = []
        /// The wall-clock time before which it may not start.
        public var notBefore: Timestamp?
        /// Waiting behind the holder of its coalescing key.
        public var heldByKey = false
    }

    /// Where an admitted task goes.
    public enum Placement: Sendable, Equatable {
        case pending, queued
        /// A dependency already ended other than succeeded.
        case cancelled(dependency: TaskID, state: TaskState)
    }

    public private(set) var entries = EntryTable()
    /// One ready queue per lane (provider and owner): a lane that cannot
    /// start a task now (no session free, circuit open) costs one look per
    /// turn, not one per queued task.
    private var ready: [Lane: ReadyQueue] = [:]
    private var dependents: [TaskID: [TaskID]] = [:]
    /// Unfinished tasks per state, kept as they move (no scan for status).
    private var stateCounts: [TaskState: Int] = [.pending: 0, .queued: 0, .running: 0]
    /// Coalescing keys: who holds each, who waits.
    public private(set) var keys = KeyTable()

    public init() {}

    public var queuedCount: Int { stateCounts[.queued] ?? 0 }

    /// Sets (or, with nil, removes) an entry, keeping the per-state counts.
    private mutating func store(_ id: TaskID, _ entry: Entry?) {
        if let old = entries[id] { stateCounts[old.state, default: 0] -= 1 }
        if let entry { stateCounts[entry.state, default: 0] += 1 }
        entries[id] = entry
    }

    private mutating func setState(_ id: TaskID, _ state: TaskState) {
        guard var e = entries[id] else { return }
        e.state = state
        store(id, e)
    }

    public subscript(_ id: TaskID) -> Entry? { entries[id] }

    /// The dependencies of `task` that the scheduler does not hold: their
    /// terminal states are for the caller to look up (in done/) before `admit`.
    public func dependenciesToLookUp(_ task: SpooledTask) -> [TaskID] {
        task.request.after.filter { entries[$0] == nil }
    }

    /// Places a task, given the terminal states of its dependencies that have
    /// ended (see `dependenciesToLookUp`); one missing there and not held
    /// here is unknown, and waited for. A dependency the scheduler still holds
    /// is waited for whatever `ended` says.
    public mutating func admit(_ task: SpooledTask, now: Timestamp, ended: [TaskID: TaskState] = [:]) -> Placement {
        var entry = Entry(task: task, state: .pending)
        for dep in task.request.after {
            if entries[dep] != nil { entry.waitingFor.insert(dep); continue }
            switch ended[dep] {
            case .succeeded?: continue
            case let state?: return .cancelled(dependency: dep, state: state)
            case nil: entry.waitingFor.insert(dep)
            }
        }
        let start = [task.request.runAfter, task.notBefore].compactMap { $0 }.max()
        if let start, start > now { entry.notBefore = start }
        for dep in entry.waitingFor { dependents[dep, default: []].append(task.id) }
        if let key = task.request.key { entry.heldByKey = !keys.enter(task.id, key: key) }
        let runnable = entry.waitingFor.isEmpty && entry.notBefore == nil && !entry.heldByKey
        entry.state = runnable ? .queued : .pending
        store(task.id, entry)
        if runnable { pushReady(task) }
        return runnable ? .queued : .pending
    }

    /// Whether admitting `task` would close a dependency cycle among waiting tasks.
    public func closesCycle(_ task: SpooledTask) -> Bool {
        var stack = task.request.after
        var seen: Set<TaskID> = []
        while let id = stack.popLast() {
            if id == task.id { return true }
            guard seen.insert(id).inserted, let e = entries[id] else { continue }
            stack.append(contentsOf: e.waitingFor)
        }
        return false
    }

    /// A pending task's time has come; returns true when it became queued.
    public mutating func release(_ id: TaskID, now: Timestamp) -> Bool {
        guard var e = entries[id], e.state == .pending else { return false }
        if let nb = e.notBefore, nb > now { return false }
        e.notBefore = nil
        store(id, e)
        return promoteIfRunnable(id)
    }

    private mutating func promoteIfRunnable(_ id: TaskID) -> Bool {
        guard var e = entries[id], e.state == .pending, e.waitingFor.isEmpty, e.notBefore == nil, !e.heldByKey else { return false }
        e.state = .queued
        store(id, e)
        pushReady(e.task)
        return true
    }

    private mutating func pushReady(_ task: SpooledTask) {
        ready[task.lane, default: ReadyQueue()].push(.init(priority: task.request.priority, seq: task.seq, id: task.id))
    }

    /// The next queued task, in priority then acceptance order, among the
    /// providers `canStart` says can take one now. A declined provider's
    /// tasks stay queued and keep their place. Cost: one look at the head of
    /// each provider's queue.
    public mutating func nextToStart(_ canStart: (Lane) -> Bool) -> TaskID? {
        nextToStart { lane, _ in canStart(lane) }
    }

    /// The same, asking about each lane's next task (a task that continues
    /// a conversation may need one session of its lane in particular).
    public mutating func nextToStart(_ canStart: (Lane, SpooledTask) -> Bool) -> TaskID? {
        var best: (provider: Lane, item: ReadyQueue.Item)?
        for provider in ready.keys {
            guard let head = liveHead(provider), let task = entries[head.id]?.task else { continue }
            if let best, !(head < best.item) { continue }
            if canStart(provider, task) { best = (provider, head) }
        }
        guard let best else { return nil }
        _ = ready[best.provider]!.pop()
        setState(best.item.id, .running)
        return best.item.id
    }

    /// The head of a lane's ready queue, after dropping heads that are no
    /// longer queued (cancelled, expired: removal is lazy); an emptied lane is forgotten.
    private mutating func liveHead(_ lane: Lane) -> ReadyQueue.Item? {
        while let head = ready[lane]?.peek(), !(entries[head.id].map { $0.state == .queued && $0.task.seq == head.seq } ?? false) {
            _ = ready[lane]!.pop()
        }
        guard let head = ready[lane]?.peek() else {
            ready[lane] = nil
            return nil
        }
        return head
    }

    /// The lanes with queued tasks, the one whose next task comes first first.
    public mutating func lanesWithQueuedTasks() -> [Lane] {
        var heads: [(Lane, ReadyQueue.Item)] = []
        for lane in Array(ready.keys) {
            if let head = liveHead(lane) { heads.append((lane, head)) }
        }
        return heads.sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// A running task goes back to queued (shutdown, or its session could not start).
    public mutating func requeue(_ task: SpooledTask) {
        store(task.id, Entry(task: task, state: .queued))
        pushReady(task)
    }

    /// A task whose attempt still runs elsewhere (a Slurm job followed after
    /// a restart) is known as running.
    public mutating func adoptRunning(_ task: SpooledTask) {
        store(task.id, Entry(task: task, state: .running))
    }

    /// A task goes back to pending until `notBefore` (a retry's delay).
    public mutating func defer_(_ task: SpooledTask, until notBefore: Timestamp) {
        store(task.id, Entry(task: task, state: .pending, notBefore: notBefore))
    }

    /// Forgets a task that was never stored (its file could not be written).
    public mutating func withdraw(_ id: TaskID) {
        _ = keys.leave(id)
        store(id, nil)
    }

    /// What a new task with a key must do before it is admitted (see `KeyTable`).
    public func keyDecision(_ task: SpooledTask) -> KeyTable.Decision {
        guard let key = task.request.key else { return .admit }
        return keys.decide(key: key, onConflict: task.request.onConflict) { entries[$0]?.task.started ?? true }
    }

    /// Updates the stored copy of a task (attempts, interruptions).
    public mutating func update(_ task: SpooledTask) {
        entries[task.id]?.task = task
    }

    /// A task reached a terminal state. Returns its dependents' fates: those
    /// that became runnable, and those that must now be cancelled.
    public mutating func finish(_ id: TaskID, state: TaskState) -> (queued: [TaskID], cancelled: [TaskID]) {
        store(id, nil)
        var queued: [TaskID] = []
        var cancelled: [TaskID] = []
        // The next task of its key holds it now, whatever this one's outcome.
        if let next = keys.leave(id), var waiter = entries[next] {
            waiter.heldByKey = false
            entries[next] = waiter
            if promoteIfRunnable(next) { queued.append(next) }
        }
        guard let waiting = dependents.removeValue(forKey: id) else { return (queued, []) }
        for dependent in waiting {
            guard var waiter = entries[dependent] else { continue }
            if state == .succeeded {
                waiter.waitingFor.remove(id)
                entries[dependent] = waiter
                if promoteIfRunnable(dependent) { queued.append(dependent) }
            } else {
                cancelled.append(dependent)
            }
        }
        return (queued, cancelled)
    }

    /// Counts of unfinished tasks per state.
    public func counts() -> [TaskState: Int] { stateCounts }
}
