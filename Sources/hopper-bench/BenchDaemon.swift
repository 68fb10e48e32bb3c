import Glibc
import HopperCore

/// A `hopper run` on a temporary spool, as a child process.
///
/// `<base>/hopper.json` is the config, `<base>/spool` the spool,
/// `<base>/stage` where requests are written before they are renamed into
/// incoming/ (same file system, so the rename is atomic and cheap), and
/// `<base>/daemon.log` the daemon's stderr. The daemon is registered with
/// `Cleanup` while it lives, and carries the run's marker in its environment.
final class BenchDaemon {
    let base: String
    private(set) var pid = ProcessID(rawValue: 0)
    private(set) var isRunning = false
    /// The running daemon's exit, subscribed to right after its spawn.
    private var exit: ChildExit?
    var spool: String { base + "/spool" }
    var probe: ProcessProbe { ProcessProbe(pid: pid) }

    /// Creates the spool and starts the daemon, returning once it is ready.
    init(under root: String, config: String) {
        base = Harness.makeTemp(under: root)
        Harness.write(base + "/hopper.json", config)
        Harness.run([Harness.hopper, "init", spool, "--config", base + "/hopper.json"])
        mkdir(base + "/stage", 0o755)
        start()
        waitUntilReady()
    }

    /// Spawns `hopper run` (again) on the spool; does not wait.
    func start() {
        let log = open(base + "/daemon.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        var request = SpawnRequest(executable: Harness.hopper, arguments: [Harness.hopper, "run", "--spool", spool, "--config", base + "/hopper.json"],
                                   environment: Harness.environment())
        request.stderr = .fd(FileDescriptor(rawValue: log))
        do { exit = try Spawner.spawn(request).exit } catch { Harness.fail("cannot start hopper run: \(error)") }
        pid = exit!.pid
        close(log)
        isRunning = true
        Cleanup.shared.track(daemon: pid)
    }

    /// Blocks until status.json names this daemon's pid (it is written once the daemon is up).
    func waitUntilReady(timeout: Double = 60) {
        let deadline = Harness.now() + timeout
        while Harness.now() < deadline {
            if let text = Harness.read(spool + "/status.json"), let status = try? JSONParser.parse(text),
               status.objectValue?["pid"]?.intValue == Int64(pid.rawValue) { return }
            if let status = exit?.status { fail("the daemon exited at start (\(status))") }
            usleep(2000)
        }
        fail("the daemon did not come up")
    }

    /// Writes `<base>/stage/<name>.json` for each name; returns the names.
    func stage(_ names: [String], request: (String) -> String) {
        for name in names { Harness.write("\(base)/stage/\(name).json", request(name)) }
    }

    /// Renames one staged request into incoming/.
    func drop(_ name: String) {
        if rename("\(base)/stage/\(name).json", "\(spool)/incoming/\(name).json") != 0 { fail("cannot rename \(name).json into incoming/") }
    }

    /// Stages `n` requests, renames them into incoming/ at once, and returns
    /// the seconds from the first rename until all `n` records exist.
    func run(_ n: Int, request: String, timeout: Double = 1200) -> Double {
        let names = (0..<n).map { "b\($0)" }
        stage(names) { _ in request }
        let done = DirectoryWatch(spool + "/done")
        let already = done.count()
        let start = Harness.now()
        for name in names { drop(name) }
        if !done.wait(forCount: already + n, timeout: timeout) { fail("\(n) tasks did not finish within \(Int(timeout)) s") }
        return Harness.now() - start
    }

    /// The record of task `id` as a JSON object.
    func record(_ id: String) -> JSONObject? {
        Harness.read("\(spool)/done/\(id).json").flatMap { try? JSONParser.parse($0).objectValue } ?? nil
    }

    /// SIGTERM, then waits for the daemon to exit; returns the seconds that took.
    @discardableResult
    func shutDown(timeout: Double = 60) -> Double {
        guard isRunning else { return 0 }
        let start = Harness.now()
        guard let latch = exit else { return 0 }
        latch.signal(.term)
        while latch.status == nil && Harness.now() < start + timeout { usleep(2000) }
        if latch.status == nil {
            latch.signal(.kill)
            _ = latch.wait()
        }
        isRunning = false
        Cleanup.shared.forget(daemon: pid)
        return Harness.now() - start
    }

    /// SIGKILL, as a crash would; waits for the exit.
    func kill() {
        guard isRunning, let latch = exit else { return }
        ProcessGroup.signalProcess(pid, .kill)
        _ = latch.wait()
        isRunning = false
        Cleanup.shared.forget(daemon: pid)
    }

    /// Shuts the daemon down and removes its directory.
    func stop() {
        shutDown()
        Harness.remove(base)
    }

    /// Fails the run, with the tail of the daemon's log.
    func fail(_ message: String) -> Never {
        let log = Harness.read(base + "/daemon.log") ?? ""
        let tail = log.split(separator: "\n").suffix(5).joined(separator: "\n")
        Harness.fail(message + (tail.isEmpty ? "" : "; daemon log ends:\n" + tail))
    }
}
