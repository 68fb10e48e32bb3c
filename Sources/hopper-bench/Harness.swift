import Glibc
import HopperCore

/// Small tools the scenarios share: timing, temporary spools, a daemon run
/// as a child process, and waiting for records with inotify (no polling).
enum Harness {
    static func now() -> Double { Double(MonotonicInstant.now().nanoseconds) / 1e9 }

    /// The `hopper` binary built next to this one.
    static let hopper: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = String(decoding: buffer[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(exe[..<exe.lastIndex(of: "/")!]) + "/hopper"
    }()

    static func write(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "bench: cannot write \(path)")
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static func makeTemp(under base: String) -> String {
        var template = Array("\(base)/hopper-bench-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { fatalError("bench: cannot create a directory under \(base)") }
        return String(cString: p)
    }

    static func remove(_ path: String) {
        _ = run(["/bin/rm", "-rf", path])
    }

    /// Runs argv to completion; returns its exit status.
    @discardableResult
    static func run(_ argv: [String], quiet: Bool = true) -> ExitStatus {
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: environment())
        if !quiet { request.stdout = .fd(.standardError) }
        request.newProcessGroup = false
        guard let process = try? Spawner.spawn(request) else { return .exited(127) }
        return wait(process.pid)
    }

    static func wait(_ pid: ProcessID) -> ExitStatus { ExitLatch(pid).wait() }

    static func environment() -> [String] { ProcessEnvironment.entries() }

    /// Blocks until `count` names ending in `.json` exist in `directory`, woken by inotify.
    static func waitForFiles(_ directory: String, count: Int, timeout: Double = 600) -> Bool {
        guard let inotify = try? Inotify() else { return false }
        defer { inotify.close() }
        _ = try? inotify.addWatch(directory, mask: InotifyMask.movedTo | InotifyMask.closeWrite)
        let deadline = now() + timeout
        func present() -> Int {
            guard let d = try? Directory.open(directory) else { return 0 }
            defer { d.close() }
            return ((try? d.entries()) ?? []).filter { $0.hasSuffix(".json") }.count
        }
        var seen = present()
        while seen < count {
            if now() > deadline { return false }
            var pfd = pollfd(fd: inotify.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 1000)
            let events = (try? inotify.readEvents()) ?? []
            if events.contains(where: { $0.mask & InotifyMask.queueOverflow != 0 }) { seen = present(); continue }
            seen += events.filter { $0.name.count > 5 && Array($0.name.suffix(5)) == Array(".json".utf8) }.count
            if events.isEmpty { seen = present() }
        }
        return true
    }
}

/// A `hopper run` on a temporary spool.
final class BenchDaemon {
    let base: String
    let pid: ProcessID
    var spool: String { base + "/spool" }

    init(under root: String, config: String) {
        base = Harness.makeTemp(under: root)
        Harness.write(base + "/hopper.json", config)
        Harness.run([Harness.hopper, "init", base + "/spool", "--config", base + "/hopper.json"])
        mkdir(base + "/stage", 0o755)
        let log = open(base + "/daemon.log", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        var request = SpawnRequest(executable: Harness.hopper, arguments: [Harness.hopper, "run", "--spool", base + "/spool", "--config", base + "/hopper.json"],
                                   environment: Harness.environment())
        request.stderr = .fd(FileDescriptor(rawValue: log))
        pid = try! Spawner.spawn(request).pid
        close(log)
        // Ready when the daemon has written its first status.
        let deadline = Harness.now() + 30
        while access(spool + "/status.json", F_OK) != 0 && Harness.now() < deadline { usleep(2000) }
    }

    /// Stages `n` requests, renames them into incoming/ at once, and returns
    /// the seconds until all `n` records exist.
    func drop(_ n: Int, request: String) -> Double {
        for i in 0..<n { Harness.write("\(base)/stage/b\(i).json", request) }
        let start = Harness.now()
        for i in 0..<n { rename("\(base)/stage/b\(i).json", "\(spool)/incoming/b\(i).json") }
        precondition(Harness.waitForFiles(spool + "/done", count: n), "bench: tasks did not finish")
        return Harness.now() - start
    }

    /// Resident set size in KiB.
    var rssKiB: Int {
        let text = (try? AtomicFile.read(path: "/proc/\(pid.rawValue)/status")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    }

    /// User + system CPU seconds so far.
    var cpuSeconds: Double {
        let text = (try? AtomicFile.read(path: "/proc/\(pid.rawValue)/stat")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let fields = text[text.lastIndex(of: ")")!...].split(separator: " ")
        return ((Double(fields[12]) ?? 0) + (Double(fields[13]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func stop() {
        ProcessGroup.signalProcess(pid, .term)
        _ = Harness.wait(pid)
        Harness.remove(base)
    }
}

extension FileDescriptor {
    func writeLine(_ s: String) { try? writeAll(Array((s + "\n").utf8)) }
}
