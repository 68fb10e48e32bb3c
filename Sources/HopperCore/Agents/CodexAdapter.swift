/// Codex's `codex exec --json` events, one process per task with standard
/// input at /dev/null (an open stdin pipe makes it wait for EOF).
///
/// What it reads (agent-clis.md sections 2 and 10):
/// - `thread.started` → `thread_id`, the `agent_session` (`codex exec resume <id>`).
/// - `item.completed` of type `agent_message` → its `text`; the last one is
///   the answer. Items of type `error` are warnings, not failures (a
///   successful run prints `Model metadata … not found` as one).
/// - `turn.completed` (with `usage`) ends a successful turn; `turn.failed`
///   (`error.message`) a failed one. A top-level `error` is not fatal by
///   itself: Codex prints retried errors (`Reconnecting... 1/5 …`) the same way.
///
/// Success is verified: `turn.completed` and exit status 0. `turn.failed`,
/// no terminal event (an interrupted turn), or a non-zero exit fail, with
/// `You’ve hit your usage limit … try again at 4:35 PM.` and `Quota
/// exceeded` read as rate limits and `401 Unauthorized`, `Not logged in`
/// or a reused refresh token as authentication failures. Codex reports no
/// cost; its usage counts the whole thread, so a continued thread's usage
/// before the task is subtracted.
public struct CodexAdapter: JSONLinesAdapter {
    let zones: ZoneLookup
    private var threadID: String?
    private var answer: String?
    private var completed: JSONObject?
    private var failure: String?
    private var lastError: String?
    var stderr = LineTail()
    var isDecided = false

    /// The thread's usage before this task, when it continues a thread:
    /// Codex reports usage for the whole thread, so the task's is the difference.
    private let usageBefore: AgentUsage?

    public init(zones: ZoneLookup, usageBefore: AgentUsage? = nil) {
        self.zones = zones
        self.usageBefore = usageBefore
    }

    public mutating func beginTask() {
        self = CodexAdapter(zones: zones, usageBefore: usageBefore)
    }

    /// This task's part of the thread's usage.
    private var usage: AgentUsage? {
        guard let total = AgentUsage.from(completed?["usage"]) else { return nil }
        guard let before = usageBefore, total.inputTokens >= before.inputTokens, total.outputTokens >= before.outputTokens else { return total }
        return AgentUsage(inputTokens: total.inputTokens - before.inputTokens, outputTokens: total.outputTokens - before.outputTokens)
    }

    mutating func take(object o: JSONObject, now: Timestamp) -> AgentOutcome? {
        switch o["type"]?.stringValue {
        case "thread.started":
            threadID = o["thread_id"]?.stringValue ?? threadID
        case "item.completed":
            if AgentJSON.string(o, "item.type") == "agent_message", let text = AgentJSON.string(o, "item.text") { answer = text }
        case "turn.completed":
            completed = o
        case "turn.failed":
            failure = AgentJSON.string(o, "error.message") ?? "the turn failed"
        case "error":
            lastError = o["message"]?.stringValue
        default:
            break
        }
        return nil
    }

    func decide(_ status: ExitStatus, now: Timestamp) -> AgentOutcome {
        var outcome = AgentOutcome(.succeeded, message: "Codex completed its turn", agentSession: threadID,
                                   resultText: answer, usage: usage)
        if let completed { outcome.result = .object(completed) }
        if failure == nil, completed != nil, status == .exited(0) { return outcome }

        let words: String
        if let failure {
            words = failure
        } else if completed != nil {
            words = "Codex \(AgentWords.describe(status)) after completing its turn" + (lastError.map { ": " + $0 } ?? "")
        } else {
            let said = lastError ?? (stderr.isEmpty ? nil : stderr.text)
            words = "Codex \(AgentWords.describe(status)) without finishing its turn" + (said.map { ": " + $0 } ?? "")
        }
        outcome.verdict = AgentWords.verdict(for: words, now: now, zones: zones)
        outcome.message = AgentWords.sentence(words)
        return outcome
    }
}
