/// What an attempt's end means for its task: pure, no I/O, one place for
/// every way a task can run.
extension Daemon {
    /// "exit status 3" or "signal 15 (SIGTERM)".
    static func describe(_ status: ExitStatus) -> String {
        switch status {
        case .exited(let c): return "exit status \(c)"
        case .signaled(let s): return "signal \(s.rawValue) (\(s.name))"
        }
    }

    /// What an attempt's end means for its task. One place for every way a
    /// task can run: a process's status (exec, or a shell session's frame),
    /// an agent's result line, or a session lost mid-task; a cancel or a
    /// timeout outranks them all.
    static func verdict(_ attempt: Attempt, _ end: AttemptEnd) -> Verdict {
        var code: Int32?, signal: Int32?, result: JSONValue?
        switch end {
        case .process(.exited(let c)), .sessionLost(.exited(let c)): code = c
        case .process(.signaled(let s)), .sessionLost(.signaled(let s)): signal = s.rawValue
        case .agent(_, let object): result = object  // an agent has no exit status of its own
        }
        if attempt.cancelled { return Verdict(.cancelled, .cancelled, "Cancelled while running.", code, signal, result) }
        if attempt.timedOut {
            return Verdict(.failed, .timeout, "Timed out after \(FieldReader.format(attempt.timeout)) seconds; its process group was killed.", code, signal, result)
        }
        switch end {
        case .process(.exited(0)):
            return Verdict(.succeeded, .exit, "Exited with status 0.", 0, nil, nil)
        case .process(.exited(let c)):
            return Verdict(.failed, .exit, "Exited with status \(c).", c, nil, nil)
        case .process(.signaled(let s)):
            return Verdict(.failed, .signal, "Killed by signal \(s.rawValue) (\(s.name)).", nil, s.rawValue, nil)
        case .agent(let isError, let object):
            let text = object.objectValue?["result"]?.stringValue.map { ": " + String($0.prefix(200)) } ?? "."
            return Verdict(isError ? .failed : .succeeded, .exit, (isError ? "The agent reported an error" : "The agent finished") + text, nil, nil, object)
        case .sessionLost(let status):
            // The session's own status is not the task's: no exit code.
            let message = "The session process ended while the task ran (\(describe(status))); the session is replaced."
            return Verdict(.failed, signal == nil ? .exit : .signal, message, nil, signal, nil)
        }
    }
}

/// How an attempt ended, whichever way its task ran.
enum AttemptEnd: Sendable {
    /// The command's own status: an exec process, or a shell session's frame.
    case process(ExitStatus)
    /// An agent's result line (`is_error`, and the whole object).
    case agent(isError: Bool, result: JSONValue)
    /// The session process died before the task's end was seen.
    case sessionLost(ExitStatus)
}

/// What a task's record says about its attempt.
struct Verdict {
    var state: TaskState
    var reason: TerminalReason
    var message: String
    var exitCode: Int32?
    var signal: Int32?
    var result: JSONValue?

    init(_ state: TaskState, _ reason: TerminalReason, _ message: String, _ exitCode: Int32?, _ signal: Int32?, _ result: JSONValue?) {
        (self.state, self.reason, self.message, self.exitCode, self.signal, self.result) = (state, reason, message, exitCode, signal, result)
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
