import CHopperShim
import Glibc

/// Finds processes by a marker in their environment, through /proc.
///
/// Every process a daemon run starts carries `HOPPER_RUN=<run id>`, and so
/// do its descendants unless they clear their environment. After a crash the
/// next daemon uses this to find what the dead one left running, including
/// descendants that escaped their process group with setsid.
public enum ProcessScan {
    /// Pids (other than this process) whose environment holds `entry` exactly.
    public static func processes(withEnvironment entry: String) -> [ProcessID] {
        guard let proc = try? Directory.open("/proc") else { return [] }
        defer { proc.close() }
        let me = getpid()
        let needle = Array(entry.utf8)
        var found: [ProcessID] = []
        for name in (try? proc.entries()) ?? [] {
            guard let text = name.string, let pid = pid_t(text), pid != me else { continue }
            if environment(of: ProcessID(rawValue: pid), in: proc, holdsAll: [needle]) { found.append(ProcessID(rawValue: pid)) }
        }
        return found
    }

    /// Whether `/proc/<pid>/environ` (the environment the process was
    /// started with) holds every one of `entries` exactly.
    static func environment(of pid: ProcessID, in proc: Directory, holdsAll entries: [[UInt8]]) -> Bool {
        guard let environ = try? AtomicFile.read(FileName("\(pid.rawValue)/environ"), in: proc, limit: 1 << 20) else { return false }
        let variables = environ.split(separator: 0, omittingEmptySubsequences: true)
        return entries.allSatisfy { entry in variables.contains { $0.elementsEqual(entry) } }
    }

    /// SIGKILLs every process marked with `entry` and its process group.
    @discardableResult
    public static func killMarked(_ entry: String) -> Int {
        let pids = processes(withEnvironment: entry)
        for pid in pids {
            let group = getpgid(pid.rawValue)
            if group > 1 && group != getpgrp() { ProcessGroup.signal(ProcessID(rawValue: group), .kill) }
            ProcessGroup.signalProcess(pid, .kill)
        }
        return pids.count
    }
}

/// Orphans of the processes Hopper starts: with the daemon a child
/// subreaper, a task's background process whose parent exits becomes the
/// daemon's child instead of init's, where it can be found and killed.
public enum Orphans {
    /// prctl(2) PR_SET_CHILD_SUBREAPER.
    public static func adoptOrphans() {
        _ = hopper_become_subreaper()
    }

    /// The daemon's direct children, read from /proc/self/task/*/children.
    public static func children() -> [ProcessID] {
        guard let tasks = try? Directory.open("/proc/self/task") else { return [] }
        defer { tasks.close() }
        var result: [ProcessID] = []
        for tid in (try? tasks.entries()) ?? [] {
            guard let text = try? AtomicFile.read(FileName(tid.escaped + "/children"), in: tasks, limit: 1 << 20) else { continue }
            for word in text.split(separator: UInt8(ascii: " ")) {
                if let pid = pid_t(String(decoding: word, as: UTF8.self)) { result.append(ProcessID(rawValue: pid)) }
            }
        }
        return result
    }

    /// SIGKILLs the daemon's children, other than `except`, whose environment
    /// holds every one of `entries`, each with its process group: what a
    /// task left behind after escaping its process group with setsid(2),
    /// adopted by the daemon when its parent exited. Returns how many.
    ///
    /// A process that cleared its environment, or whose parent (outside the
    /// task's group) is still alive, is not found.
    @discardableResult
    public static func killEscaped(markedWith entries: [String], except: Set<ProcessID> = []) -> Int {
        let children = children().filter { !except.contains($0) }
        guard !children.isEmpty, let proc = try? Directory.open("/proc") else { return 0 }
        defer { proc.close() }
        let needles = entries.map { Array($0.utf8) }
        var killed = 0
        for pid in children where ProcessScan.environment(of: pid, in: proc, holdsAll: needles) {
            // Its group only when it leads one of its own: one caught between
            // fork and setsid is still in its task's group, which may be a
            // session's that runs on.
            if getpgid(pid.rawValue) == pid.rawValue { ProcessGroup.signal(pid, .kill) }
            ProcessGroup.signalProcess(pid, .kill)
            killed += 1
        }
        return killed
    }

    /// SIGKILLs the daemon's children that belong to process group `group`
    /// but are not `except` (a session's own shell): what a finished task
    /// left behind in a session it shares.
    @discardableResult
    public static func killStragglers(inGroup group: ProcessID, except: ProcessID) -> Int {
        var killed = 0
        for pid in children() where pid != except && getpgid(pid.rawValue) == group.rawValue {
            ProcessGroup.signalProcess(pid, .kill)
            killed += 1
        }
        return killed
    }
}
