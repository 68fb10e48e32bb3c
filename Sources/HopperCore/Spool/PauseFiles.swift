import Glibc

/// The files of `spool/paused/` (SPEC section 12): an empty file per paused
/// provider, named after it, or `ALL`. They are the whole state of a pause:
/// `hopper pause` creates them, `hopper resume` removes them, `touch` and
/// `rm` do the same by hand, with or without a daemon, and a restart finds
/// them where they are. The daemon only reads the directory.
///
/// A name counts when it is `ALL` or a valid provider name (the charset of
/// task ids); names starting with `.` and anything else are ignored.
public enum PauseFiles {
    public static let directoryName = "paused"

    public static func path(_ spool: String) -> String { spool + "/" + directoryName }

    /// What the daemon watches in paused/: a file appearing (`touch`,
    /// rename) or going (`rm`, rename away).
    public static let watchMask = InotifyMask.create | InotifyMask.movedTo | InotifyMask.delete | InotifyMask.movedFrom | InotifyMask.onlyDir

    /// The valid names in paused/; empty when it does not exist.
    /// `owners`: the uids whose pause files count (SPEC section 13: root and
    /// the daemon's user); nil counts every file.
    public static func list(_ spool: String, owners: Set<UInt32>? = nil) -> Set<String> {
        guard let dir = try? Directory.open(path(spool)) else { return [] }
        defer { dir.close() }
        return Set(((try? dir.entries()) ?? []).compactMap { name in
            guard let text = name.string, isValid(text) else { return nil }
            if let owners {
                guard let st = (try? dir.status(name)) ?? nil, owners.contains(UInt32(st.st_uid)) else { return nil }
            }
            return text
        })
    }

    public static func isValid(_ name: String) -> Bool { name == PauseSwitch.all || TaskID(name) != nil }

    /// Creates paused/ if missing and an empty file for each name.
    public static func pause(_ names: [String], spool: String) throws(SystemError) {
        try Directory.create(path(spool), mode: 0o755)
        let dir = try Directory.open(path(spool))
        defer { dir.close() }
        for name in names {
            let fd = try dir.openFile(FileName(name), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, mode: 0o644)
            fd.close()
        }
    }

    /// Removes the file of each name; a name not paused is no error.
    public static func resume(_ names: [String], spool: String) throws(SystemError) {
        guard let dir = try? Directory.open(path(spool)) else { return }
        defer { dir.close() }
        for name in names {
            do { try dir.remove(FileName(name)) } catch where error.errno == .noEntry {}
        }
    }
}
