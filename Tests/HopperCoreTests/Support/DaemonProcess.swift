import Glibc
@testable import HopperCore

/// A `hopper run` started by a test on a TestSpool, logging to a file.
final class DaemonProcess {
    let pid: ProcessID
    let logPath: String
    private let box = StatusBox()

    /// `wrapper` prefixes the command (e.g. `prlimit --nofile=48:48 --`).
    init(_ spool: TestSpool, arguments: [String] = [], environment: [String] = [], wrapper: [String] = []) throws {
        Reaper.shared.start()
        logPath = spool.base + "/daemon-\(IDSuffixGenerator.random(6)).log"
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(logFD) }
        let argv = wrapper + [TestSpool.hopperBinary, "run", "--spool", spool.spool, "--config", spool.configPath] + arguments
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: inheritedEnvironment() + environment + [spool.marker])
        request.stderr = .fd(FileDescriptor(rawValue: logFD))
        request.stdout = .fd(FileDescriptor(rawValue: logFD))
        let process = try Spawner.spawn(request)
        pid = process.pid
        let box = self.box
        Reaper.shared.onExit(pid) { box.set($0) }
    }

    var log: String { (try? AtomicFile.read(path: logPath)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
    var exitStatus: ExitStatus? { box.value }

    /// Waits until the daemon logs that it is taking tasks.
    func ready() async throws -> DaemonProcess {
        try await eventually("the daemon to start taking tasks") {
            if exitStatus != nil { throw TimedOut(what: "a running daemon; it exited: \(log)") }
            return log.contains("taking tasks")
        }
        return self
    }

    func signal(_ s: Signal) { ProcessGroup.signalProcess(pid, s) }

    /// Waits for the daemon to exit and returns its status.
    func exited(timeout: Double = 30) async throws -> ExitStatus {
        try await eventuallyValue("the daemon to exit", timeout: timeout) { exitStatus }
    }

    /// SIGTERM, then the exit status.
    func stop() async throws -> ExitStatus {
        signal(.term)
        return try await exited()
    }

    /// SIGKILL, as a crash would.
    func crash() async throws {
        signal(.kill)
        _ = try await exited()
    }

    deinit {
        if box.value == nil {
            ProcessGroup.signalProcess(pid, .kill)
            _ = box.wait()
        }
    }
}
