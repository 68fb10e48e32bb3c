/// Claude Code's stream JSON (`claude -p --input-format stream-json
/// --output-format stream-json --verbose`), one long-lived process holding a
/// conversation, one `result` line per turn.
///
/// What it reads (agent-clis.md section 1):
/// - `system/init` and every `result`: `session_id`, the `agent_session`.
///   `conversation_reset` changes it and zeroes the running totals.
/// - `result`: `is_error`, `subtype`, `terminal_reason`,
///   `permission_denials`, `api_error_status`, `result` (the text),
///   `total_cost_usd` (a running total for the conversation, carried over
///   by `--resume`: a task's cost is the difference from the previous
///   result's), `usage`.
/// - `rate_limit_event` with `status:"rejected"` and `resetsAt` (epoch
///   seconds); `system/api_retry` with `error` (`rate_limit`,
///   `authentication_failed`, …) and `error_status`; an assistant
///   message's `error`.
///
/// Success is verified: the result must be the answer to Hopper's own turn
/// (`origin` absent or `{"kind":"human"}`; injected background turns are
/// skipped but their cost still moves the running total), with `is_error`
/// false, `subtype` `success`, `terminal_reason` absent or `completed`, no
/// reported permission denial, and some answer text (the `result`, or else
/// the last assistant text). An API failure arrives as `subtype:"success"`
/// with `is_error:true`; the process exiting with a task open is a failure.
///
/// Amp (`amp -x --stream-json --stream-json-input`) and Cursor's agent print
/// the same shapes; their adapters wrap this one with their own name.
public struct ClaudeAdapter: AgentAdapter {
    /// The CLI's name in messages.
    let cliName: String
    let zones: ZoneLookup
    public private(set) var sessionID: String?
    /// `total_cost_usd` of the last result seen in this process.
    public private(set) var runningTotal: Double?
    private var isTaskOpen = false
    // What the open task has seen so far.
    private var assistantText: String?
    private var assistantError: String?
    private var rejectedLimit: (seen: Bool, until: Timestamp?) = (false, nil)
    private var retryError: String?
    private var retryStatus: Int64?
    private var stderr = LineTail()

    /// `runningTotal` is the `total_cost_usd` the conversation had reached
    /// when it is resumed in a new process (`--resume`): the CLI carries the
    /// total over, so the first result's cost is the difference from it.
    public init(zones: ZoneLookup, cliName: String = "Claude Code", runningTotal: Double? = nil) {
        self.zones = zones
        self.cliName = cliName
        self.runningTotal = runningTotal
    }

    public mutating func beginTask() {
        isTaskOpen = true
        assistantText = nil
        assistantError = nil
        rejectedLimit = (false, nil)
        retryError = nil
        retryStatus = nil
        stderr.removeAll()
    }

    public mutating func consume(_ event: AgentEvent, now: Timestamp) -> AgentOutcome? {
        switch event {
        case .stderr(let line):
            if isTaskOpen { stderr.append(line) }
            return nil
        case .exited(let status):
            guard isTaskOpen else { return nil }
            isTaskOpen = false
            return exitedWithoutResult(status, now: now)
        case .stdout(let line):
            guard let o = AgentJSON.object(line) else {
                // Plain text on stdout is an error printed outside the protocol (a bad flag).
                if isTaskOpen { stderr.append(line) }
                return nil
            }
            return take(o, now: now)
        }
    }

    private mutating func take(_ o: JSONObject, now: Timestamp) -> AgentOutcome? {
        let type = o["type"]?.stringValue
        let subtype = o["subtype"]?.stringValue
        if let id = o["session_id"]?.stringValue, !id.isEmpty, type == "system" || type == "result" { sessionID = id }
        switch (type, subtype) {
        case ("conversation_reset", _):
            runningTotal = nil
            if let id = o["session_id"]?.stringValue { sessionID = id }
        case ("system", "api_retry") where isTaskOpen:
            retryError = o["error"]?.stringValue
            retryStatus = o["error_status"]?.intValue
        case ("rate_limit_event", _) where isTaskOpen:
            if AgentJSON.string(o, "rate_limit_info.status") == "rejected" {
                rejectedLimit = (true, ResetTimeParser.epochSeconds(AgentJSON.value(o, "rate_limit_info.resetsAt")))
            }
        case ("assistant", _) where isTaskOpen && o["parent_tool_use_id"]?.stringValue == nil:
            if let text = AgentJSON.text(ofContent: AgentJSON.value(o, "message.content")), !text.isEmpty { assistantText = text }
            if let error = o["error"]?.stringValue { assistantError = error }
        case ("result", _):
            return result(o, now: now)
        default:
            break
        }
        return nil
    }

    /// The cost since the previous result, moving the running total on.
    private mutating func costDelta(_ o: JSONObject) -> Double? {
        guard let total = o["total_cost_usd"]?.doubleValue else { return nil }
        defer { runningTotal = total }
        guard let previous = runningTotal, total >= previous else { return total }
        return total - previous
    }

