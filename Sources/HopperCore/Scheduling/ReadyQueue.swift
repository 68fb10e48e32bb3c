/// Runnable tasks in the order they start: higher priority first, then
/// acceptance order. A binary heap; removal is lazy (the caller skips ids that
/// are no longer queued when they come out).
public struct ReadyQueue: Sendable {
    public struct Item: Sendable, Comparable {
        public var priority: Int
        public var seq: UInt64
        public var id: TaskID

        /// "Runs before".
        public static func < (a: Item, b: Item) -> Bool {
            a.priority != b.priority ? a.priority > b.priority : a.seq < b.seq
        }
    }

    private var heap = MinHeap<Item>()

    public init() {}

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }

    public mutating func push(_ item: Item) { heap.push(item) }
    public func peek() -> Item? { heap.peek() }
    public mutating func pop() -> Item? { heap.pop() }
}
