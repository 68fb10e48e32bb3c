/// opencode's `opencode run --format json` events, one process per task
/// (agent-clis.md section 6). Each line is `{type, timestamp, sessionID,
/// …data}`:
/// - `text` → `part.text`, the answer (the texts of the last step);
/// - `step_finish` → `part.reason`, `part.tokens{input,output}`,
///   `part.cost`; there is no result event: the run is over at a
///   `step_finish` whose reason is not `tool-calls`, then the process exits;
/// - `error` → `error.name`, `error.data.message`.
///
/// Success is verified: a final `step_finish` (reason other than
/// `tool-calls`), no `error` event and some answer; the exit code is not
/// trusted either way (opencode exits 0 on session errors and 1 after a
/// recovered transient error). `cost_usd` and `usage` are the sums over the
/// task's steps.
///
/// - Important: opencode hangs forever after a quota or rate-limit error
///   instead of exiting, so such an `error` event decides the task at once
///   (the runner then ends the process); an authentication error does too.
///   Other hangs are left to the idle-output timeout.
public struct OpencodeAdapter: JSONLinesAdapter {
    let zones: ZoneLookup
    private var sessionID: String?
    private var stepTexts: [String] = []
    private var lastReason: String?
    private var cost: Double?
    private var usage: AgentUsage?
    private var error: String?
    var stderr = LineTail()
    var isDecided = false

    public init(zones: ZoneLookup) { self.zones = zones }

    public mutating func beginTask() { self = OpencodeAdapter(zones: zones) }

    mutating func take(object o: JSONObject, now: Timestamp) -> AgentOutcome? {
        if let id = o["sessionID"]?.stringValue { sessionID = id }
        switch o["type"]?.stringValue {
        case "step_start":
            stepTexts = []
            lastReason = nil
        case "text":
            if let text = AgentJSON.string(o, "part.text") { stepTexts.append(text) }
        case "step_finish":
            lastReason = AgentJSON.string(o, "part.reason") ?? "stop"
            if let c = AgentJSON.value(o, "part.cost")?.doubleValue { cost = (cost ?? 0) + c }
            if let tokens = AgentJSON.value(o, "part.tokens")?.objectValue {
                let input = Int64(tokens["input"]?.doubleValue ?? 0), output = Int64(tokens["output"]?.doubleValue ?? 0)
                usage = AgentUsage(inputTokens: (usage?.inputTokens ?? 0) + input, outputTokens: (usage?.outputTokens ?? 0) + output)
            }
        case "error":
            let message = AgentJSON.string(o, "error.data.message") ?? AgentJSON.string(o, "error.message")
                ?? AgentJSON.string(o, "error.name") ?? "error"
            error = message
            let verdict = AgentWords.verdict(for: message, now: now, zones: zones)
            // Decided now: opencode would not exit (see above).
            if verdict != .failed { return outcome(verdict, message: AgentWords.sentence(message)) }
        default:
            break
        }
        return nil
    }

    private func outcome(_ verdict: AgentOutcome.Verdict, message: String) -> AgentOutcome {
        let text = stepTexts.joined()
        return AgentOutcome(verdict, message: message, agentSession: sessionID,
                            resultText: text.isEmpty ? nil : text, costUSD: cost, usage: usage)
    }

    func decide(_ status: ExitStatus, now: Timestamp) -> AgentOutcome {
        if let error {
            return outcome(AgentWords.verdict(for: error, now: now, zones: zones), message: AgentWords.sentence(error))
        }
        guard let reason = lastReason else {
            let words = "opencode \(AgentWords.describe(status)) without finishing a step" + (stderr.isEmpty ? "" : ": " + stderr.text)
            return outcome(AgentWords.verdict(for: stderr.text, now: now, zones: zones), message: AgentWords.sentence(words))
        }
        guard reason != "tool-calls" else {
            return outcome(.failed, message: "opencode \(AgentWords.describe(status)) in the middle of its turn (its last step asked for tools)")
        }
        guard !AgentWords.trim(stepTexts.joined()).isEmpty else {
            return outcome(.failed, message: "opencode finished its turn without an answer")
        }
        return outcome(.succeeded, message: "opencode finished its turn")
    }
}
