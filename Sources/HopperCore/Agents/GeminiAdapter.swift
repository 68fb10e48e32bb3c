/// Gemini CLI's `gemini -p PROMPT -o stream-json` events, one process per
/// task with standard input at /dev/null (piped input is read to EOF).
///
/// What it reads (agent-clis.md section 3):
/// - `init` → `session_id`, the `agent_session` (`--resume <id>`).
/// - assistant `message` lines → the answer, joined (`delta: true` lines
///   are pieces of one message).
/// - `error` with `severity:"error"`: the turn went wrong even if a
///   `result` with `status:"success"` follows (`Maximum session turns
///   exceeded`, `Loop detected`).
/// - `result` → `status` and `error.message`; `stats` → `usage`. No cost.
///
/// Success is verified: a `result` with `status:"success"`, no earlier
/// error-severity event, and some answer. Without a `result` the exit code
/// speaks: 41 authentication, 53 turn limit, 55 untrusted folder, with the
/// text Gemini printed on stderr. Quota words (`RESOURCE_EXHAUSTED`,
/// `exhausted your daily quota`, …) make it a rate limit; the reset is only
/// ever relative (`Please retry in 37s`, `Suggested retry after 60s`).
public struct GeminiAdapter: JSONLinesAdapter {
    let zones: ZoneLookup
    private var sessionID: String?
    private var answer = ""
    private var lastMessageWasDelta = false
    private var severeError: String?
    private var final: JSONObject?
    var stderr = LineTail()
    var isDecided = false

    public init(zones: ZoneLookup) { self.zones = zones }

    public mutating func beginTask() { self = GeminiAdapter(zones: zones) }

    mutating func take(object o: JSONObject, now: Timestamp) -> AgentOutcome? {
        switch o["type"]?.stringValue {
        case "init":
            sessionID = o["session_id"]?.stringValue ?? sessionID
        case "message" where o["role"]?.stringValue == "assistant":
            let text = o["content"]?.stringValue ?? ""
            let isDelta = o["delta"]?.boolValue ?? false
            // A new whole message replaces the answer; deltas build one up.
            if isDelta && lastMessageWasDelta { answer += text } else { answer = text }
            lastMessageWasDelta = isDelta
        case "tool_use", "tool_result":
            // The answer is what the model says after its last tool call.
            lastMessageWasDelta = false
        case "error" where o["severity"]?.stringValue != "warning":
            severeError = o["message"]?.stringValue ?? "error"
        case "result":
            final = o
        default:
            break
        }
        return nil
    }

    private static let exitMeanings: [Int32: String] = [
        41: "Gemini CLI could not authenticate", 42: "Gemini CLI rejected its input", 44: "Gemini CLI's sandbox failed",
        52: "Gemini CLI's configuration is invalid", 53: "Gemini CLI reached its turn limit",
        54: "a tool failed fatally", 55: "Gemini CLI does not trust this folder", 130: "Gemini CLI was cancelled",
    ]

    func decide(_ status: ExitStatus, now: Timestamp) -> AgentOutcome {
        let stats = final?["stats"]
        var outcome = AgentOutcome(.succeeded, message: "Gemini CLI finished its turn", agentSession: sessionID,
                                   resultText: answer.isEmpty ? nil : answer, usage: AgentUsage.from(stats))
        if let final { outcome.result = .object(final) }
        let reported = final?["status"]?.stringValue
        if reported == "success", severeError == nil, !AgentWords.trim(answer).isEmpty { return outcome }

        let words: String
        if let final, reported != "success" {
            words = AgentJSON.string(final, "error.message") ?? severeError ?? "Gemini CLI reported status \(reported ?? "null")"
        } else if let severeError {
            words = severeError
        } else if final != nil {
            words = "Gemini CLI reported success without an answer"
        } else {
            var what = "Gemini CLI \(AgentWords.describe(status)) without a result"
            if case .exited(let code) = status, let meaning = Self.exitMeanings[code] { what = meaning }
            words = stderr.isEmpty ? what : what + ": " + stderr.text
        }
        var verdict = AgentWords.verdict(for: words, now: now, zones: zones)
        if verdict == .failed, status == .exited(41) { verdict = .authenticationFailed }
        if case .rateLimited(nil) = verdict {
            // The reset, when any, is relative and may be only on stderr.
            verdict = .rateLimited(until: ResetTimeParser.reset(in: words + "\n" + stderr.text, now: now, zones: zones))
        }
        outcome.verdict = verdict
        outcome.message = AgentWords.sentence(words)
        return outcome
    }
}
