import Testing
@testable import HopperCore

/// A provider's rate-limit window: every transition of its table, with
/// instants passed in, and the daily budget counted from records.
@Suite struct ProviderLimitTests {
    let t0 = instant("2026-12-03T11:00:00Z")
    private func at(_ seconds: Double) -> Timestamp { t0.adding(seconds: seconds) }

    @Test func startsOpen() {
        var w = ProviderLimit()
        let mayStart = w.mayStart(now: t0)
        #expect(!w.isLimited && mayStart)
        #expect(w.advance(now: at(1000)) == nil)
        #expect(w.nextBackoff == 60)
    }

    @Test func aResetTimeLimitsUntilIt() {
        var w = ProviderLimit()
        #expect(w.limit(now: t0, reset: at(120)) == .limited(until: at(120), reason: .rateLimit))
        let early = w.mayStart(now: at(119.999))
        #expect(!early)
        #expect(w.advance(now: at(119.999)) == nil)
        #expect(w.advance(now: at(120)) == .resumed)
        let after = w.mayStart(now: at(120))
        #expect(after && w.limitedUntil == nil && w.reason == nil)
    }

    @Test func withoutAResetTheBackoffDoublesUpToItsCap() {
        var w = ProviderLimit(backoffStart: 60, backoffCap: 300)
        var now = t0
        for expected in [60.0, 120, 240, 300, 300] {
            #expect(w.limit(now: now, reset: nil) == .limited(until: now.adding(seconds: expected), reason: .rateLimit))
            now = now.adding(seconds: expected)
            #expect(w.advance(now: now) == .resumed)
        }
        w.recordSuccess()
        #expect(w.limit(now: now, reset: nil) == .limited(until: now.adding(seconds: 60), reason: .rateLimit), "a success starts the row over")
    }

    @Test func aPastResetIsReadAsNone() {
        // A local time read in the wrong zone must not make the provider retry at once, forever.
        var w = ProviderLimit()
        #expect(w.limit(now: t0, reset: at(-30)) == .limited(until: at(60), reason: .rateLimit))
    }

    @Test func anAbsurdResetIsCut() {
        var w = ProviderLimit()
        #expect(w.limit(now: t0, reset: at(90 * 86_400)) == .limited(until: at(ProviderLimit.longestReset), reason: .rateLimit))
    }

    @Test func theWindowOnlyMovesLater() {
        var w = ProviderLimit()
        _ = w.limit(now: t0, reset: at(600))
        #expect(w.limit(now: at(1), reset: at(300)) == nil, "an earlier reset does not shorten it")
        #expect(w.limitedUntil == at(600))
        #expect(w.limit(now: at(2), reset: at(900)) == .limited(until: at(900), reason: .rateLimit))
    }

    @Test func aBudgetLastsUntilMidnightUTC() {
        var w = ProviderLimit()
        let midnight = instant("2026-12-04T00:00:00Z")
        #expect(w.exhaustBudget(now: t0) == .limited(until: midnight, reason: .budget))
        #expect(w.exhaustBudget(now: at(5)) == nil)
        #expect(w.limit(now: at(10), reset: at(60)) == nil, "a shorter rate limit does not end a budget limit")
        #expect(w.reason == .budget)
        #expect(w.advance(now: midnight) == .resumed)
        #expect(w.consecutiveLimits == 1)
    }

    @Test func ledgerSumsTodaysCostsPerProvider() {
        var ledger = BudgetLedger()
        ledger.record(provider: "claude", costUSD: 0.75, finishedAt: instant("2026-12-03T00:00:00Z"))
        ledger.record(provider: "claude", costUSD: 0.25, finishedAt: instant("2026-12-03T23:59:59Z"))
        ledger.record(provider: "codex", costUSD: nil, finishedAt: t0)
        ledger.record(provider: "codex", costUSD: -1, finishedAt: t0)
        #expect(ledger.spent(provider: "claude", now: t0) == 1.0)
        #expect(ledger.spent(provider: "codex", now: t0) == 0)
        #expect(ledger.isExhausted(provider: "claude", budget: 1.0, now: t0))
        #expect(!ledger.isExhausted(provider: "claude", budget: 1.01, now: t0))
        #expect(!ledger.isExhausted(provider: "claude", budget: nil, now: t0))
        ledger.record(provider: "claude", costUSD: 5, finishedAt: instant("2026-12-02T23:59:59Z"))
        #expect(ledger.spent(provider: "claude", now: t0) == 1.0, "yesterday's records do not count")
        #expect(ledger.spent(provider: "claude", now: instant("2026-12-04T00:00:00Z")) == 0, "a new day starts at 0")
        ledger.record(provider: "claude", costUSD: 0.5, finishedAt: instant("2026-12-04T08:00:00Z"))
        #expect(ledger.spent(provider: "claude", now: instant("2026-12-04T09:00:00Z")) == 0.5)
        #expect(BudgetLedger.nextUTCMidnight(after: instant("2026-12-31T23:59:59.999Z")) == instant("2027-01-01T00:00:00Z"))
        #expect(BudgetLedger.nextUTCMidnight(after: instant("2026-12-31T00:00:00Z")) == instant("2027-01-01T00:00:00Z"))
    }

    @Test func configuredBackoff() throws {
        let c = try Configuration(json: try JSONParser.parse(#"{"rate_limit": {"backoff": [5, 80]}}"#))
        #expect(c.rateLimitBackoffStart == 5 && c.rateLimitBackoffCap == 80)
        let d = try Configuration(json: try JSONParser.parse("{}"))
        #expect(d.rateLimitBackoffStart == 60 && d.rateLimitBackoffCap == 3600)
        for bad in [#"[5]"#, #"[80, 5]"#, #"[0, 5]"#, #""60""#] {
            do {
                _ = try Configuration(json: try JSONParser.parse(#"{"rate_limit": {"backoff": \#(bad)}}"#))
                Issue.record("accepted \(bad)")
            } catch let error as HopperError {
                #expect(error.field == "rate_limit.backoff", "\(error.message)")
            }
        }
    }
}
