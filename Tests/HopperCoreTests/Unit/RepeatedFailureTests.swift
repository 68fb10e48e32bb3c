import Testing
@testable import HopperCore

/// `RepeatedFailure`: a failure every 200 ms for a minute is logged a handful of times, not 300.
struct RepeatedFailureTests {
    let t0 = MonotonicInstant(nanoseconds: 5_000_000_000)

    @Test func loggedAtAFallingRateThenOnceOnRecovery() {
        var r = RepeatedFailure(firstInterval: 1, maxInterval: 8)
        var logged: [(Double, Int)] = []
        for tick in 0..<300 {
            let at = Double(tick) * 0.2
            if case .log(let unlogged) = r.failed(now: t0.adding(seconds: at)) { logged.append((at, unlogged)) }
        }
        // At 0, then after 1, 2, 4, 8, 8, 8 … seconds.
        #expect(logged.map { $0.0 } == [0, 1, 3, 7, 15, 23, 31, 39, 47, 55])
        #expect(logged.map { $0.1 } == [0, 4, 9, 19, 39, 39, 39, 39, 39, 39])
        #expect(r.isFailing)
        #expect(r.succeeded() == .recovered(failures: 300))
        #expect(r.succeeded() == .none)
        #expect(r.failed(now: t0.adding(seconds: 100)) == .log(unlogged: 0), "a new run of failures starts over")
    }
}
