import Testing
@testable import HopperCore

/// The session pool: which sessions open, when, and what each event asks
/// the daemon to do. Plain values, instants passed in, no process.
@Suite struct SessionPoolTests {
    static let t0 = MonotonicInstant(nanoseconds: 9_000_000_000_000)
    static let wall = Timestamp(nanoseconds: 1_800_000_000_000_000_000)

    private func at(_ seconds: Double) -> MonotonicInstant { Self.t0.adding(seconds: seconds) }

    private func settings(threshold: Int = 2, cooldown: Double = 60) -> SessionPool.Settings {
        var c = Configuration()
        c.sessionIdleTimeout = 100
        c.sessionWarningBeforeTimeout = 10
        c.sessionMaxLifetime = 1000
        c.authMaxAttempts = 2
        c.authRetryDelay = Backoff(delays: [1, 2])
        c.circuitFailureThreshold = threshold
        c.circuitCooldown = cooldown
        return SessionPool.Settings(c)
    }

    private let providers: [String: Provider] = {
        var shell = Provider(name: "shell", mode: .session, command: ["/bin/sh"], maxSessions: 2)
        shell.env = [("A", "1")]
        var ctx = Provider(name: "ctx", mode: .exec, command: ["/bin/sh", "-c", "{command}"], maxSessions: 1)
        ctx.auth = Provider.Auth()
        ctx.auth?.command = ["true"]
        return ["shell": shell, "ctx": ctx]
    }()

    private func lane(_ provider: String, _ owner: UInt32? = 1000) -> Lane { Lane(provider: provider, owner: owner) }

    /// The ids of the sessions `actions` opened.
    private func opened(_ actions: [SessionPool.Action]) -> [String] {
        actions.compactMap { if case .opened(let s) = $0 { s.id } else { nil } }
    }

    /// A pool with one ready session of `provider` for `owner`; returns its id.
    private func ready(_ pool: inout SessionPool, _ provider: String, owner: UInt32? = 1000) -> String {
        let id = opened(pool.open(for: [lane(provider, owner)], providers: providers, budget: 1, now: Self.t0, wallNow: Self.wall))[0]
        let actions = pool.authenticated(provider, id, token: nil, now: Self.t0)
        if case .startProcess? = actions.first { _ = pool.processStarted(provider, id, now: Self.t0) }
        return id
    }

