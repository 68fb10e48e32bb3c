/// The scheduler's entries by task id, stored densely.
///
/// A hash table keeps between a quarter and five eighths of its buckets
/// empty, and a `[TaskID: Entry]` pays a whole entry (a few hundred bytes) for
/// each empty bucket: with 100,000 queued tasks that was most of the daemon's
/// memory. Here the table maps an id to a slot (8 bytes a bucket) and the
/// entries sit in one array; removal moves the last entry into the hole.
public struct EntryTable<Entry: Sendable>: Sendable {
    private var slots: [TaskID: Int] = [:]
    private var values: [Entry] = []
    /// The id of `values[i]`, to repoint its slot when it moves.
    private var ids: [TaskID] = []

    public var isEmpty: Bool { values.isEmpty }

    public subscript(_ id: TaskID) -> Entry? {
        get { slots[id].map { values[$0] } }
        set {
            guard let slot = slots[id] else {
                guard let newValue else { return }
                slots[id] = values.count
                values.append(newValue)
                ids.append(id)
                return
            }
            if let newValue {
                values[slot] = newValue
                return
            }
            let last = values.count - 1
            if slot != last {
                values.swapAt(slot, last)
                ids.swapAt(slot, last)
                slots[ids[slot]] = slot
            }
            values.removeLast()
            ids.removeLast()
            slots[id] = nil
        }
    }
}
