import Testing
@testable import HopperCore

struct HookQueueTests {
    func job(_ id: String) -> HookQueue.Job { .init(id: TaskID(id)!, state: .succeeded, provider: "sh") }

    @Test func atMostLimitRunInOrderAndEachRecordOnce() {
        var q = HookQueue(limit: 2)
        #expect(q.due(job("a")) == [job("a")])
        #expect(q.due(job("b")) == [job("b")])
        #expect(q.due(job("c")) == [], "two run already")
        #expect(q.due(job("d")) == [])
        #expect(q.due(job("c")) == [], "already waiting")
        #expect(q.due(job("a")) == [], "already running")
        #expect(q.finished(TaskID("b")!) == [job("c")])
        #expect(q.finished(TaskID("zz")!) == [], "not running")
        #expect(q.setLimit(3) == [job("d")])
        #expect(!q.isIdle)
        for id in ["a", "c", "d"] { #expect(q.finished(TaskID(id)!) == []) }
        #expect(q.isIdle)
        #expect(q.due(job("a")) == [job("a")], "a later due of the same task runs again")
    }
}
