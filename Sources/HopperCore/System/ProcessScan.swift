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
