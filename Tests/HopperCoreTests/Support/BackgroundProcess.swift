import Glibc
@testable import HopperCore

/// A process a test starts and lets run: in its own process group, carrying
/// the spool's marker, its output in files the test reads while it runs, its
/// exit latched from the shared reaper. Killed (whole group) if a test leaves
/// it running.
final class BackgroundProcess {
    var pid: ProcessID { exit.pid }
    let outPath: String
    let errPath: String
    private let exit: ChildExit

    /// Output goes to `<prefix>.out` and `<prefix>.err`, or with `combined`
    /// both to `<prefix>.log`.
    init(_ argv: [String], environment: [String], outputPrefix: String, combined: Bool = false, workingDirectory: String? = nil) throws {
        Reaper.shared.start()
        outPath = outputPrefix + (combined ? ".log" : ".out")
        errPath = combined ? outPath : outputPrefix + ".err"
        let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let errFD = combined ? outFD : open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(outFD); if !combined { close(errFD) } }
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: environment)
        request.workingDirectory = workingDirectory
        request.stdout = .fd(FileDescriptor(rawValue: outFD))
        request.stderr = .fd(FileDescriptor(rawValue: errFD))
        exit = try Spawner.spawn(request).exit
    }

    var stdout: String { (try? AtomicFile.read(path: outPath)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
    var stderr: String { (try? AtomicFile.read(path: errPath)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
    var exitStatus: HopperCore.ExitStatus? { exit.status }

    /// Waits (polling with a deadline) for the exit and returns the status.
    func exited(_ what: String = "the process to exit", timeout: Double = 30) async throws -> HopperCore.ExitStatus {
        try await eventuallyValue(what, timeout: timeout) { exitStatus }
    }

    /// Signals the process itself, while it is unreaped (its pid still its own).
    func signal(_ s: Signal) { exit.signal(s) }
    func interrupt() { signal(.interrupt) }

    /// SIGTERM to the whole group (a pipeline a script runs), then the exit.
    func stop() async throws -> HopperCore.ExitStatus {
        exit.signalGroup(.term)
        return try await exited()
    }

    /// Whether it has an inotify instance open: it has set up its watches.
    var isWatching: Bool {
        guard let fds = try? Directory.open("/proc/\(pid.rawValue)/fd") else { return false }
        defer { fds.close() }
        return ((try? fds.entries()) ?? []).contains { entry in
            var buffer = [CChar](repeating: 0, count: 256)
            let n = readlink("/proc/\(pid.rawValue)/fd/\(entry.escaped)", &buffer, buffer.count - 1)
            return n > 0 && String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == "anon_inode:inotify"
        }
    }

    deinit {
        if exit.status == nil {
            exit.signalGroup(.kill)
            _ = exit.wait()
        }
    }
}
