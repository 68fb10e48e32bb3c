import Glibc
import Testing
@testable import HopperCore

/// The outside tools the fault suite drives (strace, unshare, nsenter,
/// prlimit), and the suite's two switches:
///
/// - `HOPPER_REQUIRE_FAULT_TOOLS=1` (CI): a missing or unusable tool fails
///   the test. Without it, a developer machine lacking one skips the test
///   with a message naming the tool.
/// - `HOPPER_FAULTS=full`: every injection point and the full-size bursts,
///   instead of the bounded form `swift test` runs.
///
/// And, to replay one point of a stepping suite: `HOPPER_FAULTS_ONLY=a,b`
/// runs only the families named, `HOPPER_FAULTS_FROM=N` starts at point N.
enum FaultTools {
    static var isRequired: Bool { Environment.get("HOPPER_REQUIRE_FAULT_TOOLS") == "1" }
    static var isFullMode: Bool { Environment.get("HOPPER_FAULTS") == "full" }

    /// Walks of every injection point: one in the bounded form, ten in full
    /// (the same N does not always land on the same operation).
    static var rounds: Int { isFullMode ? 10 : 1 }

    /// Whether `HOPPER_FAULTS_ONLY` (if set) names the family `name`.
    static func isSelected(_ name: String) -> Bool {
        guard let only = Environment.get("HOPPER_FAULTS_ONLY") else { return true }
        return only.split(separator: ",").contains(Substring(name))
    }

    /// The first point to step: `HOPPER_FAULTS_FROM`, or 1.
    static var firstPoint: Int { Environment.get("HOPPER_FAULTS_FROM").flatMap(Int.init) ?? 1 }

    /// The tool's absolute path, if installed.
    static func path(_ tool: String) -> String? {
        ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/", "/usr/local/bin/"].map { $0 + tool }.first { access($0, X_OK) == 0 }
    }

    /// Whether strace is installed and may trace here (ptrace can be forbidden in containers).
    static let straceWorks: Bool = {
        guard let strace = path("strace") else { return false }
        return (try? runProcess([strace, "-f", "-qq", "-o", "/dev/null", "/bin/true"]))?.exitCode == 0
    }()

    /// Whether a private mount namespace with a tmpfs can be made (root, util-linux).
    static let mountNamespaceWorks: Bool = {
        guard let unshare = path("unshare"), path("nsenter") != nil else { return false }
        return (try? runProcess([unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", "mount -t tmpfs -o size=1m probe /mnt"]))?.exitCode == 0
    }()

    /// For `.enabled(if:)`: run when the tools work, or when they are required
    /// (so that `requireStrace()` can fail loudly).
    static var mayTrace: Bool { straceWorks || isRequired }
    static var mayMount: Bool { mountNamespaceWorks || isRequired }

    static let skipStrace: Comment = "strace is missing or cannot trace here; install strace (HOPPER_REQUIRE_FAULT_TOOLS=1 makes this a failure)"
    static let skipMount: Comment = "no private mount namespace (needs root and util-linux unshare/nsenter; HOPPER_REQUIRE_FAULT_TOOLS=1 makes this a failure)"

    static func requireStrace() throws -> String {
        try #require(straceWorks, "HOPPER_REQUIRE_FAULT_TOOLS=1 but strace is missing or cannot trace")
        return path("strace")!
    }

    static func requireMountNamespace() throws {
        try #require(mountNamespaceWorks, "HOPPER_REQUIRE_FAULT_TOOLS=1 but unshare/nsenter cannot make a private tmpfs")
    }

    /// `strace` as a wrapper for `hopper run`: follows threads and children,
    /// prints nothing, and tampers with `syscalls` at their `when`-th call.
    ///
    /// strace counts calls per traced thread and per system call, from 1 in
    /// every new thread or process. `paths` (`-P`) restricts the counted calls
    /// to those naming one of them, directly or through a descriptor; without
    /// it the runtime's library loading would take every early `openat`.
    /// Without `tasks`, strace lets go of each child at its execve
    /// (`-b execve`), so only the daemon's own calls are tampered with.
    /// (`--seccomp-bpf` is not used: strace 6.1 then misses injections.)
    static func strace(_ strace: String, _ syscalls: [String], action: String, when: Int, paths: [String] = [],
                       tasks: Bool = true, output: String = "/dev/null") -> [String] {
        let set = syscalls.joined(separator: ",")
        return [strace, "-f", "-qq", "-o", output] + (tasks ? [] : ["-b", "execve"]) + paths.flatMap { ["-P", $0] }
            + ["-e", "trace=\(set)", "-e", "inject=\(set):\(action):when=\(when)", "--"]
    }
}

/// The direct children of a process (strace's child is the daemon it runs).
func childProcesses(of pid: ProcessID) -> [ProcessID] {
    guard let text = try? AtomicFile.read(path: "/proc/\(pid.rawValue)/task/\(pid.rawValue)/children") else { return [] }
    return text.split(separator: UInt8(ascii: " ")).compactMap { pid_t(String(decoding: $0, as: UTF8.self)) }.map(ProcessID.init(rawValue:))
}
