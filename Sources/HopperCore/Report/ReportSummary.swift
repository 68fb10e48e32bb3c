/// One result record reduced to what `hopper report` counts.
public struct ReportEntry: Sendable, Equatable {
    public var provider: String
    public var state: TaskState
    public var reason: String
    public var message: String
    public var finishedAt: Timestamp
    public var durationMs: Int64?
    public var costUSD: Double?

    public init(provider: String, state: TaskState, reason: String, message: String, finishedAt: Timestamp,
                durationMs: Int64? = nil, costUSD: Double? = nil) {
        self.provider = provider
        self.state = state
        self.reason = reason
        self.message = message
        self.finishedAt = finishedAt
        self.durationMs = durationMs
        self.costUSD = costUSD
    }

    /// The entry of a parsed record; nil for an object that is not a record
    /// (no terminal `state`, no readable `finished_at`). Legacy state names
    /// count as their canonical ones.
    public init?(record o: JSONObject) {
        guard let name = o["state"]?.stringValue, let state = TaskState(name: name), state.isTerminal,
              let finished = o["finished_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) else { return nil }
        self.init(provider: o["provider"]?.stringValue ?? "?", state: state, reason: o["reason"]?.stringValue ?? "?",
                  message: o["message"]?.stringValue ?? "", finishedAt: finished,
                  durationMs: o["duration_ms"]?.doubleValue.map { Int64(max(0, $0)) }, costUSD: o["cost_usd"]?.doubleValue)
    }
}

/// The summary `hopper report` prints and draws: per provider, counts by
/// state and reason, the success rate, duration percentiles, cost per day
/// and the most common failure messages; over all providers, the tasks
/// finished per hour by state.
///
/// A pure value: `add` takes entries in any order, the derived figures are
/// computed when asked for. Days and hours are UTC.
public struct ReportSummary: Sendable {
    /// How many failure messages a provider lists.
    public static let topFailureCount = 5

    public struct ProviderStats: Sendable {
        public var total = 0
        public var states: [TaskState: Int] = [:]
        public var reasons: [String: Int] = [:]
        /// Counts by state and reason together (`exit` ends succeeded or failed).
        public var stateReasons: [StateReason: Int] = [:]
        /// Durations of the tasks that ran, in milliseconds, unsorted.
        public var durations: [Int64] = []
        /// Cost by UTC day (days since the epoch).
        public var costPerDay: [Int64: Double] = [:]
        /// How many records carried `cost_usd`.
        public var costed = 0
        /// Messages of `failed` and `error` records, with their counts.
        public var failures: [String: Int] = [:]

        public func count(_ state: TaskState) -> Int { states[state] ?? 0 }

        /// succeeded / (succeeded + failed + error); cancelled tasks are
        /// decisions, not outcomes, so they do not count. Nil when no task
        /// of the provider succeeded, failed or erred.
        public var successRate: Double? {
            let decided = count(.succeeded) + count(.failed) + count(.error)
            return decided == 0 ? nil : Double(count(.succeeded)) / Double(decided)
        }

        public var totalCost: Double? { costed == 0 ? nil : costPerDay.values.reduce(0, +) }

        /// The most common failure messages, most frequent first, ties by message.
        public var topFailures: [(message: String, count: Int)] {
            failures.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .prefix(ReportSummary.topFailureCount).map { ($0.key, $0.value) }
        }
    }

    public struct StateReason: Sendable, Hashable {
        public var state: TaskState
        public var reason: String
    }

    /// p50, p95 and max of a provider's durations, in milliseconds.
    public struct Percentiles: Sendable, Equatable {
        public var p50: Int64
        public var p95: Int64
        public var max: Int64
    }

    public private(set) var providers: [String: ProviderStats] = [:]
    /// Tasks finished per UTC hour (hours since the epoch) by state, all providers.
    public private(set) var hourly: [Int64: [TaskState: Int]] = [:]
    public private(set) var total = 0
    public private(set) var first: Timestamp?
    public private(set) var last: Timestamp?

    public init() {}

