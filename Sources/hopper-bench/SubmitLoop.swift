import Glibc
import HopperCore

/// The one-call-per-task habit: `n` tasks of `true` submitted by a loop that
/// runs the CLI once per task and waits for each call to exit, as a shell
/// loop or cron does; then the same `n` in one `hopper submit --each` call.
/// task-spooler (`tsp`), when it is on PATH, is driven the same way in the
/// same run: its own server, 2 slots, one `tsp true` a task.
///
/// Each figure is tasks a second from the first call until every task has
/// finished (a record in done/; for tsp, the last two jobs waited on, which
/// with 2 slots run after every other), and the loop's calls alone per call.
enum SubmitLoop {
    struct Figures {
        /// Milliseconds a call, over the loop.
        var perCall: Double
        /// Tasks a second, first call to last finish.
        var rate: Double
    }

    /// `hopper submit ... true`, `n` times, against a daemon with 2 workers.
    static func hopper(_ n: Int, root: String) -> Figures {
        let daemon = BenchDaemon(under: root, config: #"{"workers": 2, "durability": "none"}"#)
        defer { daemon.stop() }
        let done = DirectoryWatch(daemon.spool + "/done")
        let argv = [Harness.hopper, "submit", "--spool", daemon.spool, "--config", daemon.base + "/hopper.json", "true"]
        let start = Harness.now()
        for _ in 0..<n where run(argv) != .exited(0) { daemon.fail("hopper submit failed") }
        let looped = Harness.now()
        if !done.wait(forCount: n, timeout: 600) { daemon.fail("\(n) submitted tasks did not finish") }
        return Figures(perCall: (looped - start) * 1000 / Double(n), rate: Double(n) / (Harness.now() - start))
    }

    /// One `hopper submit --each` call with `n` lines of `true` on its standard input.
    static func each(_ n: Int, root: String) -> Figures {
        let daemon = BenchDaemon(under: root, config: #"{"workers": 2, "durability": "none"}"#)
        defer { daemon.stop() }
        let lines = daemon.base + "/lines"
        Harness.write(lines, String(repeating: "true\n", count: n))
        let input = open(lines, O_RDONLY | O_CLOEXEC)
        defer { close(input) }
        let done = DirectoryWatch(daemon.spool + "/done")
        let argv = [Harness.hopper, "submit", "--spool", daemon.spool, "--config", daemon.base + "/hopper.json", "--each"]
        let start = Harness.now()
        if run(argv, stdin: FileDescriptor(rawValue: input)) != .exited(0) { daemon.fail("hopper submit --each failed") }
        let called = Harness.now()
        if !done.wait(forCount: n, timeout: 600) { daemon.fail("\(n) tasks submitted with --each did not finish") }
        return Figures(perCall: (called - start) * 1000, rate: Double(n) / (Harness.now() - start))
    }

    /// `tsp true`, `n` times, on a server of its own with 2 slots; nil when tsp is not installed.
    static func taskSpooler(_ n: Int, root: String) -> Figures? {
        guard let tsp = which("tsp") else {
            Harness.log("tsp is not on PATH (Debian: apt-get install task-spooler); the loop has no task-spooler baseline")
            return nil
        }
        let base = Harness.makeTemp(under: root)
        defer { Harness.remove(base) }
        // Its socket, its output files and its job list, all in base; the marker lets Cleanup find its server.
        let environment = Harness.environment() + ["TS_SOCKET=\(base)/socket", "TMPDIR=\(base)", "TS_MAXFINISHED=\(n + 10)", "TS_SLOTS=2"]
        defer { _ = run([tsp, "-K"], environment: environment) }
        if run([tsp, "-S", "2"], environment: environment) != .exited(0) { Harness.fail("tsp -S 2 failed") }
        let start = Harness.now()
        for _ in 0..<n where run([tsp, "true"], environment: environment) != .exited(0) { Harness.fail("tsp true failed") }
        let looped = Harness.now()
        // Jobs start in order and 2 at a time: when the last two have finished, so has every other.
        for id in max(0, n - 2)..<n where run([tsp, "-w", String(id)], environment: environment) != .exited(0) {
            Harness.fail("tsp -w \(id) failed")
        }
        return Figures(perCall: (looped - start) * 1000 / Double(n), rate: Double(n) / (Harness.now() - start))
    }

    /// Runs argv to completion, its output discarded; returns its exit status.
    private static func run(_ argv: [String], environment: [String] = Harness.environment(), stdin: FileDescriptor? = nil) -> ExitStatus {
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: environment)
        if let stdin { request.stdin = .fd(stdin) }
        request.newProcessGroup = false
        guard let process = try? Spawner.spawn(request) else { return .exited(127) }
        return process.exit.wait()
    }

    /// The first executable `name` on PATH.
    private static func which(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }
}