    @Test func opensOneSessionPerProviderAtATime() {
        var pool = SessionPool(settings: settings())
        let first = pool.open(for: [lane("shell"), lane("shell", 1001), lane("ctx")], providers: providers, budget: 5, now: Self.t0, wallNow: Self.wall)
        let ids = opened(first)
        #expect(ids.count == 2, "one for shell, one for ctx: never two opening for one provider")
        guard case .authenticate(let s, let attempt)? = first.dropFirst().first else { Issue.record("no authentication asked"); return }
        #expect(attempt == 1 && s.owner == 1000 && s.hasProcess && s.context.map(\.0) == ["A"])
        #expect(pool[("shell")]?.sessions.count == 1)
        #expect(opened(pool.open(for: [lane("shell", 1001)], providers: providers, budget: 5, now: Self.t0, wallNow: Self.wall)).isEmpty,
                "still one opening")
    }

    @Test func theBudgetBoundsOpenings() {
        var pool = SessionPool(settings: settings())
        #expect(opened(pool.open(for: [lane("shell"), lane("ctx")], providers: providers, budget: 1, now: Self.t0, wallNow: Self.wall)).count == 1)
        #expect(opened(pool.open(for: [lane("shell")], providers: providers, budget: 0, now: Self.t0, wallNow: Self.wall)).isEmpty)
    }

    @Test func aSessionServesItsOwnerOnly() {
        var pool = SessionPool(settings: settings())
        let id = ready(&pool, "shell", owner: 1000)
        #expect(pool.hasIdle(lane("shell", 1000)))
        #expect(!pool.hasIdle(lane("shell", 1001)))
        #expect(pool.assign(lane("shell", 1001), task: TaskID("t1")!, now: at(1)) == nil)
        let s = pool.assign(lane("shell", 1000), task: TaskID("t1")!, now: at(1))
        #expect(s?.id == id && s?.task == TaskID("t1") && s?.tasksRun == 1 && s?.lifecycle.state == .busy)
        #expect(!pool.hasIdle(lane("shell", 1000)), "busy now")
        #expect(pool.release("shell", id, now: at(2)).isEmpty, "the timer armed at 90 s stays: it comes early and is armed again")
        #expect(pool.hasIdle(lane("shell", 1000)))
        let early = pool.tick("shell", id, armedAt: at(90), now: at(90))
        guard case .tick(_, _, let when)? = early.first, early.count == 1 else { Issue.record("\(early)"); return }
        #expect(when == at(2 + 90), "the idle warning 10 s before the 100 s idle timeout, counted from the task's end")
    }

    @Test func aThousandTasksArmOneTimer() {
        var pool = SessionPool(settings: settings())
        let id = ready(&pool, "shell")
        var ticks = 0
        for i in 0..<1000 {
            _ = pool.assign(lane("shell"), task: TaskID("t\(i)")!, now: at(Double(i) / 100))
            ticks += pool.release("shell", id, now: at(Double(i) / 100)).count { if case .tick = $0 { true } else { false } }
        }
        #expect(ticks == 0)
        #expect(pool.tick("shell", id, armedAt: at(5), now: at(5)).isEmpty, "a tick nobody armed is ignored")
    }

    @Test func anIdleSessionIsWarnedThenClosed() {
        var pool = SessionPool(settings: settings())
        let id = ready(&pool, "shell")
        let warned = pool.tick("shell", id, armedAt: at(90), now: at(90))
        guard case .warnIdle? = warned.first, case .tick(_, _, let next)? = warned.last else { Issue.record("\(warned)"); return }
        #expect(next == at(100))
        let closing = pool.tick("shell", id, armedAt: at(100), now: at(100))
        guard case .terminate("shell", id)? = closing.first else { Issue.record("\(closing)"); return }
        #expect(pool.session("shell", id)?.lifecycle.state == .closing, "kept until its process has exited")
        guard case .closed(_, _, "idle")? = pool.exited("shell", id).first else { Issue.record("no closed"); return }
        #expect(pool.session("shell", id) == nil)
    }

    @Test func aContextWithoutProcessGoesAtOnce() {
        var pool = SessionPool(settings: settings())
        let id = ready(&pool, "ctx")
        guard case .closed(_, _, "lifetime")? = pool.close("ctx", id, reason: .lifetime).first else { Issue.record("not closed at once"); return }
        #expect(pool.session("ctx", id) == nil)
    }

    @Test func aProcessExitNobodyAskedForIsACrash() {
        var pool = SessionPool(settings: settings())
        let id = ready(&pool, "shell")
        guard case .closed(_, _, "crashed")? = pool.exited("shell", id).first else { Issue.record("not a crash"); return }
    }

    @Test func theTokenJoinsTheContextAndASessionModeProviderWaitsForItsProcess() {
        var pool = SessionPool(settings: settings())
        let id = opened(pool.open(for: [lane("shell")], providers: providers, budget: 1, now: Self.t0, wallNow: Self.wall))[0]
        let actions = pool.authenticated("shell", id, token: (name: "TOKEN", value: "s3cret"), now: Self.t0)
        guard case .startProcess(let s)? = actions.first else { Issue.record("\(actions)"); return }
        #expect(s.context.map(\.0) == ["A", "TOKEN"])
        #expect(!pool.hasIdle(lane("shell")), "not ready before its process is up")
        let failed = pool.processFailed("shell", id, message: "cannot start /bin/sh: ENOENT", now: Self.t0)
        guard case .closed(_, _, "crashed")? = failed.first else { Issue.record("\(failed)"); return }
        #expect(pool["shell"]?.lastAuthError == "cannot start /bin/sh: ENOENT")
        #expect(pool["shell"]?.breaker.consecutiveFailures == 1)
    }

    @Test func authenticationRetriesThenGivesUpAndOpensTheCircuit() {
        var pool = SessionPool(settings: settings(threshold: 1, cooldown: 60))
        let id = opened(pool.open(for: [lane("ctx")], providers: providers, budget: 1, now: Self.t0, wallNow: Self.wall))[0]
        let failure = AuthenticationPolicy.AttemptResult.failed(exitCode: nil, timedOut: true, message: "")
        let first = pool.authFailed("ctx", id, attempt: failure, message: "timed out", now: Self.t0)
        guard case .authFailed(_, _, true, "timed out")? = first.first, case .retryAuth(_, _, 1)? = first.last else {
            Issue.record("\(first)"); return
        }
        let second = pool.authFailed("ctx", id, attempt: failure, message: "timed out", now: at(1))
        #expect(second.contains { if case .closed(_, _, "auth") = $0 { true } else { false } })
        #expect(second.contains { if case .circuit(_, .opened(until: at(61))) = $0 { true } else { false } })
        guard case .wake(_, let wakeAt)? = second.last else { Issue.record("no wake: \(second)"); return }
        #expect(wakeAt == at(61))
        #expect(pool["ctx"]?.authFailures == 2 && pool.session("ctx", id) == nil)
        // While open: nothing opens, and the wake is asked for once only.
        #expect(pool.open(for: [lane("ctx")], providers: providers, budget: 1, now: at(2), wallNow: Self.wall).isEmpty)
        // After the cooldown: half-open, one trial session.
        guard case .circuit(_, .halfOpened)? = pool.wake("ctx", now: at(61)).first else { Issue.record("not half-open"); return }
        #expect(opened(pool.open(for: [lane("ctx")], providers: providers, budget: 1, now: at(61), wallNow: Self.wall)).count == 1)
    }

    @Test func maxSessionsIsNeverPassed() {
        var pool = SessionPool(settings: settings())
        _ = ready(&pool, "shell", owner: 1)
        _ = ready(&pool, "shell", owner: 2)
        _ = pool.assign(lane("shell", 1), task: TaskID("a")!, now: Self.t0)
        _ = pool.assign(lane("shell", 2), task: TaskID("b")!, now: Self.t0)
        #expect(opened(pool.open(for: [lane("shell", 3)], providers: providers, budget: 4, now: Self.t0, wallNow: Self.wall)).isEmpty)
    }

    @Test func shutdownClosesEverySession() {
        var pool = SessionPool(settings: settings())
        _ = ready(&pool, "shell")
        _ = ready(&pool, "ctx")
        let actions = pool.closeAll()
        #expect(actions.count == 3, "a kill for the process, a closed for each")
        #expect(pool.providers.values.allSatisfy { $0.sessions.isEmpty })
    }

    @Test func aReloadReachesOpenSessions() {
        var pool = SessionPool(settings: settings())
        let id = ready(&pool, "shell")
        var wider = settings(threshold: 9)
        wider.idleTimeout = 500
        #expect(pool.update(wider).isEmpty, "the timer armed at 90 s comes early and is armed again")
        #expect(pool["shell"]?.breaker.failureThreshold == 9)
        var shorter = wider
        shorter.idleTimeout = 50
        let actions = pool.update(shorter)
        guard case .tick(_, id, let when)? = actions.first else { Issue.record("\(actions)"); return }
        #expect(when == at(40), "an earlier deadline arms its own timer")
        #expect(pool.tick("shell", id, armedAt: at(90), now: at(90)).isEmpty, "the superseded timer is ignored")
    }
}
