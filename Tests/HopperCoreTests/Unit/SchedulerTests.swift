import Testing
@testable import HopperCore

/// The pure scheduler: placement, priority order, run_after, dependencies,
/// retries. Plain values, no I/O, no clock but the one passed in.
@Suite struct SchedulerTests {
    static let t0 = Timestamp(nanoseconds: 1_800_000_000_000_000_000)

    private func id(_ text: String) -> TaskID {
        guard let id = TaskID(text) else { preconditionFailure("bad test id \(text)") }
        return id
    }

    private func task(_ name: String, priority: Int = 0, seq: UInt64, after: [String] = [], runAfter: Timestamp? = nil,
                      provider: String = "sh") -> SpooledTask {
        var request = TaskRequest(command: "echo \(name)")
        request.priority = priority
        request.after = after.map(id)
        request.runAfter = runAfter
        return SpooledTask(id: id(name), request: request, provider: provider, source: "\(name).json", submittedAt: Self.t0, seq: seq)
    }

    /// No task has finished.

    /// Starts everything startable, in order.
    private func drain(_ s: inout Scheduler) -> [String] {
        var started: [String] = []
        while let next = s.nextToStart({ _ in true }) { started.append(next.rawValue) }
        return started
    }

    @Test func priorityThenAcceptanceOrder() {
        var s = Scheduler()
        let tasks = [
            task("low", priority: -5, seq: 1), task("a", seq: 2), task("high", priority: 10, seq: 3),
            task("b", seq: 4), task("top", priority: 1000, seq: 5), task("c", seq: 6), task("high2", priority: 10, seq: 7),
        ]
        for t in tasks { #expect(s.admit(t, now: Self.t0) == .queued) }
        #expect(s.queuedCount == 7)
        #expect(drain(&s) == ["top", "high", "high2", "a", "b", "c", "low"])
        #expect(s.counts() == [.pending: 0, .queued: 0, .running: 7])
    }

    @Test func acceptanceOrderIsSeqNotAdmissionOrder() {
        var s = Scheduler()
        // Recovery may admit tasks in directory order; seq decides.
        for (name, seq) in [("third", 30), ("first", 10), ("second", 20)] as [(String, UInt64)] {
            _ = s.admit(task(name, seq: seq), now: Self.t0)
        }
        #expect(drain(&s) == ["first", "second", "third"])
    }

    @Test func startingMarksTheTaskRunning() throws {
        var s = Scheduler()
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        #expect(s[id("a")]?.state == .queued)
        #expect(s.nextToStart { _ in true } == id("a"))
        #expect(s[id("a")]?.state == .running)
        #expect(s.nextToStart { _ in true } == nil, "a running task is not started twice")
    }

    @Test func decliningKeepsTheTasksPlace() {
        var s = Scheduler()
        _ = s.admit(task("agent-1", priority: 5, seq: 1, provider: "agent"), now: Self.t0)
        _ = s.admit(task("a", seq: 2), now: Self.t0)
        _ = s.admit(task("agent-2", priority: 5, seq: 3, provider: "agent"), now: Self.t0)
        _ = s.admit(task("b", seq: 4), now: Self.t0)

        // The agent provider is busy: its tasks are skipped, not lost, and it is asked once.
        var offered: [String] = []
        let first = s.nextToStart { provider in
            offered.append(provider.provider)
            return provider != "agent"
        }
        #expect(first == id("a"))
        #expect(offered.sorted() == ["agent", "sh"])
        #expect(s[id("agent-1")]?.state == .queued && s[id("agent-2")]?.state == .queued)
        #expect(s.nextToStart { _ in false } == nil)
        #expect(s.queuedCount == 3)
        #expect(drain(&s) == ["agent-1", "agent-2", "b"])
    }

    @Test func aBlockedProviderCostsOneLookPerCall() {
        var s = Scheduler()
        for i in 0..<10_000 { _ = s.admit(task("q\(i)", seq: UInt64(i), provider: "agent"), now: Self.t0) }
        _ = s.admit(task("free", seq: 10_000), now: Self.t0)
        var asked = 0
        #expect(s.nextToStart { provider in asked += 1; return provider == "sh" } == id("free"))
        #expect(asked == 2, "one question per provider, not per queued task")
        #expect(s.counts() == [.pending: 0, .queued: 10_000, .running: 1])
    }

    @Test func runAfterInTheFutureIsPendingUntilReleased() {
        var s = Scheduler()
        let later = Self.t0.adding(seconds: 60)
        #expect(s.admit(task("later", seq: 1, runAfter: later), now: Self.t0) == .pending)
        #expect(s[id("later")]?.notBefore == later)
        #expect(s.nextToStart { _ in true } == nil)
        #expect(s.release(id("later"), now: Self.t0.adding(seconds: 59.999)) == false)
        #expect(s[id("later")]?.state == .pending)
        #expect(s.release(id("later"), now: later) == true)
        #expect(s[id("later")]?.state == .queued)
        #expect(s.release(id("later"), now: later) == false, "releasing twice does nothing")
        #expect(drain(&s) == ["later"])
    }

    @Test func runAfterInThePastOrNowIsQueued() {
        var s = Scheduler()
        #expect(s.admit(task("past", seq: 1, runAfter: Self.t0.adding(seconds: -1)), now: Self.t0) == .queued)
        #expect(s.admit(task("now", seq: 2, runAfter: Self.t0), now: Self.t0) == .queued)
        #expect(s[id("past")]?.notBefore == nil)
    }

    @Test func releasingUnknownOrQueuedTasksDoesNothing() {
        var s = Scheduler()
        _ = s.admit(task("q", seq: 1), now: Self.t0)
        #expect(s.release(id("q"), now: Self.t0) == false)
        #expect(s.release(id("nobody"), now: Self.t0) == false)
        #expect(drain(&s) == ["q"], "a queued task released again is not queued twice")
    }

    @Test func unknownDependencyIsPending() {
        var s = Scheduler()
        #expect(s.admit(task("b", seq: 1, after: ["a"]), now: Self.t0) == .pending)
        #expect(s[id("b")]?.waitingFor == [id("a")])
        #expect(s.nextToStart { _ in true } == nil)
        // The dependency arrives later and succeeds.
        #expect(s.admit(task("a", seq: 2), now: Self.t0) == .queued)
        #expect(drain(&s) == ["a"])
        let fates = s.finish(id("a"), state: .succeeded)
        #expect(fates.queued == [id("b")] && fates.cancelled.isEmpty)
        #expect(drain(&s) == ["b"])
    }

    @Test func finishedDependencies() {
        let done: [TaskID: TaskState] = [id("ok"): .succeeded, id("bad"): .failed, id("gone"): .cancelled, id("err"): .error]
        var s = Scheduler()
        #expect(s.admit(task("x", seq: 1, after: ["ok"]), now: Self.t0, ended: done) == .queued)
        #expect(s.admit(task("y", seq: 2, after: ["ok", "bad"]), now: Self.t0, ended: done) == .cancelled(dependency: id("bad"), state: .failed))
        #expect(s.admit(task("z", seq: 3, after: ["gone"]), now: Self.t0, ended: done) == .cancelled(dependency: id("gone"), state: .cancelled))
        #expect(s.admit(task("w", seq: 4, after: ["err"]), now: Self.t0, ended: done) == .cancelled(dependency: id("err"), state: .error))
        #expect(s[id("y")] == nil && s[id("z")] == nil && s[id("w")] == nil, "a cancelled task is not kept")
        #expect(s.counts() == [.pending: 0, .queued: 1, .running: 0])
    }

    @Test func succeededDependencyPromotesTheDependent() {
        var s = Scheduler()
        #expect(s.admit(task("a", seq: 1), now: Self.t0) == .queued)
        #expect(s.admit(task("b", seq: 2, after: ["a"]), now: Self.t0, ended: [id("a"): .succeeded]) == .pending,
                "a dependency still in the scheduler is waited for, whatever the done/ lookup says")
        #expect(drain(&s) == ["a"])
        let fates = s.finish(id("a"), state: .succeeded)
        #expect(fates.queued == [id("b")])
        #expect(fates.cancelled.isEmpty)
        #expect(s[id("a")] == nil)
        #expect(s[id("b")]?.state == .queued)
    }

