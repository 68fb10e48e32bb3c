import Glibc
import HopperCore

/// System calls per task: the daemon traced with `strace -c` (attached once
/// it is up) while it runs `n` exec tasks of `true`, renamed into incoming/
/// at once. Two ways: its threads alone (`-p` each thread), and with
/// `-f -b execve`, also each child it spawns until that child's execve (the
/// spawn's own work in the child, such as resetting every signal's
/// disposition, counts; the task's program does not). Only with `--only
/// syscalls`: tracing slows the daemon, so nothing else is measured in these runs.
enum Syscalls {
    struct Count {
        /// Calls per task, all kinds together.
        var total: Double
        /// Calls per task by name, most first.
        var byName: [(String, Double)]
    }

    static func perTask(_ n: Int, durability: String, root: String, children: Bool) -> Count? {
        let candidates: [String] = ["/usr/bin/strace", "/bin/strace"]
        guard let strace = candidates.first(where: { access($0, X_OK) == 0 }) else {
            Harness.log("strace is missing: no system call counts")
            return nil
        }
        let daemon = BenchDaemon(under: root, config: #"{"workers": 2, "durability": "\#(durability)", "default_provider": "exec"}"#)
        defer { daemon.stop() }
        let output = daemon.base + "/strace.txt"
        let targets = children ? ["-f", "-b", "execve", "-p", "\(daemon.pid.rawValue)"] : threads(daemon.pid).flatMap { ["-p", $0] }
        var request = SpawnRequest(executable: strace, arguments: [strace, "-c", "-qq", "-o", output] + targets, environment: Harness.environment())
        request.newProcessGroup = false
        guard let tracer = try? Spawner.spawn(request) else { Harness.fail("cannot start \(strace)") }
        let deadline = Harness.now() + 10
        while !isTraced(daemon.pid) {
            if Harness.now() > deadline || tracer.exit.status != nil { Harness.fail("strace did not attach to the daemon") }
            usleep(5000)
        }
        _ = daemon.run(n, request: #"{"command": "true"}"#)
        _ = tracer.exit.signal(.interrupt)
        _ = tracer.exit.wait()
        guard let text = Harness.read(output) else { Harness.fail("strace wrote no summary") }
        return parse(text, tasks: n)
    }

    /// The thread ids of `pid`.
    static func threads(_ pid: ProcessID) -> [String] {
        guard let directory = try? Directory.open("/proc/\(pid.rawValue)/task") else { return [] }
        defer { directory.close() }
        return ((try? directory.entries()) ?? []).map(\.escaped)
    }

    /// Whether every thread of `pid` has a tracer.
    static func isTraced(_ pid: ProcessID) -> Bool {
        let names = threads(pid)
        return !names.isEmpty && names.allSatisfy { name in
            let status = Harness.read("/proc/\(pid.rawValue)/task/\(name)/status") ?? ""
            return status.split(separator: "\n").contains { $0.hasPrefix("TracerPid:") && !$0.hasSuffix("\t0") }
        }
    }

    /// strace -c's table: `% time  seconds  usecs/call  calls  [errors]  syscall`, then a `total` row.
    static func parse(_ text: String, tasks: Int) -> Count {
        var count = Count(total: 0, byName: [])
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, let calls = Double(fields[3]), let name = fields.last else { continue }
            if name == "total" { count.total = calls / Double(tasks) } else { count.byName.append((String(name), calls / Double(tasks))) }
        }
        count.byName.sort { $0.1 > $1.1 }
        return count
    }
}
