/// `hopper run --exit-when-idle`: when there is nothing left to do.
extension Daemon {
    /// Nothing pending (a `run_after`, a dependency or a retry delay keeps
    /// the daemon up), queued (paused ones included) or running; no record
    /// waiting to be written again; no completion hook due or running; no
    /// sync under way or owed; nothing claimed from incoming/ and not yet
    /// stored; and no file in incoming/ that intake would take (dot
    /// names, `.tmp` and `.part` are still being written by their client and
    /// do not count). Cheap while tasks remain: the directories are listed
    /// only once the counts are zero.
    func isIdle() -> Bool {
        guard attempts.isEmpty, unwrittenRecords.isEmpty, hooks.isIdle, hooksToStart.isEmpty,
              held.isEmpty, !store.awaitsSync else { return false }
        let counts = scheduler.counts()
        guard (counts[.pending] ?? 0) == 0, (counts[.queued] ?? 0) == 0, (counts[.running] ?? 0) == 0 else { return false }
        guard ((try? spool.claimed.entries()) ?? []).isEmpty else { return false }
        return !((try? spool[.incoming].entries()) ?? []).contains { !Intake.isIgnored($0) }
    }
}