    @Test(arguments: [TaskState.failed, .error, .cancelled])
    func unsuccessfulDependencyCancelsTheDependent(state: TaskState) {
        var s = Scheduler()
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        _ = s.admit(task("b", seq: 2, after: ["a"]), now: Self.t0)
        _ = drain(&s)
        let fates = s.finish(id("a"), state: state)
        #expect(fates.queued.isEmpty)
        #expect(fates.cancelled == [id("b")])
        #expect(s[id("b")]?.state == .pending, "the caller finishes it")
        #expect(s.nextToStart { _ in true } == nil)
    }

    @Test func waitsForEveryDependency() {
        var s = Scheduler()
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        _ = s.admit(task("b", seq: 2), now: Self.t0)
        _ = s.admit(task("c", seq: 3, after: ["a", "b"]), now: Self.t0)
        _ = drain(&s)
        #expect(s.finish(id("a"), state: .succeeded).queued.isEmpty)
        #expect(s[id("c")]?.waitingFor == [id("b")])
        #expect(s.finish(id("b"), state: .succeeded).queued == [id("c")])
    }

    @Test func dependencyAndRunAfterBothHold() {
        var s = Scheduler()
        let later = Self.t0.adding(seconds: 10)
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        #expect(s.admit(task("b", seq: 2, after: ["a"], runAfter: later), now: Self.t0) == .pending)
        _ = drain(&s)
        #expect(s.finish(id("a"), state: .succeeded).queued.isEmpty, "run_after still in the future")
        #expect(s.release(id("b"), now: later) == true)
        #expect(drain(&s) == ["b"])
    }

