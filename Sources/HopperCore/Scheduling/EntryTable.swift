/// The scheduler's entries by task id, stored densely.
///
/// A hash table keeps between a quarter and five eighths of its buckets
/// empty, and a `[TaskID: Entry]` pays a whole entry (a few hundred bytes) for
/// each empty bucket: with 100,000 queued tasks that was most of the daemon's
/// memory. Here the table maps an id to a slot (8 bytes a bucket) and the
/// entries sit in one array; removal moves the last entry into the hole
/// (and repoints its slot, found by the entry's own task id).
public struct EntryTable: Sendable {
    public typealias Entry = Scheduler.Entry
    private var slots: [TaskID: Int] = [:]
    private var values: [Entry] = []

    public var isEmpty: Bool { values.isEmpty }

    public subscript(_ id: TaskID) -> Entry? {
        get { slots[id].map { values[$0] } }
        set {
            // Removal finds a moved entry's slot by the entry's own id.
            precondition(newValue.map { $0.task.id == id } ?? true, "an entry is stored under its own task's id")
            guard let slot = slots[id] else {
                guard let newValue else { return }
                slots[id] = values.count
                values.append(newValue)
                return
            }
            if let newValue {
                values[slot] = newValue
                return
            }
            let last = values.count - 1
            if slot != last {
                values.swapAt(slot, last)
                slots[values[slot].task.id] = slot
            }
            values.removeLast()
            slots[id] = nil
        }
    }
}
