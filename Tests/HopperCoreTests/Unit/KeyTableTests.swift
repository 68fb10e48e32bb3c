import Testing
@testable import HopperCore

/// Coalescing keys in the pure scheduler: one task per key runs at a time,
/// in acceptance order, and the decisions for skip and replace.
@Suite struct KeyTableTests {
    static let t0 = Timestamp(nanoseconds: 1_800_000_000_000_000_000)

    private func task(_ name: String, key: String?, _ onConflict: TaskRequest.OnConflict = .queue, seq: UInt64) -> SpooledTask {
        var request = TaskRequest(command: "echo \(name)")
        request.key = key.flatMap(TaskID.init)
        request.onConflict = onConflict
        return SpooledTask(id: TaskID(name)!, request: request, provider: "sh", source: "\(name).json", submittedAt: Self.t0, seq: seq)
    }


    @Test func tasksWithOneKeyRunOneAfterAnotherInAcceptanceOrder() {
        var s = Scheduler()
        #expect(s.admit(task("a", key: "k", seq: 1), now: Self.t0) == .queued)
        #expect(s.admit(task("b", key: "k", seq: 2), now: Self.t0) == .pending)
        #expect(s.admit(task("c", key: "k", seq: 3), now: Self.t0) == .pending)
        #expect(s.admit(task("free", key: nil, seq: 4), now: Self.t0) == .queued)
        #expect(s.admit(task("other", key: "k2", seq: 5), now: Self.t0) == .queued)
        var started: [String] = []
        while let next = s.nextToStart({ _ in true }) { started.append(next.rawValue) }
        #expect(started == ["a", "free", "other"])
        #expect(s.keys.line(TaskID("k")!).map(\.rawValue) == ["a", "b", "c"])
        // Whatever the holder's outcome, the next in line holds the key.
        #expect(s.finish(TaskID("a")!, state: .failed).queued.map(\.rawValue) == ["b"])
        #expect(s.nextToStart({ _ in true })?.rawValue == "b")
        #expect(s.nextToStart({ _ in true }) == nil, "c still waits")
        // A waiter that ends (cancelled) leaves the line without releasing anyone.
        #expect(s.finish(TaskID("c")!, state: .cancelled).queued.isEmpty)
        #expect(s.finish(TaskID("b")!, state: .succeeded).queued.isEmpty)
        #expect(s.keys.holder(TaskID("k")!) == nil)
        #expect(s.admit(task("d", key: "k", seq: 6), now: Self.t0) == .queued, "the key is free again")
    }

    @Test func skipAndReplaceDecisions() {
        var s = Scheduler()
        _ = s.admit(task("a", key: "k", seq: 1), now: Self.t0)
        _ = s.admit(task("b", key: "k", seq: 2), now: Self.t0)
        #expect(s.keyDecision(task("n", key: "k", .queue, seq: 3)) == .admit)
        #expect(s.keyDecision(task("n", key: "k", .skip, seq: 3)) == .skip(holder: TaskID("a")!))
        #expect(s.keyDecision(task("n", key: "k", .replace, seq: 3)) == .replace([TaskID("a")!, TaskID("b")!]))
        #expect(s.keyDecision(task("n", key: "free", .skip, seq: 3)) == .admit)
        #expect(s.keyDecision(task("n", key: nil, .skip, seq: 3)) == .admit)
        // Once the holder has started, replace only takes the unstarted waiters.
        var a = s[TaskID("a")!]!.task
        a.started = true
        s.update(a)
        #expect(s.keyDecision(task("n", key: "k", .replace, seq: 3)) == .replace([TaskID("b")!]))
        _ = s.finish(TaskID("b")!, state: .cancelled)
        #expect(s.keyDecision(task("n", key: "k", .replace, seq: 3)) == .admit, "a started holder alone: wait like queue")
        #expect(s.keyDecision(task("n", key: "k", .skip, seq: 3)) == .skip(holder: TaskID("a")!), "a started holder is still held")
    }

    @Test func withdrawingATaskFreesItsPlace() {
        var s = Scheduler()
        _ = s.admit(task("a", key: "k", seq: 1), now: Self.t0)
        s.withdraw(TaskID("a")!)
        #expect(s.keys.holder(TaskID("k")!) == nil)
        #expect(s.keys.count == 0)
    }

    @Test func requestsDecodeAndWriteKeyAndOnConflict() throws {
        let rules = TaskRequest.Rules(providers: nil, maxTimeout: 60)
        let r = try TaskRequest.parse(Array(#"{"command":"x","key":"nightly.sync","on_conflict":"replace"}"#.utf8), rules: rules)
        #expect(r.key == TaskID("nightly.sync") && r.onConflict == .replace)
        var w = JSONWriter()
        w.beginObject()
        r.write(to: &w)
        w.endObject()
        #expect(w.string == #"{"command":"x","key":"nightly.sync","on_conflict":"replace"}"#)
        #expect(try TaskRequest.parse(Array(#"{"command":"x"}"#.utf8), rules: rules).onConflict == .queue)
        for (bad, field) in [(#"{"command":"x","key":"a b"}"#, "key"), (#"{"command":"x","key":7}"#, "key"),
                             (#"{"command":"x","on_conflict":"drop"}"#, "on_conflict")] {
            #expect { try TaskRequest.parse(Array(bad.utf8), rules: rules) } throws: { ($0 as? HopperError)?.field == field }
        }
    }
}