    private mutating func result(_ o: JSONObject, now: Timestamp) -> AgentOutcome? {
        if let origin = o["origin"], origin != .null, origin.objectValue?["kind"]?.stringValue != "human" {
            // A turn the session injected (a background task's notification): not this task's answer.
            _ = costDelta(o)
            return nil
        }
        let cost = costDelta(o)
        guard isTaskOpen else { return nil }
        isTaskOpen = false

        let text = o["result"]?.stringValue ?? ""
        let errors = o["errors"]?.arrayValue?.compactMap(\.stringValue) ?? []
        var outcome = AgentOutcome(.succeeded, message: "", agentSession: sessionID,
                                   resultText: text.isEmpty ? assistantText : text, costUSD: cost,
                                   usage: AgentUsage.from(o["usage"]), result: .object(o))
        let subtype = o["subtype"]?.stringValue ?? "success"
        let terminalReason = o["terminal_reason"]?.stringValue
        let words = [text, errors.joined(separator: "; ")].filter { !$0.isEmpty }.joined(separator: ": ")
        let isError = o["is_error"]?.boolValue ?? false
        // Claude prints API failures as the answer (`API Error: …`, `You've hit your limit · …`), sometimes
        // with is_error false. Only its own openings count: an answer may well talk about rate limits.
        let textIsFailure = Self.failureOpenings.contains { text.hasPrefix($0) }

        if isError || subtype != "success" || (terminalReason != nil && terminalReason != "completed") || textIsFailure {
            outcome.verdict = errorVerdict(o, words: words, now: now)
            outcome.message = failureMessage(subtype: subtype, terminalReason: terminalReason, words: words)
            return outcome
        }
        if let denials = o["permission_denials"]?.arrayValue, !denials.isEmpty {
            let tools = denials.compactMap { $0.objectValue?["tool_name"]?.stringValue }
            outcome.verdict = .failed
            outcome.message = AgentWords.sentence("\(cliName) was denied permission to use \(tools.isEmpty ? "a tool" : tools.joined(separator: ", "))"
                + (text.isEmpty ? "" : ": " + text))
            return outcome
        }
        guard outcome.resultText.map({ !AgentWords.trim($0).isEmpty }) ?? false else {
            outcome.verdict = .failed
            outcome.message = "\(cliName) reported success without an answer"
            return outcome
        }
        outcome.message = "\(cliName) finished its turn"
        return outcome
    }

    /// How Claude Code's own failure texts begin when it prints them as the result.
    static let failureOpenings = ["API Error", "You've hit your", "You’ve hit your", "Claude AI usage limit reached",
                                  "Limit reached", "Not logged in", "Login expired", "Invalid API key", "Failed to authenticate"]

    /// Why a result is an error: a rate limit or quota, an authentication
    /// failure, or a plain failure; structured signals first, then words.
    private func errorVerdict(_ o: JSONObject, words: String, now: Timestamp) -> AgentOutcome.Verdict {
        let status = o["api_error_status"]?.intValue ?? retryStatus
        let category = assistantError ?? retryError
        if rejectedLimit.seen {
            return .rateLimited(until: rejectedLimit.until ?? ResetTimeParser.reset(in: words, now: now, zones: zones))
        }
        if status == 429 || status == 529 || category == "rate_limit" || category == "billing_error"
            || ["rate_limit_error", "overloaded_error"].contains(o["api_error_type"]?.stringValue) {
            return .rateLimited(until: ResetTimeParser.reset(in: words, now: now, zones: zones))
        }
        if status == 401 || category == "authentication_failed" { return .authenticationFailed }
        return AgentWords.verdict(for: words, now: now, zones: zones)
    }

    private func failureMessage(subtype: String, terminalReason: String?, words: String) -> String {
        let what: String? = switch subtype {
        case "error_max_turns": "\(cliName) reached its turn limit"
        case "error_max_budget_usd": "\(cliName) reached its budget limit"
        case "error_during_execution": "\(cliName) failed during execution"
        default: terminalReason.flatMap { $0 == "completed" || $0 == "api_error" ? nil : "\(cliName) stopped (\($0))" }
        }
        switch (what, words.isEmpty) {
        case (let what?, true): return what
        case (let what?, false): return AgentWords.sentence(what + ": " + words)
        case (nil, false): return AgentWords.sentence(words)
        case (nil, true): return "\(cliName) reported an error without a message"
        }
    }

    private func exitedWithoutResult(_ status: ExitStatus, now: Timestamp) -> AgentOutcome {
        let words = stderr.text
        var verdict = AgentWords.verdict(for: words, now: now, zones: zones)
        if verdict == .failed {
            if retryError == "rate_limit" || retryStatus == 429 || rejectedLimit.seen {
                verdict = .rateLimited(until: rejectedLimit.until)
            } else if retryError == "authentication_failed" || retryStatus == 401 {
                verdict = .authenticationFailed
            }
        }
        let what = "\(cliName) \(AgentWords.describe(status)) before a result"
        return AgentOutcome(verdict, message: AgentWords.sentence(words.isEmpty ? what : what + ": " + words),
                            agentSession: sessionID, resultText: assistantText)
    }
}
