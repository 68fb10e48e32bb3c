/// GitHub Copilot CLI in prompt mode (`copilot -p PROMPT -s
/// --allow-all-tools --no-ask-user`), one process per task
/// (agent-clis.md section 7).
///
/// `-s` prints only the agent's answer, as plain text. With
/// `--output-format json` (an undocumented schema) the lines wrappers rely
/// on are read instead: `assistant.message` (`data.content`) and a `result`
/// carrying `sessionId`. Copilot prints no session id in plain text, so the
/// preset chooses one up front (`--session-id`) and passes it here.
///
/// Success is verified as far as plain text allows: exit status 0, an
/// answer, and no rate-limit or authentication words of Copilot's on stderr. Copilot exits non-zero when a prompt is blocked, and 4 when
/// authentication is required (`gh copilot`'s documented code).
public struct CopilotAdapter: PerTaskAdapter {
    let zones: ZoneLookup
    private let chosenSession: String?
    private var sessionID: String?
    private var plain: [String] = []
    private var messages: [String] = []
    private var final: JSONObject?
    var stderr = LineTail()
    var isDecided = false

    public init(zones: ZoneLookup, session: String? = nil) {
        self.zones = zones
        chosenSession = session
    }

    public mutating func beginTask() { self = CopilotAdapter(zones: zones, session: chosenSession) }

    mutating func take(stdout line: String, now: Timestamp) -> AgentOutcome? {
        if let o = AgentJSON.object(line), let type = o["type"]?.stringValue {
            switch type {
            case "assistant.message":
                if let text = AgentJSON.string(o, "data.content") { messages.append(text) }
            case "result":
                final = o
                sessionID = o["sessionId"]?.stringValue ?? AgentJSON.string(o, "data.sessionId") ?? sessionID
            case "session.start":
                sessionID = AgentJSON.string(o, "data.sessionId") ?? sessionID
            default:
                break
            }
        } else if plain.count < 100_000 {
            plain.append(line)
        }
        return nil
    }

    func decide(_ status: ExitStatus, now: Timestamp) -> AgentOutcome {
        let answer = AgentWords.trim(messages.last ?? plain.joined(separator: "\n"))
        var outcome = AgentOutcome(.succeeded, message: "Copilot CLI answered", agentSession: sessionID ?? chosenSession,
                                   resultText: answer.isEmpty ? nil : answer, result: final.map(JSONValue.object))
        // An answer may talk about rate limits; only stderr speaks for Copilot itself then.
        let tail = answer.isEmpty ? plain.suffix(3).joined(separator: "\n") : ""
        let words = [stderr.text, tail].filter { !$0.isEmpty }.joined(separator: "\n")
        let spoken = AgentWords.verdict(for: words, now: now, zones: zones)
        if status == .exited(0), !answer.isEmpty, spoken == .failed { return outcome }
        outcome.verdict = status == .exited(4) && spoken == .failed ? .authenticationFailed : spoken
        let what = status != .exited(0) ? "Copilot CLI \(AgentWords.describe(status))" : answer.isEmpty ? "Copilot CLI gave no answer" : "Copilot CLI reported a failure"
        outcome.message = AgentWords.sentence(words.isEmpty ? what : what + ": " + words)
        return outcome
    }
}
