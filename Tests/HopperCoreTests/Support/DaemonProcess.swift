import Glibc
@testable import HopperCore

/// A `hopper run` started by a test on a TestSpool, logging to a file.
final class DaemonProcess {
    private let process: BackgroundProcess
    var pid: ProcessID { process.pid }
    var logPath: String { process.outPath }

    /// `wrapper` prefixes the command (e.g. `prlimit --nofile=48:48 --`).
    init(_ spool: TestSpool, arguments: [String] = [], environment: [String] = [], wrapper: [String] = []) throws {
        let argv = wrapper + [TestSpool.hopperBinary, "run", "--spool", spool.spool, "--config", spool.configPath] + arguments
        process = try BackgroundProcess(argv, environment: inheritedEnvironment() + environment + [spool.marker],
                                        outputPrefix: spool.base + "/daemon-\(IDSuffixGenerator.random(6))", combined: true)
    }

    var log: String { process.stdout }
    var exitStatus: ExitStatus? { process.exitStatus }

    /// Waits until the daemon logs that it is taking tasks.
    func ready(timeout: Double = 20) async throws -> DaemonProcess {
        try await eventually("the daemon to start taking tasks", timeout: timeout) {
            if exitStatus != nil { throw TimedOut(what: "a running daemon; it exited: \(log)") }
            return log.contains("taking tasks")
        }
        return self
    }

    func signal(_ s: Signal) { process.signal(s) }

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

    /// The run guard of the run recorded in the spool's lock (`hopper __guard
    /// RUN_ID …`), while it runs and is no zombie.
    static func runGuard(of spool: TestSpool) -> ProcessID? {
        guard let lock = spool.read(".hopper/lock"),
              let runID = lock.split(whereSeparator: { $0 == " " || $0 == "\n" }).dropFirst().first else { return nil }
        let wanted = ["hopper", RunGuard.command, String(runID)]
        guard let proc = try? Directory.open("/proc") else { return nil }
        defer { proc.close() }
        for name in (try? proc.entries()) ?? [] {
            guard let text = name.string, let raw = pid_t(text) else { continue }
            let pid = ProcessID(rawValue: raw)
            if TestSpool.commandLine(pid)?.prefix(3).elementsEqual(wanted) == true && !TestSpool.isZombie(pid) { return pid }
        }
        return nil
    }

    // Left running by a test: BackgroundProcess kills it when this goes.
}
