import Testing
@testable import HopperCore

/// Authentication retries: bounded attempts, growing delays, retryable or not.
@Suite struct AuthenticationPolicyTests {
    private func policy(maxAttempts: Int = 3, delays: [Double] = [1, 2, 4], retryable: [Int32] = [75]) -> AuthenticationPolicy {
        AuthenticationPolicy(maxAttempts: maxAttempts, delays: Backoff(delays: delays), retryableExitCodes: retryable)
    }

    private let flaky = AuthenticationPolicy.AttemptResult.failed(exitCode: 75, timedOut: false, message: "try later")
    private let denied = AuthenticationPolicy.AttemptResult.failed(exitCode: 1, timedOut: false, message: "access denied\n")
    private let hung = AuthenticationPolicy.AttemptResult.failed(exitCode: nil, timedOut: true, message: "no answer in 30 s")

    @Test func succeedsAtOnce() {
        var p = policy()
        #expect(p.attempts == 0)
        #expect(p.record(.success) == .succeeded)
        #expect(p.attempts == 1)
    }

    /// The seed plan's test: two retryable failures, then success.
    @Test func failsTwiceThenSucceedsInExactlyThreeAttemptsWithGrowingDelays() {
        var p = policy(delays: [1, 2, 4])
        let decisions = [p.record(flaky), p.record(flaky), p.record(.success)]
        #expect(decisions == [.retry(after: 1, attempt: 2), .retry(after: 2, attempt: 3), .succeeded])
        #expect(p.attempts == 3)
    }

    @Test func nonRetryableGivesUpAfterOne() {
        var p = policy()
        #expect(p.record(denied) == .gaveUp(retryable: false, message: "authentication failed after 1 attempt, not retryable: the auth command exited with code 1 (access denied)"))
        #expect(p.attempts == 1)
    }

    @Test func nonRetryableAfterRetryableGivesUp() {
        var p = policy()
        _ = p.record(flaky)
        guard case .gaveUp(retryable: false, let message) = p.record(denied) else {
            Issue.record("expected to give up")
            return
        }
        #expect(message == "authentication failed after 2 attempts, not retryable: the last exited with code 1 (access denied)")
    }

    @Test(arguments: [1, 3, 5])
    func retryableGivesUpAfterMaxAttempts(maxAttempts: Int) {
        var p = policy(maxAttempts: maxAttempts, delays: [1, 2, 4])
        for n in 1..<maxAttempts {
            #expect(p.record(flaky) == .retry(after: [1.0, 2, 4, 4][n - 1], attempt: n + 1))
        }
        let last = p.record(flaky)
        let count = maxAttempts == 1 ? "1 attempt" : "\(maxAttempts) attempts"
        let subject = maxAttempts == 1 ? "the auth command" : "the last"
        #expect(last == .gaveUp(retryable: true, message: "authentication failed after \(count): \(subject) exited with code 75 (try later)"))
        #expect(p.attempts == maxAttempts)
    }

    @Test func delaysPastTheListRepeatTheLast() {
        var p = policy(maxAttempts: 6, delays: [1, 2])
        let delays = (0..<5).compactMap { _ -> Double? in
            guard case .retry(let after, _) = p.record(flaky) else { return nil }
            return after
        }
        #expect(delays == [1, 2, 2, 2, 2])
    }

    @Test func timeoutIsRetryable() {
        var p = policy(retryable: [])
        #expect(p.isRetryable(hung))
        #expect(p.record(hung) == .retry(after: 1, attempt: 2))
        _ = p.record(hung)
        #expect(p.record(hung) == .gaveUp(retryable: true, message: "authentication failed after 3 attempts: the last timed out (no answer in 30 s)"))
    }

    @Test func retryableIsTheListedCodesAndTimeoutsOnly() {
        let p = policy(retryable: [75, 69])
        #expect(p.isRetryable(.failed(exitCode: 75, timedOut: false, message: "")))
        #expect(p.isRetryable(.failed(exitCode: 69, timedOut: false, message: "")))
        #expect(!p.isRetryable(.failed(exitCode: 1, timedOut: false, message: "")))
        #expect(!p.isRetryable(.failed(exitCode: nil, timedOut: false, message: "cannot spawn")))
        #expect(!p.isRetryable(.success))
    }

    @Test func spawnFailureGivesUpWithItsMessage() {
        var p = policy()
        let result = AuthenticationPolicy.AttemptResult.failed(exitCode: nil, timedOut: false, message: "  cannot spawn /nope:\n no such file  ")
        #expect(p.record(result) == .gaveUp(retryable: false, message: "authentication failed after 1 attempt, not retryable: the auth command failed (cannot spawn /nope: no such file)"))
    }

    @Test func recordsAfterTheEndRepeatTheDecision() {
        var done = policy()
        _ = done.record(.success)
        #expect(done.record(denied) == .succeeded)
        #expect(done.attempts == 1)

        var failed = policy()
        let gaveUp = failed.record(denied)
        #expect(failed.record(.success) == gaveUp)
        #expect(failed.attempts == 1)
    }
}
