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
            guard let environ = try? AtomicFile.read(FileName("\(text)/environ"), in: proc, limit: 1 << 20) else { continue }
            if environ.split(separator: 0, omittingEmptySubsequences: true).contains(where: { $0.elementsEqual(needle) }) {
                found.append(ProcessID(rawValue: pid))
            }
        }
        return found
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
