import Glibc

/// Exit statuses reaped before anyone asked for them, oldest dropped first beyond a limit.
///
/// A pure value: `Reaper` keeps one behind its lock.
struct UnclaimedStatuses {
    let limit: Int
    private var statuses: [pid_t: (status: ExitStatus, sequence: UInt64)] = [:]
    /// Insertion order; entries whose sequence no longer matches `statuses` are stale.
    private var order: [(pid: pid_t, sequence: UInt64)] = []
    private var head = 0
    private var nextSequence: UInt64 = 0

    init(limit: Int) {
        precondition(limit > 0)
        self.limit = limit
    }

    var count: Int { statuses.count }

    /// Keeps `status` for `pid`, replacing an older one for the same pid and
    /// dropping the oldest entry when the table is full.
    mutating func insert(_ pid: pid_t, _ status: ExitStatus) {
        nextSequence += 1
        statuses[pid] = (status, nextSequence)
        order.append((pid, nextSequence))
        while statuses.count > limit, head < order.count {
            let oldest = order[head]
            head += 1
            if statuses[oldest.pid]?.sequence == oldest.sequence { statuses[oldest.pid] = nil }
        }
        // Claimed and replaced entries leave stale order entries behind; compact now and then.
        if head > limit || order.count - head > 2 * limit {
            order = order[head...].filter { statuses[$0.pid]?.sequence == $0.sequence }
            head = 0
        }
    }

    /// Removes and returns the status kept for `pid`, if any.
    mutating func claim(_ pid: pid_t) -> ExitStatus? {
        statuses.removeValue(forKey: pid)?.status
    }
}
