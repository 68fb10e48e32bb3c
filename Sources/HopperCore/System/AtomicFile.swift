import Glibc
import Synchronization

/// Whole-file reads and write-then-rename writes.
public enum AtomicFile {
    /// Reads the file at `path`, failing with EFBIG past `limit` bytes.
    public static func read(path: String, limit: Int = 64 << 20) throws(SystemError) -> [UInt8] {
        let fd = try retryingInterrupts("open", path) { open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) }
        let descriptor = FileDescriptor(rawValue: fd)
        defer { descriptor.close() }
        return try descriptor.readAll(limit: limit, subject: path)
    }

    /// Reads `name` in `directory`; nil when it does not exist.
    public static func read(_ name: FileName, in directory: Directory, limit: Int = 64 << 20) throws(SystemError) -> [UInt8]? {
        let fd: FileDescriptor
        do { fd = try directory.openFile(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY) } catch where error.errno == .noEntry { return nil }
        defer { fd.close() }
        return try fd.readAll(limit: limit, subject: directory.subject(name))
    }

    /// Writes `bytes` to a fresh temporary name in `scratch`, fsyncs it when
    /// `sync` is set, and renames it to `name` in `target`, replacing what was
    /// there. Readers of `target` see the old file or the new one, never part.
    /// `private`: mode 0640, and owned by `owner` (with the process's group)
    /// when the process may give files away (root).
    public static func write(_ bytes: [UInt8], to name: FileName, in target: Directory, scratch: Directory, sync: Bool,
                             private: FileAccess? = nil) throws(SystemError) {
        let temp = try writeTemporary(bytes, for: name, in: scratch, sync: sync, private: `private`)
        do {
            try scratch.rename(temp, to: target, as: name)
        } catch {
            try? scratch.remove(temp)
            throw error
        }
    }

    /// The first half of `write`: `bytes` in a fresh temporary name for
    /// `name` in `scratch` (fdatasync'ed when `sync` is set), whose name it
    /// returns. The caller renames it into place, or removes it. Nothing is
    /// left behind when it throws.
    public static func writeTemporary(_ bytes: [UInt8], for name: FileName, in scratch: Directory, sync: Bool = false,
                                      private: FileAccess? = nil) throws(SystemError) -> FileName {
        let temp = FileName(bytes: name.bytes + Array(".\(processID).\(nextSerial()).tmp".utf8))
        let fd = try scratch.openFile(temp, O_WRONLY | O_CREAT | O_EXCL, mode: `private` == nil ? 0o644 : FileAccess.mode)
        defer { fd.close() }
        do {
            if let access = `private` { access.apply(to: fd) }
            try fd.writeAll(bytes, subject: scratch.subject(temp))
            if sync { _ = try retryingInterrupts("fdatasync", scratch.subject(temp)) { fdatasync(fd.rawValue) } }
        } catch {
            try? scratch.remove(temp)
            throw error
        }
        return temp
    }

    /// Writes `bytes` to `path` outside any spool (a report page): to a
    /// temporary name beside it, then rename(2), so a browser or web server
    /// reading `path` sees the old file or the new one, never part.
    public static func replace(path: String, _ bytes: [UInt8]) throws(SystemError) {
        let temp = path + ".\(processID).\(nextSerial()).tmp"
        let fd = try retryingInterrupts("open", temp) { open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        let descriptor = FileDescriptor(rawValue: fd)
        do { try descriptor.writeAll(bytes, subject: temp) } catch {
            descriptor.close()
            unlink(temp)
            throw error
        }
        descriptor.close()
        guard rename(temp, path) == 0 else {
            let error = SystemError("rename", path, errno: .current)
            unlink(temp)
            throw error
        }
    }

    private static let serial = Atomic<UInt64>(0)
    /// Hopper never forks without exec, so its pid is read once.
    private static let processID = getpid()

    static func nextSerial() -> UInt64 { serial.wrappingAdd(1, ordering: .relaxed).newValue }
}
