/// What turns of the loop leave for after the sync that covers their
/// changes: their event lines, the completion hooks they made due, and a
/// snapshot of what status.json will say. The task store carries a turn's
/// changes out a sync later (`TaskStore.commit`, which numbers the batch
/// each turn's changes went with); nothing held may tell of them before.
///
/// A pure value: the caller says which batches are carried out, and
/// carries out what `release` hands back (writes the event lines through
/// the count given, starts the hooks, publishes the snapshot).
///
/// | call                                    | held                                             | returns / `released`                    |
/// |-----------------------------------------|--------------------------------------------------|-----------------------------------------|
/// | `hold(batch b, …)`, last held is not b  | the turn appended                                | —                                       |
/// | `hold(batch b, …)`, last held is b      | joined: hooks added after the last's, events and snapshot the newer | —                       |
/// | `release(carriedOut c)`                 | every turn with batch ≤ c removed, in order      | their hooks in order, the last one's events; `released` its snapshot |
/// | `release(carriedOut c)`, none ≤ c       | unchanged                                        | no hooks, no events; `released` unchanged |
struct SyncHolds<Hook, Snapshot> {
    struct Turn {
        var batch: UInt64
        /// The event lines to write once released: those appended before this count (`EventLog.appended`).
        var events: Int
        var hooks: [Hook]
        var snapshot: Snapshot
    }

    /// What a `release` hands back to carry out.
    struct Release {
        var hooks: [Hook] = []
        /// Write the event lines appended before this count; nil: none to write.
        var eventsThrough: Int?
    }

    private(set) var turns: [Turn] = []
    /// The snapshot of the last turn released: what may be published.
    private(set) var released: Snapshot

    init(released: Snapshot) { self.released = released }

    var isEmpty: Bool { turns.isEmpty }

    /// Holds a turn's events (appended before `events`), hooks and snapshot until `batch` is carried out.
    mutating func hold(batch: UInt64, events: Int, hooks: [Hook], snapshot: Snapshot) {
        var turn = Turn(batch: batch, events: events, hooks: hooks, snapshot: snapshot)
        guard let last = turns.last, last.batch == batch else { turns.append(turn); return }
        turn.hooks = last.hooks + hooks
        turns[turns.count - 1] = turn
    }

    /// Releases every turn whose batch is carried out (`carriedOut` and before).
    mutating func release(carriedOut: UInt64) -> Release {
        var release = Release()
        var count = 0
        for turn in turns {
            guard turn.batch <= carriedOut else { break }
            release.hooks += turn.hooks
            release.eventsThrough = turn.events
            released = turn.snapshot
            count += 1
        }
        if count > 0 { turns.removeFirst(count) }
        return release
    }
}
