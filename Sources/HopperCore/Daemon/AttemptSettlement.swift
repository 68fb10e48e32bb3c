/// How one attempt ends: why Hopper stopped it, if it did, and what its end
/// then means for its task (SPEC sections 5 and 6). A pure value: no clock,
/// no I/O; the daemon signals the process group and writes what it returns.
///
/// An attempt is stopped for at most one reason. A stop of higher rank
/// replaces a lower one; a lower or equal one changes nothing. Only the
/// first stop signals the process group: later ones find it already going.
///
/// | stop held → asked | timeout              | cancel               | shutdown             |
/// |-------------------|----------------------|----------------------|----------------------|
/// | none              | timeout, terminate   | cancel, terminate    | shutdown, terminate  |
/// | shutdown          | timeout              | cancel               | —                    |
/// | silence           | timeout              | cancel               | —                    |
/// | timeout           | —                    | cancel               | —                    |
/// | cancel            | —                    | —                    | —                    |
///
/// (A silence, `idle_output` passed without output, ranks between the
/// shutdown and the timeout: asked with nothing held it terminates; after a
/// shutdown it takes the stop over; a timeout or a cancel outranks it.)
///
/// So a task whose time ran out is charged for it even when the daemon's
/// shutdown caught its process dying, and a cancel always wins: the user
/// said it must not run again.
///
/// Settling, by the stop held and the end seen:
///
/// | stop     | end                                        | outcome                                 |
/// |----------|--------------------------------------------|-----------------------------------------|
/// | cancel   | any                                        | record: cancelled, never retried        |
/// | timeout  | any                                        | failed (timeout): retry if any left     |
/// | silence  | any                                        | failed (timeout, "silent"): retry if any left |
/// | shutdown | any                                        | requeue, the attempt not charged        |
/// | none     | exit 0, agent finished                     | record: succeeded                       |
/// | none     | exit n, signal, agent error, session lost  | failed: retry if any left, else record  |
/// | none     | agent rate-limited or out of quota         | limited: requeue uncharged, provider limited |
/// | none     | agent not authenticated                    | requeue uncharged, a failure for the circuit |
struct AttemptSettlement: Sendable, Equatable {
    /// Why Hopper stopped an attempt, lowest rank first.
    enum Stop: Int, Sendable, Comparable {
        /// `silence`: nothing written for `idle_output` seconds, a timeout of its own kind.
        case shutdown, silence, timeout, cancel
        static func < (a: Stop, b: Stop) -> Bool { a.rawValue < b.rawValue }
    }

    private(set) var stop: Stop?

    init() {}

    /// Asks the attempt to stop for `reason`; true when its process group
    /// must be told now (the first stop).
    mutating func request(_ reason: Stop) -> Bool {
        guard let held = stop else {
            stop = reason
            return true
        }
        if held < reason { stop = reason }
        return false
    }

    /// What the attempt's end comes to, given the attempts made so far (this
    /// one included) and the retries the task allows.
    func settle(_ end: AttemptEnd, attemptsMade: Int, retries: Int, timeout: Double, idleOutput: Double = 0) -> AttemptOutcome {
        let verdict: Verdict
        switch stop {
        case .cancel?: return .record(.cancelled(end))
        case .shutdown?: return .requeue
        case .timeout?: verdict = .timedOut(after: timeout, end)
        case .silence?: verdict = .silent(after: idleOutput, end)
        case nil:
            if case .agent(let o) = end {
                switch o.verdict {
                case .rateLimited(let until): return .limited(until: until, message: o.message)
                case .authenticationFailed: return .authenticationFailed(message: o.message)
                case .succeeded, .failed: break
                }
            }
            verdict = Verdict(end)
        }
        if verdict.state == .failed && attemptsMade <= retries { return .retry(verdict) }
        return .record(verdict)
    }
}

/// How an attempt ended, whichever way its task ran.
enum AttemptEnd: Sendable, Equatable {
    /// The command's own status: an exec process, or a shell session's frame.
    case process(ExitStatus)
    /// An agent CLI's outcome, as its adapter read it (or a plain `jsonl`
    /// session's result line).
    case agent(AgentOutcome)
    /// The session process died before the task's end was seen.
    case sessionLost(ExitStatus)

    /// The status a record carries: an agent has none of its own.
    var status: ExitStatus? {
        switch self {
        case .process(let s), .sessionLost(let s): s
        case .agent: nil
        }
    }
}

/// What a settled attempt does to its task.
enum AttemptOutcome: Sendable, Equatable {
    /// Back to queued, the attempt not charged (the daemon stopped it).
    case requeue
    /// Failed with retries left: back to pending until its retry delay is over.
    case retry(Verdict)
    /// The task ends with this record.
    case record(Verdict)
    /// The agent was rate-limited or out of quota: back to queued,
    /// uncharged, and its provider limited until `until` (nil: a backoff).
    case limited(until: Timestamp?, message: String)
    /// The agent said it is not logged in: back to queued, uncharged; a
    /// failure for its provider's circuit.
    case authenticationFailed(message: String)
}

