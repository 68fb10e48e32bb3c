/// What a Slurm job's end means for its task: pure, one place for every way
/// a job can end (SPEC section 11).
///
/// | end                                   | state     | reason      |
/// |---------------------------------------|-----------|-------------|
/// | stopped by a cancel                   | cancelled | cancelled   |
/// | stopped by Hopper's timeout           | failed    | timeout     |
/// | exit file: status 0                   | succeeded | exit        |
/// | exit file: status 1-128               | failed    | exit        |
/// | exit file: status above 128 (n+128)   | failed    | signal n    |
/// | Slurm COMPLETED, no exit file         | succeeded | exit 0 (the job script exits with the command's status) |
/// | Slurm TIMEOUT, DEADLINE               | failed    | timeout     |
/// | Slurm NODE_FAIL, PREEMPTED, BOOT_FAIL | interruption: submitted again; at the third, error/interrupted |
/// | Slurm OUT_OF_MEMORY                   | failed    | signal 9, "ran out of memory" |
/// | Slurm CANCELLED (not by Hopper)       | failed    | signal      |
/// | other Slurm end, job lost             | failed    | exit        |
/// | sbatch refused it                     | error     | spawn       |
enum SlurmOutcome: Equatable {
    case record(state: TaskState, reason: TerminalReason, message: String, exitCode: Int32?, signal: Int32?)
    /// The cluster lost the job: an interruption, as a daemon crash is locally.
    case interrupted(String)

    static func of(_ end: SlurmJobTable.End, stop: SlurmJobTable.Stop?, timeout: Double) -> SlurmOutcome {
        var code: Int32?, signal: Int32?
        if case .exited(let status, _, _) = end {
            switch status {
            case .exited(let c): code = c
            case .signaled(let s): signal = s.rawValue
            }
        }
        switch stop {
        case .cancel?:
            return .record(state: .cancelled, reason: .cancelled, message: "Cancelled while running; its Slurm job was cancelled.", exitCode: code, signal: signal)
        case .timeout?:
            return .record(state: .failed, reason: .timeout,
                           message: "Timed out after \(FieldReader.format(timeout)) seconds; its Slurm job was cancelled.", exitCode: code, signal: signal)
        case nil:
            break
        }
        switch end {
        case .exited(.exited(0), _, _):
            return .record(state: .succeeded, reason: .exit, message: "Exited with status 0.", exitCode: 0, signal: nil)
        case .exited(.exited(let c), _, _):
            return .record(state: .failed, reason: .exit, message: "Exited with status \(c).", exitCode: c, signal: nil)
        case .exited(.signaled(let s), _, _):
            return .record(state: .failed, reason: .signal, message: "Killed by signal \(s.rawValue) (\(s.name)).", exitCode: nil, signal: s.rawValue)
        case .slurm(let state, _, let jobID):
            switch state {
            case "COMPLETED":
                // The job script ends with `exit $status`: Slurm's COMPLETED is the command's
                // status 0, whether or not its exit file could be read (NFS may not show it yet).
                return .record(state: .succeeded, reason: .exit, message: "Exited with status 0 (Slurm job \(jobID) COMPLETED; its exit file was not found).",
                               exitCode: 0, signal: nil)
            case "TIMEOUT", "DEADLINE":
                return .record(state: .failed, reason: .timeout, message: "Slurm ended job \(jobID) at its time limit (\(state)).", exitCode: nil, signal: nil)
            case "NODE_FAIL", "PREEMPTED", "BOOT_FAIL":
                return .interrupted("Slurm job \(jobID) ended \(state)")
            case "OUT_OF_MEMORY":
                return .record(state: .failed, reason: .signal, message: "Slurm job \(jobID) ran out of memory (OUT_OF_MEMORY) and was killed.",
                               exitCode: nil, signal: Signal.kill.rawValue)
            case "CANCELLED":
                return .record(state: .failed, reason: .signal, message: "Slurm job \(jobID) was cancelled outside Hopper.", exitCode: nil, signal: Signal.term.rawValue)
            default:
                return .record(state: .failed, reason: .exit, message: "Slurm job \(jobID) ended \(state) without reporting the command's status.", exitCode: nil, signal: nil)
            }
        case .lost(let jobID):
            return .record(state: .failed, reason: .exit, message: "Slurm no longer knows job \(jobID), and it left no exit status.", exitCode: nil, signal: nil)
        case .notSubmitted(let why):
            return .record(state: .error, reason: .spawn, message: "sbatch refused the job: \(why).", exitCode: nil, signal: nil)
        case .neverSubmitted:
            return .record(state: .cancelled, reason: .cancelled, message: "Cancelled before it ran.", exitCode: nil, signal: nil)
        }
    }

    /// The wrapper's status as a shell reports it: above 128 is a signal.
    static func status(_ shellStatus: Int32) -> ExitStatus {
        if shellStatus > 128, shellStatus < 128 + 65 { return .signaled(Signal(rawValue: shellStatus - 128)) }
        return .exited(shellStatus)
    }
}
