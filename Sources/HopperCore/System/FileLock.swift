import CHopperShim
import Glibc

/// An exclusive advisory lock (flock(2)) held for as long as the descriptor
/// stays open: the kernel drops it when the holder dies, however it dies.
public struct FileLock: Sendable {
    public let descriptor: FileDescriptor

    /// Tries to take the lock on `path` (created if missing) without waiting;
    /// nil when another process holds it.
    public static func tryAcquire(_ path: String) throws(SystemError) -> FileLock? {
        let fd = try retryingInterrupts("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = Errno.current
            if err == .interrupted { continue }
            Glibc.close(fd)
            if err == .wouldBlock { return nil }
            throw SystemError("flock", path, errno: err)
        }
        return FileLock(descriptor: FileDescriptor(rawValue: fd))
    }

    /// Whether some process holds the lock on `path` (false when it does not exist).
    public static func isHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return false }
        defer { Glibc.close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return Errno.current == .wouldBlock
    }

    /// The pid of the process holding an flock(2) lock on `path` now, from
    /// /proc/locks (matched by the file's device and inode), or nil.
    public static func holder(_ path: String) -> ProcessID? {
        var st = stat()
        guard stat(path, &st) == 0, let table = try? AtomicFile.read(path: "/proc/locks", limit: 1 << 20) else { return nil }
        // "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF": MAJOR:MINOR in hex, the inode in decimal.
        let major = hopper_major(UInt64(st.st_dev)), minor = hopper_minor(UInt64(st.st_dev))
        for line in table.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = pid_t(fields[4]) else { continue }
            let id = fields[5].split(separator: ":")
            guard id.count == 3, UInt32(id[0], radix: 16) == major, UInt32(id[1], radix: 16) == minor,
                  UInt64(id[2]) == UInt64(st.st_ino) else { continue }
            return ProcessID(rawValue: pid)
        }
        return nil
    }

    /// Writes `text` (the holder's pid) into the lock file for operators.
    public func record(_ text: String) {
        _ = ftruncate(descriptor.rawValue, 0)
        _ = Array(text.utf8).withUnsafeBytes { pwrite(descriptor.rawValue, $0.baseAddress, $0.count, 0) }
    }

    public func release() { descriptor.close() }
}