    @Test func chainOfThreeSucceeds() {
        var s = Scheduler()
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        #expect(s.admit(task("b", seq: 2, after: ["a"]), now: Self.t0) == .pending)
        #expect(s.admit(task("c", seq: 3, after: ["b"]), now: Self.t0) == .pending)
        #expect(drain(&s) == ["a"])
        #expect(s.finish(id("a"), state: .succeeded).queued == [id("b")])
        #expect(s[id("c")]?.state == .pending)
        #expect(drain(&s) == ["b"])
        #expect(s.finish(id("b"), state: .succeeded).queued == [id("c")])
        #expect(drain(&s) == ["c"])
        #expect(s.finish(id("c"), state: .succeeded) == ([], []))
        #expect(s.entries.isEmpty)
    }

    @Test func chainOfThreeCancelsDownstream() {
        var s = Scheduler()
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        _ = s.admit(task("b", seq: 2, after: ["a"]), now: Self.t0)
        _ = s.admit(task("c", seq: 3, after: ["b"]), now: Self.t0)
        _ = drain(&s)
        #expect(s.finish(id("a"), state: .failed).cancelled == [id("b")])
        #expect(s.finish(id("b"), state: .cancelled).cancelled == [id("c")])
        #expect(s.finish(id("c"), state: .cancelled) == ([], []))
        #expect(s.entries.isEmpty)
    }

    @Test func finishingATaskNobodyWaitsFor() {
        var s = Scheduler()
        #expect(s.finish(id("nobody"), state: .succeeded) == ([], []))
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        _ = s.admit(task("b", seq: 2, after: ["a"]), now: Self.t0)
        // b is cancelled by a client before a ends: a's end must not resurrect it.
        _ = s.finish(id("b"), state: .cancelled)
        _ = drain(&s)
        #expect(s.finish(id("a"), state: .succeeded) == ([], []))
        #expect(s[id("b")] == nil)
        #expect(s.entries.isEmpty)
    }

    @Test func finishingAQueuedTaskDropsItFromTheReadyQueue() {
        var s = Scheduler()
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        _ = s.admit(task("b", seq: 2), now: Self.t0)
        _ = s.finish(id("a"), state: .cancelled)
        #expect(s.queuedCount == 1)
        #expect(drain(&s) == ["b"])
    }

    @Test func closesCycle() {
        var s = Scheduler()
        // A waits for B, which is not known yet.
        #expect(s.admit(task("A", seq: 1, after: ["B"]), now: Self.t0) == .pending)
        #expect(s.closesCycle(task("B", seq: 2, after: ["A"])))
        #expect(!s.closesCycle(task("B", seq: 2)))
        #expect(!s.closesCycle(task("C", seq: 2, after: ["A"])))
        // Longer: A → B → C → A.
        _ = s.admit(task("B", seq: 2, after: ["C"]), now: Self.t0)
        #expect(s.closesCycle(task("C", seq: 3, after: ["A"])))
        #expect(s.closesCycle(task("C", seq: 3, after: ["X", "B"])))
        #expect(!s.closesCycle(task("C", seq: 3, after: ["X"])))
        // A task waiting for itself is the smallest cycle.
        #expect(s.closesCycle(task("D", seq: 4, after: ["D"])))
    }

