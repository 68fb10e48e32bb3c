/// What an agent CLI's process does, as an adapter sees it: one line of its
/// standard output or standard error (without the newline), or its end.
///
/// Lines arrive in the order the runner read them; stdout and stderr are
/// separate pipes, so their relative order is only approximate.
public enum AgentEvent: Sendable, Equatable {
    case stdout(String)
    case stderr(String)
    case exited(ExitStatus)
}
