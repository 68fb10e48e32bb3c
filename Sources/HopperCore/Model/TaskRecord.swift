/// The result record `done/<id>.json` (SPEC section 5), written once when the
/// task reaches its terminal state.
public struct TaskRecord: Sendable {
    public var task: SpooledTask
    public var state: TaskState
    public var reason: TerminalReason
    public var message: String
    public var exitCode: Int32?
    public var signal: Int32?
    public var session: String?
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp
    public var stdoutBytes: Int64 = 0
    public var stderrBytes: Int64 = 0
    public var truncated = false
    public var result: JSONValue?
    /// What an agent CLI reported (SPEC section 7a): nil for other
    /// providers' tasks, whose records do not carry the agent fields.
    public var agentOutcome: AgentOutcome?
    /// Slurm providers: the job that ran the last attempt, and its node.
    public var slurmJobID: String?
    public var node: String?

    public init(task: SpooledTask, state: TaskState, reason: TerminalReason, message: String, finishedAt: Timestamp) {
        precondition(state.isTerminal, "a record holds a terminal state")
        self.task = task
        self.state = state
        self.reason = reason
        self.message = message
        self.finishedAt = finishedAt
    }

    public var durationMs: Int64? {
        startedAt.map { max(0, (finishedAt.nanoseconds - $0.nanoseconds) / 1_000_000) }
    }

    /// The record's bytes: one JSON object on one line.
    public func encoded() -> [UInt8] {
        var w = JSONWriter(capacity: 768)
        w.beginObject()
        w.field("id", task.id.rawValue)
        w.field("source", task.source)
        w.field("provider", task.provider)
        w.key("owner")
        if let owner = task.owner { owner.write(to: &w) } else { w.null() }
        w.field("state", state.rawValue)
        w.field("reason", reason.rawValue)
        w.field("message", message)
        w.field("exit_code", exitCode.map(Int.init))
        w.field("signal", signal.map(Int.init))
        w.field("attempts", task.attempts)
        w.field("interruptions", task.interruptions)
        w.field("session", session)
        w.field("submitted_at", task.submittedAt.rfc3339)
        w.field("started_at", startedAt?.rfc3339)
        w.field("finished_at", finishedAt.rfc3339)
        w.field("duration_ms", durationMs)
        // Output files exist only for tasks that ran.
        w.field("stdout", task.attempts > 0 ? task.id.rawValue + ".out" : nil)
        w.field("stderr", task.attempts > 0 ? task.id.rawValue + ".err" : nil)
        w.field("stdout_bytes", stdoutBytes)
        w.field("stderr_bytes", stderrBytes)
        w.field("truncated", truncated)
        w.key("labels")
        TaskRequest.writePairs(task.request.labels, to: &w)
        w.field("result", result)
        if let agent = agentOutcome {
            // Each null when the CLI does not say.
            w.field("agent_session", agent.agentSession)
            w.field("result_text", agent.resultText)
            w.field("cost_usd", agent.costUSD)
            w.field("usage", agent.usage?.json)
        }
        if task.slurmAttempt != nil || slurmJobID != nil {
            w.field("slurm_job_id", slurmJobID)
            w.field("node", node)
        }
        w.key("request")
        w.beginObject()
        var request = task.request
        request.provider = task.provider
        request.write(to: &w)
        w.endObject()
        w.endObject()
        return w.line
    }
}

/// A record read back from done/: the fields clients ask about, and the
/// whole object for display.
public struct RecordSummary: Sendable {
    public var id: String
    public var state: TaskState
    public var object: JSONObject

    public init(bytes: [UInt8]) throws(HopperError) {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw HopperError(error) }
        guard case .object(let o) = json else { throw HopperError(.invalidJSON, "a record must be a JSON object") }
        guard let id = o["id"]?.stringValue else { throw HopperError(.missingField, "record has no \"id\"", field: "id") }
        guard let name = o["state"]?.stringValue, let state = TaskState(name: name), state.isTerminal else {
            throw HopperError(.invalidField, "record \(id) has no terminal \"state\"", field: "state")
        }
        self.id = id
        self.state = state
        self.object = o
    }
}

extension JSONWriter {
    /// The written JSON followed by a newline: one line of a file.
    public var line: [UInt8] { bytes + [UInt8(ascii: "\n")] }
}
