import Glibc

/// Cancel requests: files in cancel/, checked against the task's owner,
/// and the cancel of a task wherever it is.
extension Daemon {
    /// `cancel/<id>`: cancels that task wherever it is, then the file goes.
    func handleCancelFile(_ name: FileName) {
        if Intake.isIgnored(name) { return }
        defer { try? spool[.cancel].remove(name) }
        guard let text = name.string, let id = TaskID(text) else {
            log.warning("cancel", "ignoring a cancel request that is not a task id", [("file", name.escaped)])
            return
        }
        // The cancel file's owner must be the task's, root or the daemon's user.
        guard let st = (try? spool[.cancel].status(name)) ?? nil else { return }
        let requester = UInt32(st.st_uid)
        let task = attempts[id]?.task ?? scheduler[id]?.task
        if let taskOwner = task?.owner?.uid, !Daemon.mayCancel(requester: requester, taskOwner: taskOwner, daemonUID: ProcessIdentity.effectiveUID) {
            let who = owner(requester)
            log.warning("cancel", "refused a cancel by another user", [("id", id.rawValue), ("requester", who.description), ("owner", task!.owner!.description)])
            events.append("task.cancel_refused") { w in
                w.field("id", id.rawValue)
                w.key("requester")
                who.write(to: &w)
            }
            return
        }
        cancel(id)
    }

    /// Whether a cancel file owned by `requester` may cancel a task of `taskOwner`.
    static func mayCancel(requester: UInt32, taskOwner: UInt32, daemonUID: UInt32) -> Bool {
        requester == taskOwner || requester == 0 || requester == daemonUID
    }

    func cancel(_ id: TaskID) {
        if cancelSlurm(id) { return }
        if attempts[id] != nil {
            log.info("cancel", "cancelling a running task", [("id", id.rawValue)])
            stopAttempt(id, .cancel)
            return
        }
        guard let entry = scheduler[id] else {
            log.info("cancel", "no unfinished task has this id", [("id", id.rawValue)])
            return
        }
        finish(entry.task, from: entry.state.directory, state: .cancelled, reason: .cancelled, message: "Cancelled before it ran.")
    }
}
