/// A parser of one agent CLI's output: events in, the task's outcome out
/// (SPEC section 7a). One conforming type per CLI.
///
/// Adapters are pure values: no clock, no I/O. The runner feeds each line
/// of stdout and stderr and finally the exit status, passing the wall-clock
/// time so relative reset times (`retry in 37s`) can be placed; `consume`
/// returns the outcome once it is decided, and nil until then.
///
/// - Per-task CLIs (one process per task) decide at `.exited`, except where
///   the CLI is known to hang after a fatal error (opencode), where the
///   adapter decides at the error so the runner can end the process.
/// - Session CLIs (Claude Code, Amp) decide at the result line of the turn
///   Hopper sent, and keep state across tasks (a running cost total); the
///   runner calls `beginTask()` before writing each prompt. An `.exited`
///   while a task is open decides it as failed.
///
/// After an outcome, further events of that task are ignored until the next
/// `beginTask()`.
public protocol AgentAdapter: Sendable {
    /// A new task starts (its prompt is about to be written or passed).
    mutating func beginTask()
    /// Takes one event; returns the task's outcome once it is decided.
    mutating func consume(_ event: AgentEvent, now: Timestamp) -> AgentOutcome?
}
