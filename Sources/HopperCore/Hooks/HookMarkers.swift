import Glibc

/// `.hopper/hooks/<id>`: one empty file per completion hook that is due and
/// has not run to its end yet. The daemon creates it just before it writes
/// the task's record and removes it when the hook has ended (whatever its
/// outcome), so a daemon that dies in between finds it at the next start
/// and runs the hook then: at least once, never lost to a crash. A marker
/// whose task has no record (the daemon died before writing it) is removed:
/// the task is unfinished and will mark its hook again when it ends.
///
/// Markers are not fsynced: after a power loss (rather than a crash of the
/// daemon alone) a hook that was due may be lost.
enum HookMarkers {
    static func path(_ spool: String) -> String { spool + "/.hopper/hooks" }

    static func open(_ spool: String) throws(SystemError) -> Directory {
        try Directory.create(path(spool))
        return try Directory.open(path(spool))
    }

    static func mark(_ id: TaskID, in dir: Directory) throws(SystemError) {
        let fd = try dir.openFile(FileName(id.rawValue), O_WRONLY | O_CREAT | O_NOFOLLOW, mode: 0o644)
        fd.close()
    }

    static func clear(_ id: TaskID, in dir: Directory) {
        try? dir.remove(FileName(id.rawValue))
    }

    /// The ids marked, in name order.
    static func list(_ dir: Directory) -> [TaskID] {
        ((try? dir.entries()) ?? []).compactMap { $0.string.flatMap(TaskID.init) }.sorted()
    }
}
