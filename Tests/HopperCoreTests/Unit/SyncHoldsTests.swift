import Testing
@testable import HopperCore

/// `SyncHolds`: nothing a turn held is handed back before the batch its
/// changes went with is carried out; turns come back in order; a turn that
/// shares the last one's batch joins it.
@Suite struct SyncHoldsTests {
    typealias Holds = SyncHolds<String, Int>

    @Test func nothingBeforeItsBatchIsCarriedOut() {
        var holds = Holds(released: 0)
        holds.hold(batch: 3, events: 5, hooks: ["a"], snapshot: 1)
        let early = holds.release(carriedOut: 2)
        #expect(early.hooks.isEmpty)
        #expect(early.eventsThrough == nil)
        #expect(holds.released == 0)
        #expect(!holds.isEmpty)
        let due = holds.release(carriedOut: 3)
        #expect(due.hooks == ["a"])
        #expect(due.eventsThrough == 5)
        #expect(holds.released == 1)
        #expect(holds.isEmpty)
    }

    @Test func turnsComeBackInOrderUpToTheBatchCarriedOut() {
        var holds = Holds(released: 0)
        holds.hold(batch: 1, events: 2, hooks: ["a"], snapshot: 10)
        holds.hold(batch: 2, events: 4, hooks: ["b", "c"], snapshot: 20)
        holds.hold(batch: 3, events: 9, hooks: ["d"], snapshot: 30)
        let release = holds.release(carriedOut: 2)
        #expect(release.hooks == ["a", "b", "c"])
        #expect(release.eventsThrough == 4, "the last released turn's lines")
        #expect(holds.released == 20)
        #expect(holds.turns.map(\.batch) == [3])
    }

    @Test func aTurnOfTheSameBatchJoinsTheLast() {
        var holds = Holds(released: 0)
        holds.hold(batch: 7, events: 1, hooks: ["a"], snapshot: 1)
        holds.hold(batch: 7, events: 3, hooks: ["b"], snapshot: 2)
        #expect(holds.turns.count == 1)
        let release = holds.release(carriedOut: 7)
        #expect(release.hooks == ["a", "b"])
        #expect(release.eventsThrough == 3)
        #expect(holds.released == 2, "the newer snapshot")
    }

    @Test func aTurnWithNothingInItStillMovesTheSnapshot() {
        var holds = Holds(released: 0)
        holds.hold(batch: 1, events: 0, hooks: [], snapshot: 5)
        let release = holds.release(carriedOut: 1)
        #expect(release.hooks.isEmpty)
        #expect(release.eventsThrough == 0)
        #expect(holds.released == 5)
    }
}
