import Testing
@testable import HopperCore

/// `DropSettling` on its own: sightings in, actions out, to the nanosecond.
struct DropSettlingTests {
    let name = FileName("x.sh")
    let t0 = MonotonicInstant(nanoseconds: 1_000_000_000)
    func at(_ seconds: Double) -> MonotonicInstant { t0.adding(seconds: seconds) }

    @Test func aRenamedInFileIsTakenAtOnce() {
        var s = DropSettling(settle: 0.25)
        #expect(s.saw(name, .renamedIn, now: t0) == .take)
        #expect(s.count == 0)
    }

    @Test func aFileWrittenTwiceIsTakenOnceAfterTheLastClose() {
        var s = DropSettling(settle: 0.25)
        #expect(s.saw(name, .created, now: t0) == .wait(until: at(0.25)))
        #expect(s.saw(name, .opened, now: t0) == .none)
        // Still open at the first wait: not taken.
        #expect(s.due(name, now: at(0.25)) == .none)
        #expect(s.saw(name, .closedAfterWriting, now: at(0.3)) == .wait(until: at(0.55)))
        #expect(s.saw(name, .closedAfterWriting, now: at(0.4)) == .wait(until: at(0.65)))
        // The first close's wait comes and goes: the second restarted it.
        #expect(s.due(name, now: at(0.55)) == .none)
        #expect(s.due(name, now: at(0.65)) == .take)
        #expect(s.due(name, now: at(0.7)) == .none, "taken once")
        #expect(s.count == 0)
    }

    @Test func aLinkedFileSettlesFromItsCreation() {
        var s = DropSettling(settle: 0.25)
        #expect(s.saw(name, .created, now: t0) == .wait(until: at(0.25)))
        #expect(s.due(name, now: at(0.2)) == .none)
        #expect(s.due(name, now: at(0.25)) == .take)
    }

    @Test func anOpenOfASettlingFileDoesNotHoldItBack() {
        var s = DropSettling(settle: 0.25)
        _ = s.saw(name, .closedAfterWriting, now: t0)
        #expect(s.saw(name, .opened, now: at(0.1)) == .none)
        #expect(s.due(name, now: at(0.25)) == .take)
    }

    @Test func aRecentChangeWaitsOutTheRest() {
        var s = DropSettling(settle: 0.25)
        #expect(s.saw(name, .lastChanged(ago: 0.1), now: t0) == .wait(until: at(0.15)))
        #expect(s.due(name, now: at(0.15)) == .take)
        #expect(s.saw(name, .lastChanged(ago: 0.25), now: t0) == .take)
        #expect(s.saw(name, .lastChanged(ago: -3), now: t0) == .wait(until: at(0.25)), "a ctime in the future waits the whole settle")
    }

    @Test func aFileThatGoesIsForgotten() {
        var s = DropSettling(settle: 0.25)
        _ = s.saw(name, .created, now: t0)
        _ = s.saw(name, .opened, now: t0)
        #expect(s.saw(name, .gone, now: at(0.1)) == .none)
        #expect(s.count == 0)
        #expect(s.due(name, now: at(1)) == .none)
    }

    @Test func zeroSettleTakesAtTheNextTurn() {
        var s = DropSettling(settle: 0)
        #expect(s.saw(name, .closedAfterWriting, now: t0) == .wait(until: t0))
        #expect(s.due(name, now: t0) == .take)
    }
}
