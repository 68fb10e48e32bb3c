import Glibc
import Testing
@testable import HopperCore

/// What the fault suites check from outside: a rejection's explanation, the
/// daemon's descriptors and memory, and kinds of file a client cannot make
/// with `write`.
enum FaultProbes {
    /// Waits for `name`'s explanation in rejected/ and returns it.
    static func rejection(_ t: TestSpool, _ name: String, timeout: Double = 20) async throws -> JSONObject {
        try await eventuallyValue("\(name) rejected", timeout: timeout) {
            t.read("rejected/\(name).error.json").flatMap { try? JSONParser.parse($0).objectValue }
        }
    }

    /// The daemon's open descriptors, resident memory and children.
    static func usage(_ daemon: DaemonProcess) throws -> SessionLeakTests.Usage {
        try SessionLeakTests.usage(daemon.pid)
    }

    /// Waits until the daemon holds exactly `fds` descriptors again (a
    /// descriptor may be open for a moment while an event is handled).
    static func descriptorsSettle(_ daemon: DaemonProcess, at fds: Int) async throws {
        var last = -1
        do {
            try await eventually("the daemon's descriptors back to \(fds)") {
                last = try usage(daemon).fds
                return last == fds
            }
        } catch {
            Issue.record("descriptors: \(fds) before, \(last) after")
        }
    }

    /// Polls `condition` like `eventually`, sampling the daemon's resident
    /// memory meanwhile; returns the highest sample in KiB.
    static func peakMemory(_ daemon: DaemonProcess, _ what: String, timeout: Double = 60, until condition: () throws -> Bool) async throws -> Int {
        var peak = 0
        try await eventually(what, timeout: timeout) {
            peak = max(peak, (try? usage(daemon).rssKiB) ?? 0)
            return try condition()
        }
        return peak
    }

    /// Binds an AF_UNIX socket at `path` and closes it: the socket file stays.
    static func bindSocket(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", errno: .current) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw SystemError("bind", path, errno: .current) }
    }

    /// `count` bytes from a fixed-seed generator: the same "random" file every run.
    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = ParserFuzzTests.Rng(state: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// Writes `bytes` to `path` (created or truncated).
    static func write(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open", path, errno: .current) }
        defer { close(fd) }
        try FileDescriptor(rawValue: fd).writeAll(bytes)
    }

    /// Drops raw bytes the safe way (dot name, then rename).
    static func drop(_ t: TestSpool, _ name: String, _ bytes: [UInt8]) throws {
        let temp = t.spool + "/incoming/.raw.part"
        try write(temp, bytes)
        guard rename(temp, t.spool + "/incoming/" + name) == 0 else { throw SystemError("rename", name, errno: .current) }
    }
}
