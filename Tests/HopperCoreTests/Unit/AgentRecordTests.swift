import Testing
@testable import HopperCore

/// The agent fields of a result record (SPEC section 7a) and the day's
/// spend counted back from records.
@Suite struct AgentRecordTests {
    private func record(provider: String, agent: AgentOutcome?, finishedAt: Timestamp = instant("2026-12-03T12:00:00Z")) throws -> RecordSummary {
        let task = SpooledTask(id: try #require(TaskID("t1")), request: TaskRequest(command: "say hi"), provider: provider,
                               source: "t1.json", submittedAt: instant("2026-12-03T11:59:00Z"), seq: 1)
        var r = TaskRecord(task: task, state: agent?.isSuccess == false ? .failed : .succeeded,
                           reason: agent?.isSuccess == false ? .agentError : .exit, message: agent?.message ?? "ok", finishedAt: finishedAt)
        r.agentOutcome = agent
        return try RecordSummary(bytes: r.encoded())
    }

    @Test func anAgentTasksRecordCarriesTheAgentFields() throws {
        let outcome = AgentOutcome(.succeeded, message: "Claude Code finished its turn", agentSession: "2b2d8590",
                                   resultText: "hello", costUSD: 0.000168, usage: AgentUsage(inputTokens: 12, outputTokens: 6))
        let o = try record(provider: "claude", agent: outcome).object
        #expect(o["agent_session"] == .string("2b2d8590"))
        #expect(o["result_text"] == .string("hello"))
        #expect(o["cost_usd"] == .double(0.000168))
        #expect(o["usage"] == .object(JSONObject([("input_tokens", .int(12)), ("output_tokens", .int(6))])))
    }

    @Test func fieldsTheCLIDoesNotReportAreNull() throws {
        let o = try record(provider: "codex", agent: AgentOutcome(.failed, message: "the turn failed")).object
        #expect(o["reason"] == .string("agent_error"))
        for key in ["agent_session", "result_text", "cost_usd", "usage"] {
            #expect(o[key] == .null, "\(key)")
        }
    }

    @Test func otherProvidersRecordsHaveNoAgentFields() throws {
        let o = try record(provider: "sh", agent: nil).object
        for key in ["agent_session", "result_text", "cost_usd", "usage"] {
            #expect(o[key] == nil, "\(key)")
        }
    }

    @Test func theDaysSpendIsCountedBackFromRecords() throws {
        var ledger = BudgetLedger()
        ledger.record(try record(provider: "claude", agent: AgentOutcome(.succeeded, message: "", costUSD: 1.5)))
        ledger.record(try record(provider: "claude", agent: AgentOutcome(.succeeded, message: "", costUSD: 2)))
        ledger.record(try record(provider: "claude", agent: AgentOutcome(.succeeded, message: "", costUSD: 9),
                                 finishedAt: instant("2026-12-02T23:00:00Z")))
        ledger.record(try record(provider: "sh", agent: nil))
        #expect(ledger.spent(provider: "claude", now: instant("2026-12-03T13:00:00Z")) == 3.5)
        #expect(ledger.isExhausted(provider: "claude", budget: 3.5, now: instant("2026-12-03T13:00:00Z")))
    }
}
