import Glibc

/// The directories of a spool (SPEC section 1).
public enum SpoolDirectory: String, Sendable, CaseIterable {
    case incoming, pending, queued, running, done, rejected, cancel
}

/// An opened spool: one directory descriptor per spool directory, plus the
/// private `.hopper/` directory that holds the daemon lock and `tmp/`, where
/// every file is written before it is renamed into place.
///
/// Layout on disk:
/// ```
/// spool/incoming/ pending/ queued/ running/ done/ rejected/ cancel/ paused/ (see PauseFiles)
/// spool/events.jsonl  status.json  metrics.prom
/// spool/.hopper/lock  (flock held by the daemon)   spool/.hopper/tmp/   spool/.hopper/claimed/
/// ```
public struct Spool: Sendable {
    public let path: String
    public let root: Directory
    public let tmp: Directory
    /// Where intake moves a dropped file while it reads it, so a client that
    /// reuses the name at once cannot have its new file taken for the old.
    public let claimed: Directory
    private let directories: [Directory]

    public subscript(_ d: SpoolDirectory) -> Directory { directories[SpoolDirectory.allCases.firstIndex(of: d)!] }

    public static func lockPath(_ path: String) -> String { path + "/.hopper/lock" }

    /// The pid the daemon that took the lock of spool `path` wrote into it
    /// ("pid run-id"); nil when there is none. Says nothing of whether it still holds it.
    public static func recordedLockHolder(_ path: String) -> pid_t? {
        let text = (try? AtomicFile.read(path: lockPath(path), limit: 256)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.split(separator: " ").first.flatMap { pid_t($0) }
    }

    /// Creates every missing directory of the layout at `path`.
    public static func create(at path: String) throws(SystemError) {
        try Directory.create(path)
        for d in SpoolDirectory.allCases { try Directory.create(path + "/" + d.rawValue) }
        try Directory.create(path + "/.hopper/tmp")
        try Directory.create(path + "/.hopper/claimed")
        try Directory.create(PauseFiles.path(path))
    }

    /// Opens an existing spool; fails naming the first missing directory.
    public static func open(at path: String) throws(SystemError) -> Spool {
        let absolute = Spool.absolute(path)
        let root = try Directory.open(absolute)
        var opened: [Directory] = []
        for d in SpoolDirectory.allCases { opened.append(try Directory.open(absolute + "/" + d.rawValue)) }
        let tmp = try Directory.open(absolute + "/.hopper/tmp")
        let claimed = try Directory.open(absolute + "/.hopper/claimed")
        return Spool(path: absolute, root: root, tmp: tmp, claimed: claimed, directories: opened)
    }

    public func close() {
        root.close()
        tmp.close()
        claimed.close()
        for d in directories { d.close() }
    }

    /// `path` made absolute against the current directory, without resolving links.
    public static func absolute(_ path: String) -> String {
        var p = path
        if !p.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                p = (cwd == "/" ? "" : cwd) + "/" + p
            }
        }
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        if p.hasSuffix("/.") { p.removeLast(2) }
        return p
    }

    /// Whether a daemon holds this spool's lock.
    public static func isDaemonRunning(_ path: String) -> Bool { FileLock.isHeld(lockPath(path)) }

    /// The file names a task owns in a state directory.
    public static func taskFile(_ id: TaskID) -> FileName { FileName(id.rawValue + ".json") }
    public static func outputFile(_ id: TaskID) -> FileName { FileName(id.rawValue + ".out") }
    public static func errorFile(_ id: TaskID) -> FileName { FileName(id.rawValue + ".err") }
}
