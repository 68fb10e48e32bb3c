import Testing
@testable import HopperCore

/// `DeadlineTable`: earliest first, ties in arming order, nothing handed back
/// before its instant, and the dead dropped only when the table has doubled.
@Suite struct DeadlineTableTests {
    static func at(_ seconds: Int64) -> MonotonicInstant { MonotonicInstant(nanoseconds: 1_000_000_000 * (1000 + seconds)) }
    static func alwaysLive(_: Deadline) -> Bool { true }

    @Test func earliestFirstAndTiesInArmingOrder() {
        var table = DeadlineTable()
        table.arm(at: Self.at(5), .publish, isLive: Self.alwaysLive)
        table.arm(at: Self.at(2), .retention, isLive: Self.alwaysLive)
        table.arm(at: Self.at(5), .shutdown, isLive: Self.alwaysLive)
        table.arm(at: Self.at(5), .retryRecords, isLive: Self.alwaysLive)
        #expect(table.next == Self.at(2))
        var fired: [Deadline.Action] = []
        while let due = table.takeDue(now: Self.at(10)) { fired.append(due.action) }
        #expect(fired == [.retention, .publish, .shutdown, .retryRecords])
        #expect(table.next == nil)
    }

    @Test func nothingIsHandedBackBeforeItsInstant() {
        var table = DeadlineTable()
        table.arm(at: Self.at(3), .publish, isLive: Self.alwaysLive)
        let oneBefore = MonotonicInstant(nanoseconds: Self.at(3).nanoseconds - 1)
        #expect(table.takeDue(now: oneBefore) == nil)
        #expect(table.count == 1)
        #expect(table.takeDue(now: Self.at(3))?.action == .publish)
        #expect(table.takeDue(now: Self.at(3)) == nil)
    }

    @Test func theDeadAreDroppedOnlyWhenTheTableHasDoubled() {
        var table = DeadlineTable()
        let task = TaskID("t")!
        // Attempt numbers below 100 are over: their timeouts are dead.
        let isLive: (Deadline) -> Bool = { if case .terminate(_, let n) = $0.action { n >= 100 } else { true } }
        for n in 0..<DeadlineTable.minimumCompactAt {
            table.arm(at: Self.at(300), .terminate(task, attempt: n), isLive: isLive)
        }
        #expect(table.count == DeadlineTable.minimumCompactAt, "no look before the compaction size")
        #expect(table.compactAt == DeadlineTable.minimumCompactAt)
        table.arm(at: Self.at(1), .publish, isLive: isLive)
        // 100 ... 1023 survive (924), then the new one.
        #expect(table.count == 925)
        #expect(table.compactAt == 2 * 924, "twice the live ones")
        #expect(table.takeDue(now: Self.at(1))?.action == .publish)
        var left: [Int] = []
        while let due = table.takeDue(now: Self.at(300)) {
            if case .terminate(_, let n) = due.action { left.append(n) }
        }
        #expect(left == Array(100..<DeadlineTable.minimumCompactAt), "the live ones, still in arming order")
    }

    @Test func theCompactionSizeFollowsTheLiveOnes() {
        var table = DeadlineTable()
        let task = TaskID("t")!
        for n in 0..<3000 {
            table.arm(at: Self.at(300), .terminate(task, attempt: n), isLive: Self.alwaysLive)
        }
        // All live: looked at 1024 (→ 2048) and at 2048 (→ 4096).
        #expect(table.count == 3000)
        #expect(table.compactAt == 4096)
    }

    @Test func neverBelowTheMinimum() {
        var table = DeadlineTable()
        for n in 0...DeadlineTable.minimumCompactAt {
            table.arm(at: Self.at(300), .terminate(TaskID("t")!, attempt: n), isLive: { _ in false })
        }
        #expect(table.count == 1, "all dead dropped, the new one kept")
        #expect(table.compactAt == DeadlineTable.minimumCompactAt)
    }
}
