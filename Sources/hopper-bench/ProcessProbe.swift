import Glibc
import HopperCore

/// What /proc says about one process: memory, CPU time, context switches
/// and descendants.
struct ProcessProbe {
    let pid: ProcessID

    private func status(_ file: String = "status") -> String { Harness.read("/proc/\(pid.rawValue)/\(file)") ?? "" }

    private static func field(_ name: String, in text: String) -> Int {
        text.split(separator: "\n").first { $0.hasPrefix(name + ":") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) } ?? 0
    }

    /// VmRSS, KiB.
    var rssKiB: Int { Self.field("VmRSS", in: status()) }

    /// Threads of the process (the `Threads` field of /proc/PID/status).
    var threads: Int { Self.field("Threads", in: status()) }

    /// Open descriptors: the entries of /proc/PID/fd.
    var descriptors: Int {
        guard let fds = try? Directory.open("/proc/\(pid.rawValue)/fd") else { return 0 }
        defer { fds.close() }
        return ((try? fds.entries()) ?? []).count
    }

    /// The pid as the process's own pid namespace sees it (the last field of
    /// `NSpid`); the same as `pid` outside a child namespace.
    var namespacePid: Int? {
        status().split(separator: "\n").first { $0.hasPrefix("NSpid:") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int($0) }
    }

    /// User + system CPU seconds so far (utime and stime of /proc/PID/stat).
    var cpuSeconds: Double {
        let text = status("stat")
        guard let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[close...].split(separator: " ")
        return ((Double(fields[12]) ?? 0) + (Double(fields[13]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Voluntary plus involuntary context switches of each live thread, by
    /// thread id (/proc/PID/task/*/status): each one is a wakeup or a preemption.
    var contextSwitches: [String: Int] {
        guard let tasks = try? Directory.open("/proc/\(pid.rawValue)/task") else { return [:] }
        defer { tasks.close() }
        var result: [String: Int] = [:]
        for tid in (try? tasks.entries()) ?? [] {
            let text = Harness.read("/proc/\(pid.rawValue)/task/\(tid.escaped)/status") ?? ""
            result[tid.escaped] = Self.field("voluntary_ctxt_switches", in: text) + Self.field("nonvoluntary_ctxt_switches", in: text)
        }
        return result
    }

    /// Context switches between two readings of `contextSwitches`: per thread
    /// alive at the end, its count minus its count at the start (all of it
    /// for a thread born since). A thread that ended in between takes its
    /// count with it, so this is a lower bound when threads come and go.
    static func switches(from before: [String: Int], to after: [String: Int]) -> Int {
        after.reduce(0) { $0 + $1.value - (before[$1.key] ?? 0) }
    }

    /// Every live process below this one (children, their children, ...), from the ppid of /proc/*/stat.
    var descendants: [ProcessID] {
        guard let proc = try? Directory.open("/proc") else { return [] }
        defer { proc.close() }
        var children: [pid_t: [pid_t]] = [:]
        for entry in (try? proc.entries()) ?? [] {
            guard let p = pid_t(entry.escaped), let text = Harness.read("/proc/\(p)/stat"),
                  let close = text.lastIndex(of: ")") else { continue }
            let fields = text[text.index(after: close)...].split(separator: " ")
            if fields.count > 1, let ppid = pid_t(fields[1]) { children[ppid, default: []].append(p) }
        }
        var result: [ProcessID] = []
        var frontier = [pid.rawValue]
        while let p = frontier.popLast() {
            for c in children[p] ?? [] {
                result.append(ProcessID(rawValue: c))
                frontier.append(c)
            }
        }
        return result
    }
}
