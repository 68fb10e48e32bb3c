import Testing
@testable import HopperCore

/// The report's arithmetic, on entries made in the test: counts, success
/// rate, nearest-rank percentiles, cost per UTC day, failure messages; and
/// the quick field reader agreeing with the full parser on awkward records.
struct ReportSummaryTests {
    static let noon = Timestamp(rfc3339: "2026-12-02T12:00:00Z")!

    static func entry(_ provider: String, _ state: TaskState, reason: String = "exit", message: String = "",
                      at: Timestamp = noon, ms: Int64? = 10, cost: Double? = nil) -> ReportEntry {
        ReportEntry(provider: provider, state: state, reason: reason, message: message, finishedAt: at, durationMs: ms, costUSD: cost)
    }

    @Test func countsRateAndPercentilesPerProvider() {
        var s = ReportSummary()
        for ms in 1...100 { s.add(Self.entry("sh", .succeeded, ms: Int64(ms))) }
        s.add(Self.entry("sh", .failed, message: "Exited with status 1.", ms: 5000))
        s.add(Self.entry("sh", .cancelled, reason: "cancelled", ms: nil))
        s.add(Self.entry("exec", .error, reason: "cwd", message: "no dir", ms: nil))
        #expect(s.total == 103)
        #expect(s.providerNames == ["exec", "sh"])
        let sh = s.providers["sh"]!
        #expect(sh.count(.succeeded) == 100 && sh.count(.failed) == 1 && sh.count(.cancelled) == 1)
        #expect(sh.successRate == 100.0 / 101.0, "cancelled tasks are not outcomes")
        #expect(s.percentiles("sh") == .init(p50: 51, p95: 96, max: 5000), "nearest rank over the 101 that ran")
        #expect(s.percentiles("exec") == nil, "nothing of exec ran")
        #expect(s.providers["exec"]!.successRate == 0)
        #expect(sh.stateReasons[.init(state: .cancelled, reason: "cancelled")] == 1)
    }

    @Test func costIsSummedPerUTCDayAndOnlyWhenRecorded() {
        var s = ReportSummary()
        let late = Timestamp(rfc3339: "2026-12-02T23:59:59.9Z")!
        let early = Timestamp(rfc3339: "2026-12-03T00:00:00Z")!
        s.add(Self.entry("claude", .succeeded, at: late, cost: 0.25))
        s.add(Self.entry("claude", .succeeded, at: late, cost: 0.5))
        s.add(Self.entry("claude", .failed, at: early, cost: 1))
        s.add(Self.entry("sh", .succeeded, at: early))
        #expect(s.costDays.map(ReportSummary.dayLabel) == ["2026-12-02", "2026-12-03"])
        #expect(s.providers["claude"]!.costPerDay[ReportSummary.day(of: late)] == 0.75)
        #expect(s.providers["claude"]!.totalCost == 1.75)
        #expect(s.providers["sh"]!.totalCost == nil, "no record of sh carries cost_usd")
        #expect(s.hourly.count == 2)
        #expect(ReportSummary.hourLabel(ReportSummary.hour(of: late)) == "2026-12-02 23:00")
    }

    @Test func topFailuresAreTheMostFrequentFailedOrErrorMessages() {
        var s = ReportSummary()
        for (message, n) in [("a", 3), ("b", 7), ("c", 1), ("d", 7), ("e", 2), ("f", 4)] {
            for _ in 0..<n { s.add(Self.entry("sh", .failed, message: message)) }
        }
        s.add(Self.entry("sh", .cancelled, reason: "cancelled", message: "zzz"))
        s.add(Self.entry("sh", .succeeded, message: "Exited with status 0."))
        let top = s.providers["sh"]!.topFailures
        #expect(top.map(\.message) == ["b", "d", "f", "a", "e"])
        #expect(top.map(\.count) == [7, 7, 4, 3, 2])
    }

    @Test func quickFieldsAgreeWithTheFullParser() throws {
        let records = [
            #"{"id":"a","provider":"sh","state":"succeeded","reason":"exit","message":"Exited with status 0.","finished_at":"2026-12-02T12:00:00.000001Z","duration_ms":12,"labels":{"k":"v,}]"},"result":{"x":[1,{"y":"}"}]},"request":{"command":"echo \"}\""}}"#,
            #"{ "state" : "COMPLETED", "provider": "exec", "finished_at": "2026-12-02T12:00:00Z", "duration_ms": 1.5e3, "cost_usd": 0.0125, "reason": "exit", "message": "ok" }"#,
            #"{"state":"failed","provider":"sh","message":"said \"no\"","finished_at":"2026-12-02T12:00:00Z","duration_ms":null,"reason":"exit"}"#,
            #"{"state":"error","finished_at":"2026-12-02T12:00:00Z","cost_usd":null}"#,
        ]
        for text in records {
            let bytes = Array(text.utf8)
            let full = ReportEntry(record: try #require(try JSONParser.parse(bytes).objectValue))
            #expect(full != nil)
            let quick = bytes.withUnsafeBytes { RecordFields.entry($0) }
            // The quick reader may give up (the escaped message), never disagree.
            if let quick { #expect(quick == full, "\(text)") }
        }
        #expect(Array(records[0].utf8).withUnsafeBytes { RecordFields.entry($0) } != nil, "nested objects and arrays are skipped")
        #expect(Array(records[2].utf8).withUnsafeBytes { RecordFields.entry($0) } == nil, "an escaped wanted string goes to the full parser")
        for bad in [#"{"state":"running","finished_at":"2026-12-02T12:00:00Z"}"#, #"{"state":"failed""#, "[]", ""] {
            #expect(Array(bad.utf8).withUnsafeBytes { RecordFields.entry($0) } == nil, "\(bad)")
        }
    }

    @Test func sinceTakesTimesDatesAndAges() throws {
        let now = Timestamp(rfc3339: "2026-12-03T12:00:00Z")!
        #expect(try ReportCommand.parseSince("2026-12-01T06:30:00+01:00", now: now) == Timestamp(rfc3339: "2026-12-01T05:30:00Z"))
        #expect(try ReportCommand.parseSince("2026-12-01", now: now) == Timestamp(rfc3339: "2026-12-01T00:00:00Z"))
        #expect(try ReportCommand.parseSince("24h", now: now) == Timestamp(rfc3339: "2026-12-02T12:00:00Z"))
        #expect(try ReportCommand.parseSince("90s", now: now) == Timestamp(rfc3339: "2026-12-03T11:58:30Z"))
        #expect(try ReportCommand.parseSince("7d", now: now) == Timestamp(rfc3339: "2026-11-26T12:00:00Z"))
        #expect(throws: HopperError.self) { try ReportCommand.parseSince("yesterday", now: now) }
        #expect(throws: HopperError.self) { try ReportCommand.parseSince("-5h", now: now) }
    }

    @Test func chartTicksAreRound() {
        #expect(BarChart.ticks(0) == (1, 1))
        #expect(BarChart.ticks(7) == (2, 8))
        #expect(BarChart.ticks(2740) == (1000, 3000))
        #expect(BarChart.ticks(0.42) == (0.1, 0.5))
        #expect(HTML.escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
    }
}
