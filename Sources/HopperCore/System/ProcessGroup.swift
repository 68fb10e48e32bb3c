import Glibc

/// Signals sent to a whole process group or to one process.
///
/// Neither call throws: the usual failure is that the target is already gone
/// (ESRCH), which a teardown sequence treats as success of a different kind.
public enum ProcessGroup {
    /// killpg(2): sends `signal` to every process in `group`.
    ///
    /// Returns true when the kernel accepted the signal for at least one
    /// process; false when the group is gone (ESRCH) or the call failed otherwise.
    ///
    /// - Important: refuses (returns false) for group ids 0 and 1 and for the
    ///   caller's own group, any of which would signal the daemon itself or
    ///   much more than one task.
    @discardableResult
    public static func signal(_ group: ProcessID, _ signal: Signal) -> Bool {
        guard group.rawValue > 1, group.rawValue != ProcessIdentity.processGroup else { return false }
        return killpg(group.rawValue, signal.rawValue) == 0
    }

    /// kill(2): sends `signal` to the single process `pid`.
    ///
    /// Returns true when the signal was sent; false when the process is gone
    /// (ESRCH) or the call failed otherwise.
    ///
    /// - Important: refuses (returns false) for pids below 2, which kill(2)
    ///   would read as "my group", "every process" or init.
    @discardableResult
    public static func signalProcess(_ pid: ProcessID, _ signal: Signal) -> Bool {
        guard pid.rawValue > 1 else { return false }
        return kill(pid.rawValue, signal.rawValue) == 0
    }
}
