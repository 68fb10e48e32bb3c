import Glibc
import Synchronization
import Testing
@testable import HopperCore

/// The real two-node Slurm cluster (`scripts/slurm-cluster`) the Slurm suites
/// run on: started once per test run, on first use, and stopped by the pids
/// it recorded when the test process exits.
///
/// - Where the machine cannot run it (not root, no network namespaces, Slurm
///   or munge not installed) the suites are skipped with a message naming
///   what is missing.
/// - `HOPPER_REQUIRE_SLURM=1` (CI) turns that skip into a failure.
enum SlurmCluster {
    static var isRequired: Bool { Environment.get("HOPPER_REQUIRE_SLURM") == "1" }

    static let script = SessionTests.path(before: "Tests") + "/scripts/slurm-cluster"

    /// Why this machine cannot run the cluster, or nil if it can.
    static let unavailableBecause: String? = {
        guard let probe = try? runProcess([script, "check"]) else { return "cannot run \(script)" }
        return probe.exitCode == 0 ? nil : (probe.stdout + probe.stderr).trimmedLine
    }()

    /// For `.enabled(if:)`: run when the cluster can start, or when it is
    /// required (so that `require()` fails loudly).
    static var mayRun: Bool { unavailableBecause == nil || isRequired }
    static let skipMessage: Comment = "no Slurm cluster on this machine (needs root, network namespaces, slurm-wlm and munge; HOPPER_REQUIRE_SLURM=1 makes this a failure)"

    /// A running cluster: its directory and the configuration its commands need.
    struct Running: Sendable {
        let directory: String
        var configPath: String { directory + "/slurm.conf" }
        /// `SLURM_CONF=…`, for every Slurm command and daemon a test starts.
        var environment: [String] { ["SLURM_CONF=" + configPath] }
    }

    private static let state = Mutex<Result<Running, StartFailure>?>(nil)

    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// The cluster, started on the first call; fails the test if it cannot be.
    static func require() throws -> Running {
        if let why = unavailableBecause {
            try #require(Bool(false), "HOPPER_REQUIRE_SLURM=1 but the Slurm cluster cannot run here: \(why)")
        }
        return try state.withLock { started in
            if started == nil { started = start() }
            return try started!.get()
        }
    }

    private static func start() -> Result<Running, StartFailure> {
        var template = Array("/tmp/hopper-slurm-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { return .failure(StartFailure(description: "mkdtemp failed")) }
        let directory = String(cString: p)
        chmod(directory, 0o755)
        // Stopped when the test process exits, whatever the suites did.
        stopDirectory.withLock { $0 = directory }
        atexit { SlurmCluster.stopAtExit() }
        let result = try? runProcess([script, "start", directory])
        guard let result, result.exitCode == 0 else {
            stopAtExit()
            return .failure(StartFailure(description: "scripts/slurm-cluster start failed: \(result.map { ($0.stdout + $0.stderr).trimmedLine } ?? "cannot run it")"))
        }
        return .success(Running(directory: directory))
    }

    private static let stopDirectory = Mutex<String?>(nil)

    /// Stops the cluster by its recorded pids and removes its namespaces.
    static func stopAtExit() {
        guard let directory = stopDirectory.withLock({ d -> String? in defer { d = nil }; return d }) else { return }
        _ = try? runProcess([script, "stop", directory])
        if getenv("HOPPER_TEST_KEEP") == nil { _ = try? runProcess(["/bin/rm", "-rf", directory]) }
    }

    /// Runs a Slurm command (squeue, scancel, sbatch) against the cluster.
    static func command(_ cluster: Running, _ argv: [String]) throws -> ProcessOutput {
        try runProcess(argv, environment: cluster.environment)
    }

    /// When slurmctld logged the first line containing `text`, in seconds
    /// since the epoch: its log stamps each line with the local time to the
    /// millisecond (`[2026-12-04T07:31:03.322]`). The cluster's own clock for
    /// an event, unlike a test's poll, which a busy machine can hold back.
    static func controllerLogTime(_ cluster: Running, of text: String) -> Double? {
        guard let log = try? AtomicFile.read(path: cluster.directory + "/log/slurmctld.log", limit: 64 << 20) else { return nil }
        let needle = Array(text.utf8)
        for line in log.split(separator: UInt8(ascii: "\n")) where line.count > 25 && line.first == UInt8(ascii: "[") {
            guard line.firstRange(of: needle) != nil else { continue }
            let stamp = String(decoding: line[line.index(after: line.startIndex)..<line.index(line.startIndex, offsetBy: 24)], as: UTF8.self)
            // YYYY-MM-DDTHH:MM:SS.mmm
            let parts = stamp.split(whereSeparator: { "-T:.".contains($0) }).compactMap { Int32($0) }
            guard parts.count == 7 else { return nil }
            var fields = tm()
            fields.tm_year = parts[0] - 1900
            fields.tm_mon = parts[1] - 1
            fields.tm_mday = parts[2]
            fields.tm_hour = parts[3]
            fields.tm_min = parts[4]
            fields.tm_sec = parts[5]
            fields.tm_isdst = -1
            let seconds = mktime(&fields)
            guard seconds != -1 else { return nil }
            return Double(seconds) + Double(parts[6]) / 1000
        }
        return nil
    }

    /// Job ids Slurm still holds (pending, running or completing) whose name starts with `prefix`.
    static func activeJobs(_ cluster: Running, namePrefix prefix: String = "hopper-") throws -> [String] {
        let out = try command(cluster, ["/usr/bin/squeue", "-h", "-o", "%i %j %T"]).stdout
        return out.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count >= 2, parts[1].hasPrefix(prefix) else { return nil }
            return String(parts[0])
        }
    }
}
