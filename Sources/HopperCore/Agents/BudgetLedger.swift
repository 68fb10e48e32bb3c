/// What each provider spent today (UTC), from the `cost_usd` of its
/// records (SPEC section 7a, `budget.usd_per_day`).
///
/// Counted from the records, so a restart forgets nothing: the owner feeds
/// it every record of the current day on start (done/ holds them) and each
/// new record as it is written. A pure value: the day is the one of the
/// instants it is given, never a clock's.
public struct BudgetLedger: Sendable, Equatable {
    /// The UTC day (days since 1970-01-01) the sums are for.
    public private(set) var day: Int64?
    private var spent: [String: Double] = [:]

    public init() {}

    /// Adds a record's cost, dated by when it finished. Costs of an earlier
    /// day than the ledger's are ignored; a later day starts the sums over.
    public mutating func record(provider: String, costUSD: Double?, finishedAt: Timestamp) {
        guard let costUSD, costUSD.isFinite, costUSD > 0 else { return }
        let recordDay = Self.utcDay(finishedAt)
        if let day, recordDay < day { return }
        if day != recordDay {
            day = recordDay
            spent = [:]
        }
        spent[provider, default: 0] += costUSD
    }

    /// Adds a record read back from done/ (its `provider`, `cost_usd` and
    /// `finished_at`), as on start, when the day's spend is counted again.
    public mutating func record(_ summary: RecordSummary) {
        guard let provider = summary.object["provider"]?.stringValue,
              let finished = summary.object["finished_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) else { return }
        record(provider: provider, costUSD: summary.object["cost_usd"]?.doubleValue, finishedAt: finished)
    }

    /// The provider's spend on the UTC day of `now`.
    public func spent(provider: String, now: Timestamp) -> Double {
        day == Self.utcDay(now) ? spent[provider] ?? 0 : 0
    }

    /// Has the provider reached `budget` today?
    public func isExhausted(provider: String, budget: Double?, now: Timestamp) -> Bool {
        guard let budget else { return false }
        return spent(provider: provider, now: now) >= budget
    }

    static func utcDay(_ t: Timestamp) -> Int64 {
        CivilCalendar.floorDivide(CivilCalendar.floorDivide(t.nanoseconds, 1_000_000_000).0, 86_400).0
    }

    /// The first 00:00 UTC after `t`.
    public static func nextUTCMidnight(after t: Timestamp) -> Timestamp {
        Timestamp(nanoseconds: (utcDay(t) + 1) * 86_400 * 1_000_000_000)
    }
}
