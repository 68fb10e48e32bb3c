import Testing
@testable import HopperCore

/// The heap under the ready queue, and the queue's "runs before" order.
@Suite struct ReadyQueueTests {
    /// SplitMix64: a fixed seed gives the same "random" input on every run.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private func id(_ text: String) -> TaskID {
        guard let id = TaskID(text) else { preconditionFailure("bad test id \(text)") }
        return id
    }

    @Test(arguments: [1, 2, 3, 42])
    func heapPopsSortedOrder(seed: UInt64) {
        var rng = SeededGenerator(state: seed)
        var heap = MinHeap<Int>()
        var values: [Int] = []
        for _ in 0..<1000 {
            // A narrow range forces many duplicates.
            let v = Int.random(in: -300...300, using: &rng)
            values.append(v)
            heap.push(v)
        }
        #expect(heap.count == 1000)
        #expect(heap.peek() == values.min())
        var popped: [Int] = []
        while let v = heap.pop() { popped.append(v) }
        #expect(popped == values.sorted())
        #expect(heap.isEmpty && heap.pop() == nil && heap.peek() == nil)
    }

    @Test func heapInterleavedPushAndPop() {
        var rng = SeededGenerator(state: 7)
        var heap = MinHeap<Int>()
        var model: [Int] = []
        for _ in 0..<2000 {
            if model.isEmpty || Bool.random(using: &rng) {
                let v = Int.random(in: 0..<100, using: &rng)
                heap.push(v)
                model.append(v)
            } else {
                let smallest = model.min()!
                model.remove(at: model.firstIndex(of: smallest)!)
                #expect(heap.pop() == smallest)
            }
            #expect(heap.count == model.count)
        }
    }

    @Test func higherPriorityFirstThenSeq() {
        var q = ReadyQueue()
        let items: [ReadyQueue.Item] = [
            .init(priority: 0, seq: 5, id: id("e")), .init(priority: -1000, seq: 1, id: id("z")),
            .init(priority: 0, seq: 2, id: id("b")), .init(priority: 1000, seq: 9, id: id("top")),
            .init(priority: 0, seq: 3, id: id("c")), .init(priority: 7, seq: 8, id: id("p7")),
            .init(priority: 0, seq: 1, id: id("a")), .init(priority: 7, seq: 4, id: id("p7a")),
        ]
        for item in items { q.push(item) }
        #expect(q.count == items.count)
        #expect(q.peek()?.id == id("top"))
        var order: [String] = []
        while let item = q.pop() { order.append(item.id.rawValue) }
        #expect(order == ["top", "p7a", "p7", "a", "b", "c", "e", "z"])
        #expect(q.isEmpty)
    }

    @Test func equalPrioritiesRunInAcceptanceOrder() {
        var rng = SeededGenerator(state: 99)
        var q = ReadyQueue()
        let seqs = Array(UInt64(1)...500).shuffled(using: &rng)
        for s in seqs { q.push(.init(priority: 3, seq: s, id: id("t\(s)"))) }
        var out: [UInt64] = []
        while let item = q.pop() { out.append(item.seq) }
        #expect(out == Array(1...500))
    }

    @Test func itemOrderIsAStrictWeakOrder() {
        let a = ReadyQueue.Item(priority: 1, seq: 2, id: id("a"))
        let b = ReadyQueue.Item(priority: 1, seq: 3, id: id("b"))
        let c = ReadyQueue.Item(priority: 2, seq: 9, id: id("c"))
        #expect(a < b && !(b < a))
        #expect(c < a && !(a < c))
        #expect(!(a < a))
    }
}
