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

    /// The mode to create the file with (the umask can only narrow it).
    public static let mode: mode_t = 0o640

    /// fchown(2), as root for another user only: no system call otherwise.
    /// A failure leaves the file the daemon's, mode 0640.
    public func apply(to fd: FileDescriptor) {
        if let owner, ProcessIdentity.effectiveUID == 0, owner != ProcessIdentity.effectiveUID {
            _ = fchown(fd.rawValue, owner, ProcessIdentity.effectiveGID)
        }
    }
}
