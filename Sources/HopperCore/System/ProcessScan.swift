import CHopperShim
import Glibc

/// Finds processes by a marker in their environment, through /proc.
///
/// Every process a daemon run starts carries `HOPPER_RUN=<run id>`, and so
/// do its descendants unless they clear their environment. After a crash the
/// next daemon uses this to find what the dead one left running, including
/// descendants that escaped their process group with setsid.
public enum ProcessScan {
    /// Pids (other than this process) whose environment holds `entry`
    /// exactly. A live process whose environment reads empty (in its
    /// execve) is read again, every 2 ms for up to 100 ms.
    public static func processes(withEnvironment entry: String) -> [ProcessID] {
        guard let proc = try? Directory.open("/proc") else { return [] }
        defer { proc.close() }
        let me = getpid()
        let needle = Array(entry.utf8)
        var found: [ProcessID] = []
        var unsure: [ProcessID] = []
        for name in (try? proc.entries()) ?? [] {
            guard let text = name.string, let pid = pid_t(text), pid != me else { continue }
            switch environment(of: ProcessID(rawValue: pid), in: proc, holdsAll: [needle]) {
            case .holds: found.append(ProcessID(rawValue: pid))
            case .lacks: break
            case .unknown: unsure.append(ProcessID(rawValue: pid))
            }
        }
        for _ in 0..<50 {
            unsure.removeAll { !isRunning($0, in: proc) }
            if unsure.isEmpty { break }
            var pause = timespec(tv_sec: 0, tv_nsec: 2_000_000)
            _ = nanosleep(&pause, nil)
            unsure.removeAll { pid in
                switch environment(of: pid, in: proc, holdsAll: [needle]) {
                case .holds: found.append(pid); return true
                case .lacks: return true
                case .unknown: return false
                }
            }
        }
        return found
    }

    /// Whether `pid` is a process that has (or will have, once its execve
    /// is through) an environment: it exists, is not a zombie, and is not a
    /// kernel thread (which never has one).
    static func isRunning(_ pid: ProcessID, in proc: Directory) -> Bool {
        guard let stat = (try? AtomicFile.read(FileName("\(pid.rawValue)/stat"), in: proc, limit: 4096)) ?? nil,
              let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count else { return false }
        // After the command: state ppid pgrp session tty_nr tpgid flags ...
        let fields = stat[(close + 2)...].split(separator: UInt8(ascii: " "), maxSplits: 7)
        guard fields.count > 6, let flags = UInt64(String(decoding: fields[6], as: UTF8.self)) else { return false }
        let kernelThread: UInt64 = 0x0020_0000  // PF_KTHREAD
        return fields[0].first != UInt8(ascii: "Z") && flags & kernelThread == 0
    }

    /// What a process's environment says of a set of entries.
    enum Match: Equatable {
        case holds, lacks
        /// Nothing could be read: the process is gone, a zombie, or in the
        /// middle of execve(2), whose new memory has no environment yet for
        /// a moment (reads of a live process come back empty then: over a
        /// thousand times in 300 execs, measured here). Look again.
        case unknown
    }

    /// Whether `/proc/<pid>/environ` (the environment the process was
    /// started with) holds every one of `entries` exactly.
    static func environment(of pid: ProcessID, in proc: Directory, holdsAll entries: [[UInt8]]) -> Match {
        // Unreadable (gone, or not ours to read) is no match; empty is unknown.
        guard let environ = try? AtomicFile.read(FileName("\(pid.rawValue)/environ"), in: proc, limit: 1 << 20) else { return .lacks }
        if environ.isEmpty { return .unknown }
        let variables = environ.split(separator: 0, omittingEmptySubsequences: true)
        return entries.allSatisfy { entry in variables.contains { $0.elementsEqual(entry) } } ? .holds : .lacks
    }

    /// SIGKILLs every process marked with `entry` and its process group,
    /// never this process's group or `spared`. Returns the processes signalled.
    @discardableResult
    public static func killMarked(_ entry: String, sparing spared: pid_t = 0) -> [ProcessID] {
        let pids = processes(withEnvironment: entry)
        for pid in pids {
            let group = getpgid(pid.rawValue)
            if group > 1 && group != ProcessIdentity.processGroup && group != spared { ProcessGroup.signal(ProcessID(rawValue: group), .kill) }
            ProcessGroup.signalProcess(pid, .kill)
        }
        return pids
    }
}
