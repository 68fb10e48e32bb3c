/// An adapter for a CLI that runs one process per task (aider, Codex,
/// Copilot, Gemini, opencode), whose events all go the same way: stderr is
/// kept for the failure message, stdout is the CLI's own to read, and the
/// exit decides the task, once.
///
/// The adapters used to spell that `consume` out each; this protocol keeps
/// the one copy, so how events reach a per-task adapter (what is ignored
/// after an outcome, where stderr goes) is decided in one place. A
/// conforming adapter reads stdout in `take(stdout:now:)` and decides in
/// `decide(_:now:)`; its public `consume` comes from the extension below.
///
/// Cursor is per-task too but is not one of these: it hands every event,
/// stderr included, to a Claude stream reader and holds the result until
/// the exit confirms it.
protocol PerTaskAdapter: AgentAdapter {
    /// The task's outcome has been returned; later events are ignored until `beginTask()`.
    var isDecided: Bool { get set }
    /// The last lines the CLI wrote to stderr (and, for JSON CLIs, stdout lines that were not JSON).
    var stderr: LineTail { get set }
    /// Reads one stdout line. Returns an outcome only where the line decides
    /// the task before the process ends (opencode hangs after a quota error).
    mutating func take(stdout line: String, now: Timestamp) -> AgentOutcome?
    /// The outcome once the process has ended with `status`.
    func decide(_ status: ExitStatus, now: Timestamp) -> AgentOutcome
}

extension PerTaskAdapter {
    /// `AgentAdapter.consume` for every per-task CLI. Public although the
    /// protocol is not: it is the conforming adapters' public `consume`.
    public mutating func consume(_ event: AgentEvent, now: Timestamp) -> AgentOutcome? {
        guard !isDecided else { return nil }
        switch event {
        case .stderr(let line):
            stderr.append(line)
            return nil
        case .stdout(let line):
            guard let outcome = take(stdout: line, now: now) else { return nil }
            isDecided = true
            return outcome
        case .exited(let status):
            isDecided = true
            return decide(status, now: now)
        }
    }
}

/// A per-task adapter for a CLI that writes JSON lines on stdout (Codex,
/// Gemini, opencode). A stdout line that is not a JSON object is not an
/// event: it is kept with stderr, as the CLI's words for a failure message.
protocol JSONLinesAdapter: PerTaskAdapter {
    /// Reads one JSON object from stdout; returns an outcome as `take(stdout:now:)` does.
    mutating func take(object: JSONObject, now: Timestamp) -> AgentOutcome?
}

extension JSONLinesAdapter {
    mutating func take(stdout line: String, now: Timestamp) -> AgentOutcome? {
        guard let o = AgentJSON.object(line) else { stderr.append(line); return nil }
        return take(object: o, now: now)
    }
}