    @Test func closesCycleTerminatesOnADiamond() {
        var s = Scheduler()
        _ = s.admit(task("root", seq: 1, after: ["ext"]), now: Self.t0)
        _ = s.admit(task("l", seq: 2, after: ["root"]), now: Self.t0)
        _ = s.admit(task("r", seq: 3, after: ["root"]), now: Self.t0)
        _ = s.admit(task("join", seq: 4, after: ["l", "r"]), now: Self.t0)
        #expect(!s.closesCycle(task("tail", seq: 5, after: ["join", "l", "r", "root"])))
        #expect(s.closesCycle(task("ext", seq: 5, after: ["join"])))
    }

    @Test func requeuePutsARunningTaskBackInItsPlace() {
        var s = Scheduler()
        _ = s.admit(task("first", seq: 1), now: Self.t0)
        _ = s.admit(task("second", seq: 2), now: Self.t0)
        let started = s.nextToStart { _ in true }
        #expect(started == id("first"))
        var t = s[id("first")]!.task
        t.interruptions += 1
        s.requeue(t)
        #expect(s[id("first")]?.state == .queued)
        #expect(s[id("first")]?.task.interruptions == 1)
        #expect(s.counts() == [.pending: 0, .queued: 2, .running: 0])
        #expect(drain(&s) == ["first", "second"], "the requeued task keeps its seq, so its place")
    }

    @Test func deferUntilARetryDelay() {
        var s = Scheduler()
        _ = s.admit(task("flaky", seq: 1), now: Self.t0)
        _ = s.nextToStart { _ in true }
        var t = s[id("flaky")]!.task
        t.attempts = 1
        let retryAt = Self.t0.adding(seconds: 2)
        s.defer_(t, until: retryAt)
        #expect(s[id("flaky")]?.state == .pending)
        #expect(s[id("flaky")]?.notBefore == retryAt)
        #expect(s[id("flaky")]?.task.attempts == 1)
        #expect(s.nextToStart { _ in true } == nil)
        #expect(s.release(id("flaky"), now: Self.t0.adding(seconds: 1)) == false)
        #expect(s.release(id("flaky"), now: retryAt.adding(seconds: 0.001)) == true)
        #expect(drain(&s) == ["flaky"])
    }

    @Test func notBeforeOfARecoveredRetryIsHonouredAtAdmission() {
        var s = Scheduler()
        var t = task("retry", seq: 1)
        t.notBefore = Self.t0.adding(seconds: 5)
        #expect(s.admit(t, now: Self.t0) == .pending)
        // The later of run_after and not_before wins.
        var u = task("both", seq: 2, runAfter: Self.t0.adding(seconds: 9))
        u.notBefore = Self.t0.adding(seconds: 3)
        #expect(s.admit(u, now: Self.t0) == .pending)
        #expect(s[id("both")]?.notBefore == Self.t0.adding(seconds: 9))
    }

    @Test func updateKeepsStateAndPlace() {
        var s = Scheduler()
        _ = s.admit(task("a", seq: 1), now: Self.t0)
        var t = s[id("a")]!.task
        t.attempts = 2
        s.update(t)
        #expect(s[id("a")]?.task.attempts == 2)
        #expect(s[id("a")]?.state == .queued)
        s.update(task("ghost", seq: 9))
        #expect(s[id("ghost")] == nil, "update never admits")
        #expect(drain(&s) == ["a"])
    }

    @Test func counts() {
        var s = Scheduler()
        #expect(s.counts() == [.pending: 0, .queued: 0, .running: 0])
        _ = s.admit(task("p1", seq: 1, after: ["x"]), now: Self.t0)
        _ = s.admit(task("p2", seq: 2, runAfter: Self.t0.adding(seconds: 1)), now: Self.t0)
        _ = s.admit(task("q1", seq: 3), now: Self.t0)
        _ = s.admit(task("q2", seq: 4), now: Self.t0)
        _ = s.admit(task("r1", priority: 1, seq: 5), now: Self.t0)
        #expect(s.nextToStart { _ in true } == id("r1"))
        #expect(s.counts() == [.pending: 2, .queued: 2, .running: 1])
        #expect(s.queuedCount == 2)
        _ = s.finish(id("r1"), state: .succeeded)
        #expect(s.counts() == [.pending: 2, .queued: 2, .running: 0])
    }
}
