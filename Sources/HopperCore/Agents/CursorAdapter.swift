/// Cursor's agent CLI (`agent -p PROMPT --output-format stream-json`), one
/// process per task: `system/init`, assistant lines, and on success a final
/// `result` shaped like Claude Code's (`is_error`, `result`, `session_id`),
/// without cost or usage (agent-clis.md section 5).
///
/// Success is verified: a successful `result` and exit status 0. On
/// failure Cursor exits non-zero with its message on stderr and no result
/// (`Not authenticated`, `Workspace Trust Required`); a result followed by a
/// non-zero exit is a failure too.
public struct CursorAdapter: AgentAdapter {
    private var stream: ClaudeAdapter
    private let zones: ZoneLookup
    /// The result line's reading, held until the exit confirms it.
    private var pending: AgentOutcome?
    private var stderr = LineTail()
    private var isDecided = false

    public init(zones: ZoneLookup) {
        self.zones = zones
        stream = ClaudeAdapter(zones: zones, cliName: "Cursor Agent")
        // One process is one task: the task is open from the start.
        stream.beginTask()
    }

    public mutating func beginTask() {
        stream = ClaudeAdapter(zones: zones, cliName: "Cursor Agent")
        stream.beginTask()
        pending = nil
        stderr.removeAll()
        isDecided = false
    }

    public mutating func consume(_ event: AgentEvent, now: Timestamp) -> AgentOutcome? {
        guard !isDecided else { return nil }
        switch event {
        case .stderr(let line):
            stderr.append(line)
            _ = stream.consume(event, now: now)
        case .stdout:
            if let outcome = stream.consume(event, now: now) { pending = outcome }
        case .exited(let status):
            isDecided = true
            guard var outcome = pending else {
                // No result: the exit status and stderr are all Cursor says.
                return stream.consume(event, now: now)
            }
            if outcome.isSuccess, status != .exited(0) {
                let words = "Cursor Agent \(AgentWords.describe(status)) after its result" + (stderr.isEmpty ? "" : ": " + stderr.text)
                outcome.verdict = AgentWords.verdict(for: stderr.text, now: now, zones: zones)
                outcome.message = AgentWords.sentence(words)
            }
            return outcome
        }
        return nil
    }
}
