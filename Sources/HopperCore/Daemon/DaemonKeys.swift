/// Coalescing keys at acceptance: the daemon's side of `KeyTable`.
extension Daemon {
    /// Places a newly accepted task after settling its key: `skip` ends it
    /// at once (`cancelled`, `duplicate_key`), `replace` first cancels the
    /// key's unstarted tasks (`replaced`), `queue` and a free key just
    /// place it (the scheduler makes it wait behind the holder). Returns
    /// false, as `place` does, when nothing could be stored.
    func admitNew(_ task: SpooledTask, now: Timestamp) -> Bool {
        switch scheduler.keyDecision(task) {
        case .admit:
            break
        case .skip(let holder):
            let key = task.request.key?.rawValue ?? ""
            log.info("keys", "skipped: the key is held", [("id", task.id.rawValue), ("key", key), ("holder", holder.rawValue)])
            return finish(task, from: nil, state: .cancelled, reason: .duplicateKey,
                          message: "Task \(holder) holds the key \(key), and on_conflict is skip.")
        case .replace(let victims):
            let key = task.request.key?.rawValue ?? ""
            // Waiters first, so that no victim is released to hold the key on the way.
            for victim in victims.reversed() {
                guard let entry = scheduler[victim] else { continue }
                log.info("keys", "replaced by a newer task with the same key", [("id", victim.rawValue), ("key", key), ("by", task.id.rawValue)])
                finish(entry.task, from: entry.state.directory, state: .cancelled, reason: .replaced,
                       message: "Replaced before it started by task \(task.id), which has the same key \(key).")
            }
        }
        return place(task, now: now, existing: nil)
    }
}
