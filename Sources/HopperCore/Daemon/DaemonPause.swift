import Glibc

/// Pause and resume: the daemon's side of `spool/paused/`.
extension Daemon {
    /// Lists paused/ and applies what changed: a pause stops starts of the
    /// provider at once (`canStart` asks `pause`); a resume lets the rest of
    /// this turn start its tasks.
    func readPauseFiles() {
        // Only root's and the daemon user's pause files count: a submitter cannot stop everyone's work.
        for change in pause.observe(PauseFiles.list(spool.path, owners: [0, ProcessIdentity.effectiveUID])) {
            switch change {
            case .paused(let name):
                log.info("pause", name == PauseSwitch.all ? "paused: no task starts" : "paused: no task of this provider starts", [("provider", name)])
            case .resumed(let name):
                log.info("pause", "resumed", [("provider", name)])
            }
            published.changed = true
        }
    }
}
