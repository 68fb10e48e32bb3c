/// What a turn leaves for after the sync that covers its changes
/// (`SyncHolds`): its event lines, the completion hooks it made due, and
/// the counters status.json publishes. The store carries a turn's changes
/// out a sync later (`TaskStore.commit`); none of these may tell of them
/// before.
extension Daemon {
    /// Holds the turn's event lines, due hooks and counters until `batch`
    /// (the one its commit returned) is carried out.
    func holdForSync(_ batch: UInt64) {
        held.hold(batch: batch, events: events.appended, hooks: hooksToStart,
                  snapshot: StatusCounts(stats: stats, counts: scheduler.counts()))
        hooksToStart.removeAll()
    }

    /// After a commit: writes the event lines and starts the hooks of the
    /// turns whose changes the store has carried out, in turn order; their
    /// counters are what the next status.json says.
    func releaseHeldForSync() {
        let release = held.release(carriedOut: store.carriedOut)
        hooksToStart += release.hooks
        startDueHooks()
        // Something was released: the published counts moved.
        if let through = release.eventsThrough {
            published.changed = true
            events.flush(through: through, reportingTo: log)
        }
    }
}
