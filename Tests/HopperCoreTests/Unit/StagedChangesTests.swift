import Testing
@testable import HopperCore

/// `StagedChanges`, the pure value behind the group commit: order per
/// task, the shortcuts, and the seal a background sync puts on what it
/// covers. No files.
@Suite struct StagedChangesTests {
    let a = TaskID("a")!, b = TaskID("b")!

    func name(_ id: TaskID) -> FileName { Spool.taskFile(id) }

    @Test func changesComeOutInTheOrderAsked() {
        var staged = StagedChanges()
        staged.append(a, .place(temp: FileName("t1"), name: name(a), in: .queued))
        staged.append(b, .place(temp: FileName("t2"), name: name(b), in: .queued))
        staged.append(a, .move(name(a), from: .queued, to: .pending))
        #expect(staged.takeAll().map(\.change) == [
            .place(temp: FileName("t1"), name: name(a), in: .queued),
            .place(temp: FileName("t2"), name: name(b), in: .queued),
            .move(name(a), from: .queued, to: .pending),
        ])
        #expect(staged.isEmpty && staged.takeAll().isEmpty)
    }

    @Test func aSecondWriteCancelsTheFirstUnlessTheFirstIsSealed() {
        var staged = StagedChanges()
        #expect(staged.place(a, temp: FileName("t1"), as: name(a), in: .queued) == nil)
        #expect(staged.place(a, temp: FileName("t2"), as: name(a), in: .queued) == FileName("t1"))
        _ = staged.seal()
        // The sync under way covers t2, not t3: t2 must still be renamed when it returns.
        #expect(staged.place(a, temp: FileName("t3"), as: name(a), in: .queued) == nil)
        #expect(staged.temp(of: name(a), in: .queued, for: a) == FileName("t3"))
        #expect(staged.take(through: staged.sealed).map(\.change) == [.place(temp: FileName("t2"), name: name(a), in: .queued)])
        #expect(staged.isStaged(a))
        #expect(staged.takeAll().map(\.change) == [.place(temp: FileName("t3"), name: name(a), in: .queued)])
        #expect(!staged.isStaged(a))
    }

    @Test func aSealTakesWhatWasStagedBeforeItOnly() {
        var staged = StagedChanges()
        staged.append(a, .place(temp: FileName("t1"), name: name(a), in: .queued))
        let boundary = staged.seal()
        staged.append(b, .place(temp: FileName("t2"), name: name(b), in: .queued))
        staged.append(a, .retire(name(a), in: .running))
        #expect(staged.take(through: boundary).map(\.id) == [a])
        // Both still wait: a's removal, and b's write, for the next sync.
        #expect(staged.isStaged(a) && staged.isStaged(b))
        let next = staged.seal()
        #expect(staged.take(through: next).map(\.change) == [
            .place(temp: FileName("t2"), name: name(b), in: .queued), .retire(name(a), in: .running),
        ])
        #expect(staged.isEmpty)
    }

    @Test func aTaskTakenAheadOfItsSyncLeavesNothingBehindForIt() {
        var staged = StagedChanges()
        staged.append(a, .place(temp: FileName("t1"), name: name(a), in: .queued))
        staged.append(b, .place(temp: FileName("t2"), name: name(b), in: .queued))
        let boundary = staged.seal()
        // A start carries out a's changes before the sync returns.
        #expect(staged.take(a) == [.place(temp: FileName("t1"), name: name(a), in: .queued)])
        #expect(staged.take(through: boundary).map(\.id) == [b])
        #expect(staged.isEmpty)
    }

    @Test func aNewFileKeepsItsPlaceFromARemovalWaitingBeforeIt() {
        var staged = StagedChanges()
        staged.append(a, .retire(name(a), in: .running))
        _ = staged.seal()
        staged.append(a, .place(temp: FileName("t1"), name: name(a), in: .running))
        #expect(staged.takeAll().map(\.change) == [.place(temp: FileName("t1"), name: name(a), in: .running)])
    }

    @Test func aWriteRedirectedUnderASealLandsWhereItWasSent() {
        var staged = StagedChanges()
        staged.append(a, .place(temp: FileName("t1"), name: name(a), in: .pending))
        let boundary = staged.seal()
        #expect(staged.placesOnly(a, name(a), in: .pending))
        staged.redirect(a, to: .queued)
        #expect(staged.take(through: boundary).map(\.change) == [.place(temp: FileName("t1"), name: name(a), in: .queued)])
    }

    /// A task accepted and started while its first write is sealed, then
    /// retried: the retry's write cannot cancel the sealed one, so a move
    /// of the new version must not be taken for the only one (the crash
    /// suite found the task file left in both running/ and queued/).
    @Test func aWriteBehindASealedOneIsNotTheTasksOnlyVersion() {
        var staged = StagedChanges()
        staged.append(a, .place(temp: FileName("t1"), name: name(a), in: .running))
        _ = staged.seal()
        #expect(staged.place(a, temp: FileName("t2"), as: name(a), in: .running) == nil)
        #expect(!staged.placesOnly(a, name(a), in: .running))
        #expect(staged.placesOnly(b, name(b), in: .running) == false)
    }
}
