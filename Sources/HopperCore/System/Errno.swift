import Glibc

/// An `errno` value captured from a failed system call.
public struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    ///
    /// - Important: read it in the same statement as the failing call; any
    ///   intervening call may overwrite it.
    public static var current: Errno { Errno(rawValue: errno) }

    public var description: String { String(cString: strerror(rawValue)) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let noEntry = Errno(rawValue: ENOENT)
    public static let exists = Errno(rawValue: EEXIST)
    public static let noChild = Errno(rawValue: ECHILD)
    public static let noProcess = Errno(rawValue: ESRCH)
    public static let tooManyLinks = Errno(rawValue: ELOOP)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    public static let notEmpty = Errno(rawValue: ENOTEMPTY)

    /// Out of descriptors, memory or processes for now: worth trying again
    /// later, never a verdict on the file or task at hand.
    public var isResourceExhaustion: Bool {
        [EMFILE, ENFILE, ENOMEM, EAGAIN, ENOBUFS].contains(rawValue)
    }
}

/// A failed system call: which call, on what, and the errno it returned.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public let call: String
    public let subject: String?
    public let errno: Errno

    public init(_ call: String, _ subject: String? = nil, errno: Errno) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    /// Whether fsync(2), fdatasync(2) or syncfs(2) failed. The kernel may then
    /// have dropped the dirty pages and will not report it again, so a retry
    /// could succeed on data that is gone: never a passing shortage.
    public var isSyncFailure: Bool { call == "fsync" || call == "fdatasync" || call == "syncfs" }

    public var description: String {
        if let subject { return "\(call) \(subject): \(errno)" }
        return "\(call): \(errno)"
    }
}

/// Runs a system call until it stops failing with `EINTR`.
///
/// Returns the call's result when it is not -1; otherwise throws a
/// `SystemError` naming `call` and `subject` with the errno of that very call.
@inline(__always)
public func retryingInterrupts<T: FixedWidthInteger>(
    _ call: String, _ subject: @autoclosure () -> String? = nil, _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let err = Errno.current
        if err == .interrupted { continue }
        throw SystemError(call, subject(), errno: err)
    }
}
