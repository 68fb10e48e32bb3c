import Testing
@testable import HopperCore

/// How an attempt ends: the stop ranks and the outcome of every end, as
/// plain values (no process, no file).
@Suite struct AttemptSettlementTests {
    typealias Stop = AttemptSettlement.Stop

    private func settled(_ stops: [Stop], _ end: AttemptEnd, attemptsMade: Int = 1, retries: Int = 0) -> AttemptOutcome {
        var s = AttemptSettlement()
        for stop in stops { _ = s.request(stop) }
        return s.settle(end, attemptsMade: attemptsMade, retries: retries, timeout: 30)
    }

    @Test func onlyTheFirstStopSignals() {
        var s = AttemptSettlement()
        let signals = [s.request(.shutdown), s.request(.timeout), s.request(.cancel), s.request(.shutdown)]
        #expect(signals == [true, false, false, false])
        #expect(s.stop == .cancel)
    }

    /// The table in `AttemptSettlement`'s comment, every pair in both orders.
    @Test(arguments: [
        ([Stop.timeout, .shutdown], Stop.timeout),
        ([Stop.shutdown, .timeout], Stop.timeout),
        ([Stop.timeout, .cancel], Stop.cancel),
        ([Stop.cancel, .timeout], Stop.cancel),
        ([Stop.shutdown, .cancel], Stop.cancel),
        ([Stop.cancel, .shutdown], Stop.cancel),
    ])
    func higherRankWins(_ stops: [Stop], _ held: Stop) {
        var s = AttemptSettlement()
        for stop in stops { _ = s.request(stop) }
        #expect(s.stop == held)
    }

    @Test func aTimeoutCaughtByTheShutdownIsCharged() {
        #expect(settled([.timeout, .shutdown], .process(.signaled(.term))) == .record(.timedOut(after: 30, .process(.signaled(.term)))))
        #expect(settled([.shutdown, .timeout], .process(.signaled(.term)), retries: 1) == .retry(.timedOut(after: 30, .process(.signaled(.term)))))
    }

    @Test func aSilenceIsATimeoutOfItsOwnKind() {
        var s = AttemptSettlement()
        let first = s.request(.silence)
        #expect(first)
        #expect(s.settle(.process(.signaled(.term)), attemptsMade: 1, retries: 0, timeout: 30, idleOutput: 600)
                == .record(.silent(after: 600, .process(.signaled(.term)))))
        let v = Verdict.silent(after: 600, .process(.signaled(.term)))
        #expect(v.state == .failed && v.reason == .timeout && v.message.hasPrefix("Silent for 600 seconds"))
        var t = AttemptSettlement()
        _ = t.request(.silence)
        _ = t.request(.timeout)
        #expect(t.stop == .timeout, "the timeout outranks the silence")
        var u = AttemptSettlement()
        _ = u.request(.shutdown)
        _ = u.request(.silence)
        #expect(u.stop == .silence, "a silence during the shutdown's grace is charged")
    }

    @Test func theShutdownAloneRequeuesUncharged() {
        #expect(settled([.shutdown], .process(.signaled(.term))) == .requeue)
        #expect(settled([.shutdown], .process(.exited(0))) == .requeue, "whatever the process said as it went")
    }

    @Test func aCancelIsNeverRetried() {
        let outcome = settled([.cancel], .process(.exited(1)), retries: 5)
        #expect(outcome == .record(.cancelled(.process(.exited(1)))))
        guard case .record(let v) = outcome else { return }
        #expect(v.state == .cancelled && v.reason == .cancelled && v.exitCode == 1 && v.signal == nil)
    }

    @Test func retriesAreSpentThenRecorded() {
        #expect(settled([], .process(.exited(3)), attemptsMade: 1, retries: 2) == .retry(.exited(3)))
        #expect(settled([], .process(.exited(3)), attemptsMade: 2, retries: 2) == .retry(.exited(3)))
        #expect(settled([], .process(.exited(3)), attemptsMade: 3, retries: 2) == .record(.exited(3)))
        #expect(settled([], .process(.exited(0)), attemptsMade: 1, retries: 2) == .record(.exited(0)), "success is never retried")
    }

    @Test func recordsOfEveryEnd() {
        let ok = Verdict(.process(.exited(0)))
        #expect(ok.state == .succeeded && ok.reason == .exit && ok.exitCode == 0 && ok.message == "Exited with status 0.")
        let killed = Verdict(.process(.signaled(.kill)))
        #expect(killed.state == .failed && killed.reason == .signal && killed.exitCode == nil && killed.signal == 9)
        #expect(killed.message == "Killed by signal 9 (SIGKILL).")
        let lost = Verdict(.sessionLost(.exited(7)))
        #expect(lost.state == .failed && lost.reason == .exit && lost.exitCode == nil, "a session's status is not the task's")
        #expect(lost.message.contains("exit status 7"))
        let lostToSignal = Verdict(.sessionLost(.signaled(.kill)))
        #expect(lostToSignal.reason == .signal && lostToSignal.signal == 9 && lostToSignal.exitCode == nil)
        let timedOut = Verdict.timedOut(after: 2.5, .process(.signaled(.term)))
        #expect(timedOut.state == .failed && timedOut.reason == .timeout && timedOut.signal == 15)
        #expect(timedOut.message == "Timed out after 2.5 seconds; its process group was killed.")
    }

    @Test func agentResults() throws {
        let object = try JSONParser.parse(Array(#"{"type":"result","is_error":true,"result":"it broke"}"#.utf8))
        let failed = Verdict(.agent(.resultLine(isError: true, object: object)))
        #expect(failed.state == .failed && failed.reason == .agentError && failed.exitCode == nil && failed.result == object)
        #expect(failed.message == "The agent reported an error: it broke")
        #expect(failed.agent?.resultText == "it broke")
        #expect(Verdict(.agent(.resultLine(isError: false, object: object))).state == .succeeded)
        let cancelled = Verdict.cancelled(.agent(.resultLine(isError: false, object: object)))
        #expect(cancelled.result == object, "the result line is kept when a cancel raced it")
        #expect(settled([], .agent(.resultLine(isError: true, object: object)), retries: 1) == .retry(failed))
    }

    @Test func aRateLimitRequeuesUnchargedAndLimitsTheProvider() {
        let reset = Timestamp(nanoseconds: 1_900_000_000_000_000_000)
        let limited = AgentOutcome(.rateLimited(until: reset), message: "You've hit your limit")
        #expect(settled([], .agent(limited), attemptsMade: 3, retries: 0) == .limited(until: reset, message: "You've hit your limit"),
                "whatever the retries left")
        #expect(settled([.cancel], .agent(limited)) == .record(.cancelled(.agent(limited))), "a cancel still wins")
        #expect(settled([.timeout], .agent(limited)) == .record(.timedOut(after: 30, .agent(limited))))
        #expect(settled([.shutdown], .agent(limited)) == .requeue)
    }

    @Test func anAuthenticationErrorRequeuesUncharged() {
        let denied = AgentOutcome(.authenticationFailed, message: "Not logged in")
        #expect(settled([], .agent(denied)) == .authenticationFailed(message: "Not logged in"))
    }
}