/// What a task's record says about its last attempt.
enum Verdict: Sendable, Equatable {
    /// The process exited on its own (0 is success).
    case exited(Int32)
    case signaled(Signal)
    /// An agent CLI's outcome.
    case agent(AgentOutcome)
    /// The session process died mid-task; its status is not the task's.
    case sessionLost(ExitStatus)
    /// Hopper's timeout stopped it, after `after` seconds.
    case timedOut(after: Double, AttemptEnd)
    /// It wrote nothing for `after` seconds (`idle_output`): stopped like a timeout.
    case silent(after: Double, AttemptEnd)
    /// A cancel stopped it.
    case cancelled(AttemptEnd)

    /// An end Hopper did not cause.
    init(_ end: AttemptEnd) {
        switch end {
        case .process(.exited(let c)): self = .exited(c)
        case .process(.signaled(let s)): self = .signaled(s)
        case .agent(let outcome): self = .agent(outcome)
        case .sessionLost(let s): self = .sessionLost(s)
        }
    }

    var state: TaskState {
        switch self {
        case .exited(0): .succeeded
        case .agent(let o): o.isSuccess ? .succeeded : .failed
        case .cancelled: .cancelled
        case .exited, .signaled, .sessionLost, .timedOut, .silent: .failed
        }
    }

    var reason: TerminalReason {
        switch self {
        case .exited: .exit
        case .agent(let o): o.isSuccess ? .exit : .agentError
        case .signaled: .signal
        case .sessionLost(let s): if case .signaled = s { .signal } else { .exit }
        case .timedOut, .silent: .timeout
        case .cancelled: .cancelled
        }
    }

    var message: String {
        switch self {
        case .exited(let c): "Exited with status \(c)."
        case .signaled(let s): "Killed by signal \(s.rawValue) (\(s.name))."
        case .agent(let o): o.message
        case .sessionLost(let s):
            "The session process ended while the task ran (\(Daemon.describe(s))); the session is replaced."
        case .timedOut(let seconds, _): "Timed out after \(FieldReader.format(seconds)) seconds; its process group was killed."
        case .silent(let seconds, _):
            "Silent for \(FieldReader.format(seconds)) seconds (nothing on stdout or stderr, timeouts.command.idle_output); its process group was killed."
        case .cancelled: "Cancelled while running."
        }
    }

    /// The exit code the record carries: the command's own, never a session's.
    var exitCode: Int32? {
        switch self {
        case .exited(let c): c
        case .timedOut(_, let end), .silent(_, let end), .cancelled(let end): if case .exited(let c)? = end.status { c } else { nil }
        case .signaled, .agent, .sessionLost: nil
        }
    }

    var signal: Int32? {
        switch self {
        case .signaled(let s): s.rawValue
        case .sessionLost(.signaled(let s)): s.rawValue
        case .timedOut(_, let end), .silent(_, let end), .cancelled(let end): if case .signaled(let s)? = end.status { s.rawValue } else { nil }
        case .exited, .agent, .sessionLost: nil
        }
    }

    /// The agent's outcome, however the attempt was stopped (its fields go to the record).
    var agent: AgentOutcome? {
        switch self {
        case .agent(let o), .timedOut(_, .agent(let o)), .silent(_, .agent(let o)), .cancelled(.agent(let o)): o
        default: nil
        }
    }

    /// An agent's result object, however the attempt was stopped.
    var result: JSONValue? {
        switch self {
        case .agent(let o), .timedOut(_, .agent(let o)), .silent(_, .agent(let o)), .cancelled(.agent(let o)): o.result
        default: nil
        }
    }
}

extension Daemon {
    /// "exit status 3" or "signal 15 (SIGTERM)".
    static func describe(_ status: ExitStatus) -> String {
        switch status {
        case .exited(let c): return "exit status \(c)"
        case .signaled(let s): return "signal \(s.rawValue) (\(s.name))"
        }
    }
}

/// What an attempt's output came to.
struct OutputCounts {
    var stdoutBytes: Int64
    var stderrBytes: Int64
    var truncated: Bool
    var error: String?

    init(_ r: RunResult) { (stdoutBytes, stderrBytes, truncated, error) = (r.stdoutBytes, r.stderrBytes, r.truncated, r.outputError) }
    init(_ r: SessionTaskResult) { (stdoutBytes, stderrBytes, truncated, error) = (r.stdoutBytes, r.stderrBytes, r.truncated, nil) }
}
