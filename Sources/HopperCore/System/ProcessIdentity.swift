import Glibc

/// This process's effective user and group and its process group, read once.
/// Hopper never changes them (only its children do, between fork and exec),
/// so the system calls a file write or a spawn would make for them each time
/// (nine a task, measured) are made once.
public enum ProcessIdentity {
    public static let effectiveUID = UInt32(geteuid())
    public static let effectiveGID = getegid()
    public static let processGroup = getpgrp()
}
