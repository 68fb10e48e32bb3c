import Testing
@testable import HopperCore

/// The per-provider circuit breaker: every transition, with instants passed in.
@Suite struct CircuitBreakerTests {
    static let t0 = MonotonicInstant(nanoseconds: 5_000_000_000_000)

    /// `t0` plus `seconds`.
    private func at(_ seconds: Double) -> MonotonicInstant { Self.t0.adding(seconds: seconds) }

    /// A breaker opened by `threshold` failures at `t0`.
    private func opened(threshold: Int = 3, cooldown: Double = 60) -> CircuitBreaker {
        var b = CircuitBreaker(failureThreshold: threshold, cooldown: cooldown)
        for _ in 0..<threshold { _ = b.recordFailure(now: Self.t0) }
        return b
    }

    @Test func startsClosedAndLetsSessionsThrough() {
        var b = CircuitBreaker(failureThreshold: 3, cooldown: 60)
        #expect(b.state == .closed && b.consecutiveFailures == 0 && b.openUntil == nil)
        for i in 0..<5 { #expect(b.mayAttempt(now: at(Double(i))) == true) }
        #expect(b.advance(now: at(1000)) == nil)
        #expect(b.recordSuccess() == nil, "success on a closed circuit is no transition")
    }

    @Test(arguments: [1, 2, 5])
    func opensExactlyAtTheThreshold(threshold: Int) {
        var b = CircuitBreaker(failureThreshold: threshold, cooldown: 60)
        for n in 1..<threshold {
            #expect(b.recordFailure(now: at(Double(n))) == nil, "failure \(n) of \(threshold)")
            #expect(b.state == .closed && b.consecutiveFailures == n)
            #expect(b.mayAttempt(now: at(Double(n))) == true)
        }
        #expect(b.recordFailure(now: at(10)) == .opened(until: at(70)))
        #expect(b.state == .open && b.openUntil == at(70) && b.consecutiveFailures == threshold)
    }

    @Test func successResetsTheCount() {
        var b = CircuitBreaker(failureThreshold: 3, cooldown: 60)
        _ = b.recordFailure(now: at(1))
        _ = b.recordFailure(now: at(2))
        #expect(b.recordSuccess() == nil)
        #expect(b.consecutiveFailures == 0 && b.state == .closed)
        // Two more are again below the threshold: failures must be in a row.
        #expect(b.recordFailure(now: at(3)) == nil)
        #expect(b.recordFailure(now: at(4)) == nil)
        #expect(b.state == .closed)
        #expect(b.recordFailure(now: at(5)) == .opened(until: at(65)))
    }

    @Test func staysOpenDuringTheCooldown() {
        var b = opened(cooldown: 60)
        for t in [0, 1, 30, 59.999_999_999] {
            #expect(b.advance(now: at(t)) == nil, "at \(t)")
            #expect(b.mayAttempt(now: at(t)) == false, "at \(t)")
            #expect(b.state == .open)
        }
        // More failures (sessions begun before it opened) do not extend it.
        #expect(b.recordFailure(now: at(30)) == nil)
        #expect(b.openUntil == at(60))
    }

    @Test func cooldownOverMovesToHalfOpenOnce() {
        var b = opened(cooldown: 60)
        #expect(b.advance(now: at(60)) == .halfOpened)
        #expect(b.state == .halfOpen && b.openUntil == nil)
        #expect(b.advance(now: at(61)) == nil, "the transition is reported once")
    }

    @Test func halfOpenAllowsExactlyOneTrial() {
        var b = opened()
        _ = b.advance(now: at(60))
        #expect(b.mayAttempt(now: at(60)) == true)
        for t in [60.0, 61, 1000] { #expect(b.mayAttempt(now: at(t)) == false, "a second trial at \(t)") }
        #expect(b.state == .halfOpen)
    }

    @Test func mayAttemptAdvancesByItselfWhenTheCallerDidNot() {
        var b = opened()
        #expect(b.mayAttempt(now: at(90)) == true)
        #expect(b.state == .halfOpen)
        #expect(b.mayAttempt(now: at(90)) == false)
    }

    @Test func trialSuccessCloses() {
        var b = opened()
        _ = b.advance(now: at(60))
        _ = b.mayAttempt(now: at(60))
        #expect(b.recordSuccess() == .closed)
        #expect(b.state == .closed && b.consecutiveFailures == 0 && b.openUntil == nil)
        for _ in 0..<3 { #expect(b.mayAttempt(now: at(61)) == true) }
    }

    @Test func trialFailureReopensWithAFreshCooldown() {
        var b = opened(cooldown: 60)
        _ = b.advance(now: at(60))
        _ = b.mayAttempt(now: at(60))
        #expect(b.recordFailure(now: at(75)) == .opened(until: at(135)))
        #expect(b.state == .open && b.openUntil == at(135))
        #expect(b.mayAttempt(now: at(134)) == false)
        #expect(b.advance(now: at(135)) == .halfOpened)
        #expect(b.mayAttempt(now: at(135)) == true, "the new half-open period has its own trial")
    }

    @Test func anyFailureWhileHalfOpenReopens() {
        // Even below the threshold count: one failure in half-open is enough.
        var b = CircuitBreaker(failureThreshold: 1000, cooldown: 10)
        for _ in 0..<1000 { _ = b.recordFailure(now: Self.t0) }
        _ = b.advance(now: at(10))
        #expect(b.recordFailure(now: at(11)) == .opened(until: at(21)))
    }

    @Test func lateSuccessWhileOpenCloses() {
        var b = opened()
        #expect(b.recordSuccess() == .closed)
        #expect(b.state == .closed && b.openUntil == nil && b.mayAttempt(now: at(1)))
    }

    @Test func zeroCooldownHalfOpensAtOnce() {
        var b = opened(cooldown: 0)
        #expect(b.openUntil == Self.t0)
        #expect(b.advance(now: Self.t0) == .halfOpened)
    }

    @Test func reloadAppliesFromTheNextFailure() {
        var b = CircuitBreaker(failureThreshold: 5, cooldown: 60)
        for n in 1...3 { _ = b.recordFailure(now: at(Double(n))) }
        b.update(failureThreshold: 2, cooldown: 10)
        #expect(b.state == .closed, "a reload alone opens nothing")
        #expect(b.recordFailure(now: at(4)) == .opened(until: at(14)))

        var open = opened(cooldown: 60)
        open.update(failureThreshold: 3, cooldown: 5)
        #expect(open.openUntil == at(60), "a running cooldown keeps its end")
        #expect(open.advance(now: at(5)) == nil)
    }

    @Test func badValuesAreClamped() {
        var b = CircuitBreaker(failureThreshold: 0, cooldown: -3)
        #expect(b.recordFailure(now: Self.t0) == .opened(until: Self.t0))
    }
}
