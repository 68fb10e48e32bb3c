import Glibc

/// A `mode: "slurm"` provider's `slurm` object (SPEC section 11):
/// `partition`, `max_jobs` (default 100) and extra `sbatch` `args`.
public struct SlurmSettings: Sendable, Equatable {
    public var partition: String?
    /// Submitted, unfinished jobs of this provider at most, independently of `workers`.
    public var maxJobs = 100
    public var args: [String] = []

    public init() {}

    init(reader s: inout FieldReader) throws(HopperError) {
        partition = try s.string("partition", nonEmpty: true)
        maxJobs = try s.int("max_jobs", in: 1...100_000) ?? 100
        args = try s.stringArray("args") ?? []
    }
}

/// The Slurm commands Hopper runs, found on PATH once, when the daemon starts.
public struct SlurmCommands: Sendable, Equatable {
    public var sbatch: String
    public var squeue: String
    public var scancel: String
    public var srun: String
    public var sinfo: String

    /// Looks each command up on `path` (`PATH`'s value); throws a
    /// configuration error that names the first one missing and the provider.
    public static func locate(path: String?, provider: String) throws(HopperError) -> SlurmCommands {
        func find(_ name: String) throws(HopperError) -> String {
            for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
                let candidate = "\(dir)/\(name)"
                if access(candidate, X_OK) == 0 { return candidate }
            }
            throw HopperError(.config, "key \"providers.\(provider).mode\": mode \"slurm\" needs Slurm's \(name) command, which is not on PATH",
                              field: "providers.\(provider).mode")
        }
        return SlurmCommands(sbatch: try find("sbatch"), squeue: try find("squeue"), scancel: try find("scancel"),
                             srun: try find("srun"), sinfo: try find("sinfo"))
    }
}
