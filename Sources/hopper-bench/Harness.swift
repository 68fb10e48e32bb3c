import Glibc
import HopperCore

/// Small tools the scenarios share: timing, files, temporary directories that
/// are removed even when the run fails, and child processes run to completion.
enum Harness {
    /// CLOCK_MONOTONIC in seconds; the clock the probe reads too.
    static func now() -> Double { Double(MonotonicInstant.now().nanoseconds) / 1e9 }

    /// Sleeps until the monotonic instant `t` (seconds); used only to pace drops,
    /// never to wait for a result.
    static func sleep(until t: Double) {
        var ts = timespec(tv_sec: Int(t), tv_nsec: Int((t - t.rounded(.down)) * 1e9))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }

    /// A binary built next to this one (`hopper`, `hopper-bench-probe`).
    static func sibling(_ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = String(decoding: buffer[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let path = String(exe[..<exe.lastIndex(of: "/")!]) + "/" + name
        if access(path, X_OK) != 0 { fail("\(path) is missing; build it with `swift build -c release --product \(name)`") }
        return path
    }

    static let hopper = sibling("hopper")
    static let probe = sibling("hopper-bench-probe")

    static func write(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { fail("cannot write \(path): \(String(cString: strerror(errno)))") }
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// The whole file, or nil when it cannot be read.
    static func read(_ path: String) -> String? {
        (try? AtomicFile.read(path: path)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func makeTemp(under base: String) -> String {
        var template = Array("\(base)/hopper-bench-\(getpid())-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { fail("cannot create a directory under \(base)") }
        let path = String(cString: p)
        Cleanup.shared.track(directory: path)
        return path
    }

    static func remove(_ path: String) {
        _ = run(["/bin/rm", "-rf", path])
        Cleanup.shared.forget(directory: path)
    }

    /// Runs argv to completion; returns its exit status.
    @discardableResult
    static func run(_ argv: [String], quiet: Bool = true) -> ExitStatus {
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: environment())
        if !quiet { request.stdout = .fd(.standardError) }
        request.newProcessGroup = false
        guard let process = try? Spawner.spawn(request) else { return .exited(127) }
        return process.exit.wait()
    }

    /// The bench's environment plus the marker that tags every process of this run.
    static func environment() -> [String] { ProcessEnvironment.entries() + [Cleanup.shared.marker] }

    static func log(_ line: String) { FileDescriptor.standardError.writeLine("  " + line) }

    /// Stops every daemon and process of this run, removes every temporary
    /// directory, and exits 1 with one line that says what failed.
    static func fail(_ message: String) -> Never {
        FileDescriptor.standardError.writeLine("hopper-bench: \(message)")
        Cleanup.shared.run()
        exit(1)
    }
}

extension FileDescriptor {
    func writeLine(_ s: String) { try? writeAll(Array((s + "\n").utf8)) }
}
