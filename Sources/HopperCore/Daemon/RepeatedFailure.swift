/// How often a failure that keeps repeating is logged: the first time at
/// once, then at a falling rate (after 1, 2, 4 … seconds, at most every
/// `maxInterval`), each line saying how many were not logged since; and
/// once when it stops. A pure value: no clock, no I/O.
///
/// | state   | event     | action                              | next    |
/// |---------|-----------|-------------------------------------|---------|
/// | quiet   | failed    | log                                 | failing |
/// | failing | failed, before `nextLog` | count it             | failing |
/// | failing | failed, at or after `nextLog` | log with the count, double the interval | failing |
/// | failing | succeeded | log the recovery with the total     | quiet   |
/// | quiet   | succeeded | nothing                             | quiet   |
struct RepeatedFailure: Sendable {
    enum Action: Sendable, Equatable {
        case none
        /// Log the failure; `unlogged` earlier ones since the last line.
        case log(unlogged: Int)
        /// Log that it works again after `failures` in a row.
        case recovered(failures: Int)
    }

    let firstInterval: Double
    let maxInterval: Double
    private var failures = 0
    private var unlogged = 0
    private var interval = 0.0
    private var nextLog: MonotonicInstant?

    init(firstInterval: Double = 1, maxInterval: Double = 60) {
        self.firstInterval = firstInterval
        self.maxInterval = maxInterval
    }

    var isFailing: Bool { failures > 0 }

    mutating func failed(now: MonotonicInstant) -> Action {
        failures += 1
        if let next = nextLog, now < next {
            unlogged += 1
            return .none
        }
        let action = Action.log(unlogged: unlogged)
        unlogged = 0
        interval = nextLog == nil ? firstInterval : min(interval * 2, maxInterval)
        nextLog = now.adding(seconds: interval)
        return action
    }

    mutating func succeeded() -> Action {
        guard failures > 0 else { return .none }
        let total = failures
        self = RepeatedFailure(firstInterval: firstInterval, maxInterval: maxInterval)
        return .recovered(failures: total)
    }
}
