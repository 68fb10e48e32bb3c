/// What a turn leaves for after the sync that covers its changes: its
/// event lines, the completion hooks it made due, and the counters
/// status.json publishes. The store carries a turn's changes out a sync
/// later (`TaskStore.commit`); none of these may tell of them before.
extension Daemon {
    /// Holds the turn's event lines, due hooks and counters until `batch`
    /// (the one its commit returned) is carried out; a turn whose batch is
    /// the last one held joins it.
    func holdForSync(_ batch: UInt64) {
        var held = HeldForSync(batch: batch, events: events.appended, hooks: hooksToStart, stats: stats, counts: scheduler.counts())
        hooksToStart.removeAll()
        if let last = heldForSync.last, last.batch == batch {
            held.hooks = last.hooks + held.hooks
            heldForSync[heldForSync.count - 1] = held
        } else {
            heldForSync.append(held)
        }
    }

    /// After a commit: writes the event lines and starts the hooks of the
    /// turns whose changes the store has carried out, in turn order, and
    /// takes their counters for the next status.json.
    func releaseHeldForSync() {
        var through: Int?
        while let first = heldForSync.first, first.batch <= store.carriedOut {
            heldForSync.removeFirst()
            hooksToStart += first.hooks
            through = first.events
            carriedOutStats = first.stats
            carriedOutCounts = first.counts
            published.changed = true
        }
        startDueHooks()
        if let through { events.flush(through: through, reportingTo: log) }
    }
}
