import CHopperShim
import Glibc

/// A process id, or a process group id (a group's id is its leader's pid).
public struct ProcessID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: pid_t

    public init(rawValue: pid_t) { self.rawValue = rawValue }

    public var description: String { String(rawValue) }
}

/// A signal number.
public struct Signal: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let term = Signal(rawValue: SIGTERM)
    public static let kill = Signal(rawValue: SIGKILL)
    public static let interrupt = Signal(rawValue: SIGINT)
    public static let hangup = Signal(rawValue: SIGHUP)
    public static let child = Signal(rawValue: SIGCHLD)
    public static let pipe = Signal(rawValue: SIGPIPE)
    public static let quit = Signal(rawValue: SIGQUIT)
    public static let user1 = Signal(rawValue: SIGUSR1)

    /// The conventional name, e.g. "SIGTERM", from sigabbrev_np(3); "SIG<n>" for a number glibc does not name.
    public var name: String {
        guard let abbreviation = hopper_signal_abbreviation(rawValue) else { return "SIG\(rawValue)" }
        return "SIG" + String(cString: abbreviation)
    }

    public var description: String { name }
}
