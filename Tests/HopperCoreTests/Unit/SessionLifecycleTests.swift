import Testing
@testable import HopperCore

/// One session's states and timers: idle warning, idle timeout, lifetime
/// retirement, and the deadline the daemon arms its one timer at.
@Suite struct SessionLifecycleTests {
    static let t0 = MonotonicInstant(nanoseconds: 7_000_000_000_000)

    /// `t0` plus `seconds`.
    private func at(_ seconds: Double) -> MonotonicInstant { Self.t0.adding(seconds: seconds) }

    private func nanosecond(before instant: MonotonicInstant) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: instant.nanoseconds - 1)
    }

    /// A session created at `t0` and ready at `readyAt`.
    private func ready(idle: Double = 5, warning: Double = 1, lifetime: Double = 3600, readyAt: Double = 0) -> SessionLifecycle {
        var l = SessionLifecycle(createdAt: Self.t0, idleTimeout: idle, warningBeforeTimeout: warning, maxLifetime: lifetime)
        l.authenticating()
        l.ready(now: at(readyAt))
        return l
    }

    /// `nextDeadline()` is exactly where `tick` starts returning an action:
    /// nothing a nanosecond before, the action at it. Checked on copies.
    private func expectDeadlineExact(_ l: SessionLifecycle, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let deadline = l.nextDeadline() else {
            var copy = l
            #expect(copy.tick(now: MonotonicInstant(nanoseconds: .max)) == nil, "no deadline but an action", sourceLocation: sourceLocation)
            return
        }
        var early = l, onTime = l
        #expect(early.tick(now: nanosecond(before: deadline)) == nil, "an action before the deadline", sourceLocation: sourceLocation)
        #expect(onTime.tick(now: deadline) != nil, "no action at the deadline", sourceLocation: sourceLocation)
    }

    @Test func startsThroughAuthenticationToIdle() {
        var l = SessionLifecycle(createdAt: Self.t0, idleTimeout: 5, warningBeforeTimeout: 1, maxLifetime: 60)
        #expect(l.state == .starting && !l.warned && l.lastActivity == Self.t0 && l.closeReason == nil)
        #expect(l.nextDeadline() == nil)
        #expect(l.tick(now: at(1000)) == nil, "no idle timer before the session is ready")
        l.authenticating()
        #expect(l.state == .authenticating)
        #expect(l.tick(now: at(1000)) == nil)
        l.ready(now: at(2))
        #expect(l.state == .idle && l.lastActivity == at(2))
        #expect(l.nextDeadline() == at(6))
        expectDeadlineExact(l)
    }

    /// The seed plan's Phase-1 flow, with seconds instead of minutes.
    @Test func phaseOneFlowWithShortTimeouts() {
        var l = ready(idle: 5, warning: 1, readyAt: 0)

        #expect(l.tick(now: at(3)) == nil, "before the warning")
        #expect(l.nextDeadline() == at(4))
        #expect(l.tick(now: at(4)) == .warnIdle)
        #expect(l.warned)
        #expect(l.tick(now: at(4)) == nil && l.tick(now: at(4.5)) == nil, "the warning is sent once")
        #expect(l.nextDeadline() == at(5))
        expectDeadlineExact(l)

        // Activity resets: a task clears the warning and stops the timers.
        l.taskStarted(now: at(4.5))
        #expect(l.state == .busy && !l.warned && l.lastActivity == at(4.5))
        #expect(l.nextDeadline() == nil)
        #expect(l.tick(now: at(100)) == nil, "busy sessions never time out here")

        // A new idle period starts when the task ends.
        #expect(l.taskFinished(now: at(200)) == nil)
        #expect(l.state == .idle && l.lastActivity == at(200))
        #expect(l.tick(now: at(203)) == nil)
        #expect(l.nextDeadline() == at(204))
        #expect(l.tick(now: at(204)) == .warnIdle)
        #expect(l.nextDeadline() == at(205))
        #expect(l.tick(now: at(205)) == .close(.idle))
        #expect(l.state == .closing && l.closeReason == .idle)
        #expect(l.tick(now: at(206)) == nil && l.nextDeadline() == nil, "the close is returned once")
    }

    @Test func aTaskBeforeTheWarningPostponesIt() {
        var l = ready(idle: 5, warning: 1)
        l.taskStarted(now: at(2))
        #expect(l.taskFinished(now: at(3)) == nil)
        #expect(l.tick(now: at(4)) == nil, "the old idle period's warning time passed unused")
        #expect(l.nextDeadline() == at(7))
        #expect(l.tick(now: at(7)) == .warnIdle)
    }

    @Test func aLateTickClosesWithoutAWarning() {
        var l = ready(idle: 5, warning: 1)
        #expect(l.tick(now: at(30)) == .close(.idle))
        #expect(!l.warned)
    }

    @Test func noWarningWhenItIsZero() {
        var l = ready(idle: 5, warning: 0)
        #expect(l.nextDeadline() == at(5))
        expectDeadlineExact(l)
        #expect(l.tick(now: at(4.999)) == nil)
        #expect(l.tick(now: at(5)) == .close(.idle))
    }

    @Test func retiredAfterItsCurrentTaskPastTheLifetime() {
        var l = ready(idle: 5, warning: 1, lifetime: 10)
        l.taskStarted(now: at(1))
        #expect(l.tick(now: at(50)) == nil, "never cut short in the middle of a task")
        #expect(l.state == .busy)
        #expect(l.taskFinished(now: at(50)) == .close(.lifetime))
        #expect(l.state == .closing && l.closeReason == .lifetime)
        #expect(l.nextDeadline() == nil)
    }

    @Test func aTaskEndingBeforeTheLifetimeKeepsTheSession() {
        var l = ready(idle: 5, warning: 1, lifetime: 10)
        l.taskStarted(now: at(1))
        #expect(l.taskFinished(now: at(9.5)) == nil)
        #expect(l.state == .idle)
        // Idle, it is retired when the lifetime ends, before its idle timeout.
        #expect(l.nextDeadline() == at(10))
        expectDeadlineExact(l)
        #expect(l.tick(now: at(10)) == .close(.lifetime))
    }

    @Test func warningThenLifetimeWhenTheLifetimeEndsInTheWarningWindow() {
        var l = ready(idle: 5, warning: 2, lifetime: 4)
        #expect(l.nextDeadline() == at(3))
        #expect(l.tick(now: at(3)) == .warnIdle)
        #expect(l.nextDeadline() == at(4))
        #expect(l.tick(now: at(4)) == .close(.lifetime))
    }

    @Test func noWarningWhenTheLifetimeEndsFirst() {
        var l = ready(idle: 5, warning: 1, lifetime: 3)
        #expect(l.nextDeadline() == at(3))
        expectDeadlineExact(l)
        #expect(l.tick(now: at(3)) == .close(.lifetime))
    }

    @Test func closingIsStickyAndKeepsTheFirstReason() {
        var l = ready()
        l.taskStarted(now: at(1))
        l.closing(.shutdown)
        #expect(l.state == .closing && l.closeReason == .shutdown)
        l.closing(.timeout)
        #expect(l.closeReason == .shutdown)
        #expect(l.taskFinished(now: at(2)) == nil)
        l.ready(now: at(2))
        l.taskStarted(now: at(2))
        #expect(l.state == .closing)
        #expect(l.tick(now: at(1000)) == nil && l.nextDeadline() == nil)
        l.closing(.idle)
        #expect(l.state == .closing && l.closeReason == .shutdown, "the first reason stays")
    }

    @Test(arguments: [SessionLifecycle.CloseReason.crashed, .auth, .timeout])
    func closingFromAnyLiveState(reason: SessionLifecycle.CloseReason) {
        var starting = SessionLifecycle(createdAt: Self.t0, idleTimeout: 5, warningBeforeTimeout: 1, maxLifetime: 60)
        starting.authenticating()
        starting.closing(reason)
        #expect(starting.state == .closing && starting.closeReason == reason)
        var busy = ready()
        busy.taskStarted(now: at(1))
        busy.closing(reason)
        #expect(busy.state == .closing && busy.closeReason == reason)
    }

    @Test func reloadMovesTheDeadlines() {
        var l = ready(idle: 5, warning: 1, lifetime: 3600)
        l.update(idleTimeout: 60, warningBeforeTimeout: 10, maxLifetime: 3600)
        #expect(l.nextDeadline() == at(50))
        #expect(l.tick(now: at(5)) == nil)
        l.update(idleTimeout: 2, warningBeforeTimeout: 1, maxLifetime: 3600)
        #expect(l.tick(now: at(5)) == .close(.idle), "a shorter timeout already past closes at the next tick")
    }

    /// The owner keeps every timer it arms until it comes (the daemon's
    /// deadline heap). Each task moves the idle deadline later; a timer a
    /// task used to arm stayed in the heap for the whole idle timeout, so a
    /// busy session filled the heap with one entry per task.
    @Test func aSessionRunningTaskAfterTaskHoldsOneTimer() {
        var l = ready(idle: 300, warning: 30)
        var timers: [MonotonicInstant] = []
        if let t = l.timerToArm() { timers.append(t) }
        #expect(timers == [at(270)])
        var lastEnd = at(0)
        for i in 1...10_000 {
            l.taskStarted(now: at(Double(i) / 100))
            #expect(l.timerToArm() == nil, "a busy session needs no timer")
            lastEnd = at(Double(i) / 100 + 0.005)
            #expect(l.taskFinished(now: lastEnd) == nil)
            if let t = l.timerToArm() { timers.append(t) }
        }
        #expect(timers == [at(270)], "one timer for 10,000 tasks, not one a task")
        // It comes early, finds nothing due, and is armed again at the deadline of then.
        #expect(l.timerFired(armedAt: at(270)) == true)
        #expect(l.armedTimer == nil)
        #expect(l.tick(now: at(270)) == nil)
        #expect(l.timerToArm() == lastEnd.adding(seconds: 270))
        #expect(l.timerToArm() == nil, "armed once")
        #expect(l.timerFired(armedAt: lastEnd.adding(seconds: 270)) == true)
        #expect(l.tick(now: lastEnd.adding(seconds: 270)) == .warnIdle)
        #expect(l.timerToArm() == lastEnd.adding(seconds: 300))
        #expect(l.timerFired(armedAt: lastEnd.adding(seconds: 300)) == true)
        #expect(l.tick(now: lastEnd.adding(seconds: 300)) == .close(.idle))
        #expect(l.timerToArm() == nil && l.armedTimer == nil, "a closing session needs no timer")
    }

    /// A timer that comes while a task runs is not armed again until the task ends.
    @Test func aTimerComingDuringATaskIsArmedAgainWhenTheTaskEnds() {
        var l = ready(idle: 5, warning: 1)
        #expect(l.timerToArm() == at(4))
        l.taskStarted(now: at(3))
        #expect(l.timerFired(armedAt: at(4)) == true)
        #expect(l.tick(now: at(4)) == nil)
        #expect(l.timerToArm() == nil)
        #expect(l.taskFinished(now: at(10)) == nil)
        #expect(l.timerToArm() == at(14))
    }

    /// A reload that brings the deadline forward arms an earlier timer; the
    /// later one it supersedes is ignored when it comes.
    @Test func anEarlierTimerSupersedesTheArmedOne() {
        var l = ready(idle: 60, warning: 0)
        #expect(l.timerToArm() == at(60))
        l.update(idleTimeout: 5, warningBeforeTimeout: 0, maxLifetime: 3600)
        #expect(l.timerToArm() == at(5))
        #expect(l.timerToArm() == nil)
        #expect(l.timerFired(armedAt: at(60)) == false, "not the session's timer")
        #expect(l.armedTimer == at(5))
        #expect(l.timerFired(armedAt: at(5)) == true)
        #expect(l.tick(now: at(5)) == .close(.idle))
        #expect(l.timerFired(armedAt: at(60)) == false, "the superseded timer, when it comes, is ignored")
    }

    /// Walks sessions through their whole life, ticking only at the armed
    /// deadline, and checks the deadline is exact at every step.
    @Test(arguments: [
        (5.0, 1.0, 3600.0), (5, 0, 3600), (300, 30, 3600), (5, 1, 12), (5, 2, 4), (5, 1, 3), (0.25, 0.1, 1),
    ])
    func nextDeadlineIsAlwaysExact(idle: Double, warning: Double, lifetime: Double) {
        var l = SessionLifecycle(createdAt: Self.t0, idleTimeout: idle, warningBeforeTimeout: warning, maxLifetime: lifetime)
        expectDeadlineExact(l)
        l.authenticating()
        expectDeadlineExact(l)
        l.ready(now: at(0.5))
        var now = at(0.5)
        var actions: [SessionLifecycle.Action] = []
        for step in 0..<20 {
            expectDeadlineExact(l)
            guard l.state == .idle, let deadline = l.nextDeadline() else { break }
            #expect(deadline > now || deadline == now)
            now = deadline
            guard let action = l.tick(now: now) else {
                Issue.record("no action at the deadline")
                break
            }
            actions.append(action)
            // Every other warning, a short task resets the idle period.
            if action == .warnIdle && step % 4 == 0 {
                l.taskStarted(now: now)
                expectDeadlineExact(l)
                now = now.adding(seconds: warning / 2)
                if let retired = l.taskFinished(now: now) {
                    actions.append(retired)
                    break
                }
            }
        }
        #expect(l.state == .closing)
        if case .close? = actions.last {} else { Issue.record("ended without a close: \(actions)") }
        #expect(actions.filter { if case .close = $0 { true } else { false } }.count == 1)
    }
}
