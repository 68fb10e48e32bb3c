/// Amp's stream JSON (`amp -x --stream-json --stream-json-input`), which
/// Amp describes as Claude Code compatible: `system/init` with the thread id
/// (`T-…`) as `session_id`, assistant messages, and a `result` with
/// `is_error` after each turn (agent-clis.md section 4).
///
/// The reading is Claude Code's, under Amp's name; Amp reports no
/// `total_cost_usd`, so `cost_usd` stays null. No rate-limit text of Amp's
/// is documented; the shared words apply.
public struct AmpAdapter: AgentAdapter {
    private var stream: ClaudeAdapter

    public init(zones: ZoneLookup) { stream = ClaudeAdapter(zones: zones, cliName: "Amp") }

    public mutating func beginTask() { stream.beginTask() }

    public mutating func consume(_ event: AgentEvent, now: Timestamp) -> AgentOutcome? {
        stream.consume(event, now: now)
    }
}
