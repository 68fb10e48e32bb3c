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

    /// Writes `text` (the holder's pid) into the lock file for operators.
    public func record(_ text: String) {
        _ = ftruncate(descriptor.rawValue, 0)
        _ = Array(text.utf8).withUnsafeBytes { pwrite(descriptor.rawValue, $0.baseAddress, $0.count, 0) }
    }

    public func release() { descriptor.close() }
}
