/// Coalescing keys (SPEC section 12): for each key, the unfinished tasks
/// that carry it, in acceptance order. The first is the key's holder (it
/// may be pending, queued or running); the others wait behind it, pending,
/// and are released one at a time as the holder ends.
///
/// A pure value owned by the scheduler. Acceptance of a new task first asks
/// `decide`, whose answer the daemon carries out (write a `duplicate_key`
/// record, cancel the replaced tasks); then the task is admitted and `enter`
/// says whether it holds the key or waits. Tasks recovered at start are
/// entered in acceptance order without `decide`: their conflicts were
/// settled when they were accepted, so the same holder comes out.
///
/// | new task's `on_conflict` | key free | key held, holder not started | key held, holder started |
/// |---|---|---|---|
/// | `queue` | holds | waits | waits |
/// | `skip` | holds | `.skip(holder)` | `.skip(holder)` |
/// | `replace` | holds | `.replace(unstarted)`, then holds | `.replace(unstarted waiters)`, then waits |
public struct KeyTable: Sendable {
    public enum Decision: Sendable, Equatable {
        /// Admit the task (it holds the key, or waits for it).
        case admit
        /// End it at once: the key is held by this task.
        case skip(holder: TaskID)
        /// Cancel these tasks (unstarted ones of the key, in order), then admit it.
        case replace([TaskID])
    }

    private var lines: [TaskID: [TaskID]] = [:]
    private var keyOf: [TaskID: TaskID] = [:]

    public init() {}

    /// The key's holder, if any.
    public func holder(_ key: TaskID) -> TaskID? { lines[key]?.first }

    /// The tasks of a key in order, holder first.
    public func line(_ key: TaskID) -> [TaskID] { lines[key] ?? [] }

    /// What a new task with `key` and `onConflict` must do; `hasStarted`
    /// says whether a task of the key has started (run at least once).
    public func decide(key: TaskID, onConflict: TaskRequest.OnConflict, hasStarted: (TaskID) -> Bool) -> Decision {
        guard let line = lines[key], let holder = line.first else { return .admit }
        switch onConflict {
        case .queue: return .admit
        case .skip: return .skip(holder: holder)
        case .replace:
            let unstarted = line.filter { !hasStarted($0) }
            return unstarted.isEmpty ? .admit : .replace(unstarted)
        }
    }

    /// Enters an admitted task; true when it holds the key (may run), false
    /// when it waits behind the holder.
    public mutating func enter(_ id: TaskID, key: TaskID) -> Bool {
        keyOf[id] = key
        lines[key, default: []].append(id)
        return lines[key]!.first == id
    }

    /// A task ended (or was withdrawn). Returns the task that now holds its
    /// key and was waiting, to be released; nil when none.
    public mutating func leave(_ id: TaskID) -> TaskID? {
        guard let key = keyOf.removeValue(forKey: id), var line = lines[key], let index = line.firstIndex(of: id) else { return nil }
        line.remove(at: index)
        lines[key] = line.isEmpty ? nil : line
        return index == 0 ? line.first : nil
    }

    /// How many keys are held.
    public var count: Int { lines.count }
}
