/// The one definition of a task's state: the directory its file sits in, or
/// the terminal state written in its record.
///
/// Legacy names (`processing`, `completed`, any letter case) are accepted when
/// reading; only the canonical names are ever written.
public enum TaskState: String, Sendable, CaseIterable, Hashable {
    case pending, queued, running
    case succeeded, failed, error, cancelled

    /// No further transition is possible: the task has its record in done/.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .error, .cancelled: true
        case .pending, .queued, .running: false
        }
    }

    /// The task's command is being run.
    public var isActive: Bool { self == .running }

    /// Reads a canonical or legacy state name, in any letter case.
    public init?(name: String) {
        switch name.lowercased() {
        case "processing": self = .running
        case "completed": self = .succeeded
        case let lowered: self.init(rawValue: lowered)
        }
    }

    /// Whether `name` is a legacy spelling that `hopper migrate` rewrites.
    public static func isLegacy(_ name: String) -> Bool {
        TaskState(rawValue: name) == nil && TaskState(name: name) != nil
    }

    /// The spool directory that holds tasks in this state.
    public var directory: SpoolDirectory {
        switch self {
        case .pending: .pending
        case .queued: .queued
        case .running: .running
        case .succeeded, .failed, .error, .cancelled: .done
        }
    }
}

/// Why a task reached its terminal state, as written in the record's `reason`.
public enum TerminalReason: String, Sendable {
    case exit, signal, timeout, auth, spawn, cwd, cancelled, dependency, expired, interrupted
    /// An agent CLI ran and did not do the task by its own account (SPEC section 7a):
    /// no final result, a final error, a turn limit or a reported denial.
    case agentError = "agent_error"
    /// Coalescing keys: `skip` found the key held; `replace` took the place of an unstarted task.
    case duplicateKey = "duplicate_key", replaced
}
