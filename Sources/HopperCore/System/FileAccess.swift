import Glibc

/// Who may read a file Hopper writes for a task's owner: the owner, and the
/// daemon's group; nobody else. Mode 0640, owned by the task's owner and the
/// daemon's group when the daemon runs as root (it may give files away);
/// otherwise owned by the daemon's user, readable by its group.
public struct FileAccess: Sendable, Equatable {
    /// The uid the file should belong to; nil: the daemon's own user.
    public var owner: UInt32?

    public init(owner: UInt32?) {
        self.owner = owner
    }

    /// fchmod(2) and, as root for another user, fchown(2). Failures leave the
    /// file as it was created, with a mode that is never wider than 0644.
    public func apply(to fd: FileDescriptor) {
        _ = fchmod(fd.rawValue, 0o640)
        if let owner, geteuid() == 0, owner != geteuid() {
            _ = fchown(fd.rawValue, owner, getegid())
        }
    }
}