    public mutating func add(_ e: ReportEntry) {
        total += 1
        if first == nil || e.finishedAt < first! { first = e.finishedAt }
        if last == nil || last! < e.finishedAt { last = e.finishedAt }
        hourly[ReportSummary.hour(of: e.finishedAt), default: [:]][e.state, default: 0] += 1
        // In place: a copy of the stats would copy `durations` on every record.
        ReportSummary.count(e, into: &providers[e.provider, default: ProviderStats()])
    }

    private static func count(_ e: ReportEntry, into p: inout ProviderStats) {
        p.total += 1
        p.states[e.state, default: 0] += 1
        p.reasons[e.reason, default: 0] += 1
        p.stateReasons[StateReason(state: e.state, reason: e.reason), default: 0] += 1
        if let d = e.durationMs { p.durations.append(d) }
        if let c = e.costUSD {
            p.costed += 1
            p.costPerDay[ReportSummary.day(of: e.finishedAt), default: 0] += c
        }
        if e.state == .failed || e.state == .error { p.failures[e.message, default: 0] += 1 }
    }

    /// Provider names in order.
    public var providerNames: [String] { providers.keys.sorted() }

    /// The terminal states in the order the report shows them.
    public static let states: [TaskState] = [.succeeded, .failed, .error, .cancelled]

    /// Nearest-rank percentiles of a provider's durations; nil when none ran.
    public func percentiles(_ provider: String) -> Percentiles? {
        guard let durations = providers[provider]?.durations, !durations.isEmpty else { return nil }
        let sorted = durations.sorted()
        func rank(_ p: Double) -> Int64 { sorted[Swift.max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1)] }
        return Percentiles(p50: rank(0.5), p95: rank(0.95), max: sorted.last!)
    }

    /// Every UTC day that has a cost, over all providers, in order.
    public var costDays: [Int64] {
        Array(Set(providers.values.flatMap(\.costPerDay.keys))).sorted()
    }

    public static func hour(of t: Timestamp) -> Int64 { floorDiv(t.nanoseconds, 3_600_000_000_000) }
    public static func day(of t: Timestamp) -> Int64 { floorDiv(t.nanoseconds, 86_400_000_000_000) }

    /// `YYYY-MM-DD` of a day index.
    public static func dayLabel(_ day: Int64) -> String {
        String(Timestamp(nanoseconds: day * 86_400_000_000_000).rfc3339.prefix(10))
    }

    /// `YYYY-MM-DD HH:00` of an hour index.
    public static func hourLabel(_ hour: Int64) -> String {
        let text = Timestamp(nanoseconds: hour * 3_600_000_000_000).rfc3339
        return text.prefix(10) + " " + text.dropFirst(11).prefix(2) + ":00"
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
}

/// How the report writes figures for people.
enum ReportFormat {
    /// `850 ms`, `12.4 s`, `3.2 min`, `1.5 h`.
    static func duration(_ ms: Int64) -> String {
        if ms < 1000 { return "\(ms) ms" }
        let s = Double(ms) / 1000
        if s < 60 { return "\(oneDecimal(s)) s" }
        if s < 3600 { return "\(oneDecimal(s / 60)) min" }
        return "\(oneDecimal(s / 3600)) h"
    }

    /// `97.3%`.
    static func percent(_ rate: Double) -> String { "\(oneDecimal(rate * 100))%" }

    /// `$12.34`; four decimals under a dollar.
    static func usd(_ value: Double) -> String {
        let places = abs(value) < 1 && value != 0 ? 4 : 2
        return "$" + fixed(value, places)
    }

    static func oneDecimal(_ v: Double) -> String { fixed(v, 1) }

    /// `v` with exactly `places` decimals, without the C library's locale.
    static func fixed(_ v: Double, _ places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let n = Int64((abs(v) * scale).rounded())
        let whole = n / Int64(scale)
        var text = (v < 0 && n != 0 ? "-" : "") + String(whole)
        if places > 0 {
            let frac = String(n % Int64(scale))
            text += "." + String(repeating: "0", count: places - frac.count) + frac
        }
        return text
    }
}
