/// The daemon's timers: every armed `Deadline`, earliest first, ties in the
/// order they were armed.
///
/// A pure value: it never reads a clock (the caller says when "now" is) and
/// never fires anything itself (the caller carries out what `takeDue` hands
/// back). Whether a deadline can still do anything is the caller's to know
/// (attempts, tasks, sessions); `arm` asks it, through `isLive`, only when
/// the table is due for compaction.
///
/// Why compaction: every attempt arms its timeout for when it would be due
/// (300 s by default) and most attempts end long before, so dead deadlines
/// pile up at the task rate. They are dropped whenever the table has doubled
/// since the last look, so its size follows the live ones.
///
/// | call                       | table                                                        | returns                 |
/// |----------------------------|--------------------------------------------------------------|-------------------------|
/// | `arm(d, isLive)`, below the compaction size | `d` added, with the next arming order        | —                       |
/// | `arm(d, isLive)`, at it    | the dead dropped, the size set to max(1024, 2 × live), then `d` added | —              |
/// | `takeDue(now)`, earliest ≤ now | the earliest removed                                     | it                      |
/// | `takeDue(now)`, none due   | unchanged                                                    | nil                     |
/// | `next`                     | unchanged                                                    | the earliest instant    |
struct DeadlineTable {
    private var heap = MinHeap<Deadline>()
    /// The size at which dead deadlines are next dropped.
    private(set) var compactAt = DeadlineTable.minimumCompactAt
    private var armed: UInt64 = 0

    static let minimumCompactAt = 1024

    /// How many are armed, live or dead.
    var count: Int { heap.count }

    /// When the earliest falls, if any is armed.
    var next: MonotonicInstant? { heap.peek()?.at }

    /// Arms `action` for `instant`; `isLive` tells a deadline that can still
    /// do anything from one that cannot (asked only at compaction).
    mutating func arm(at instant: MonotonicInstant, _ action: Deadline.Action, isLive: (Deadline) -> Bool) {
        armed += 1
        var deadline = Deadline(at: instant, action)
        deadline.order = armed
        if heap.count >= compactAt {
            heap.removeAll { !isLive($0) }
            compactAt = max(DeadlineTable.minimumCompactAt, 2 * heap.count)
        }
        heap.push(deadline)
    }

    /// The earliest deadline if it is due at `now`, removed from the table.
    mutating func takeDue(now: MonotonicInstant) -> Deadline? {
        guard let first = heap.peek(), first.at <= now else { return nil }
        return heap.pop()
    }
}
