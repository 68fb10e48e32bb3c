/// Feeds an agent CLI's output to its adapter as it is read: whole lines of
/// stdout and stderr, then the exit. The adapter decides; the tap keeps its
/// first outcome and says so once through `onDecided` (so a CLI known to
/// hang after a fatal error can be ended at once).
///
/// - Important: confined to the poller thread, where the pipes are read and
///   the daemon's loop runs.
public final class AgentTap: @unchecked Sendable {
    public enum Stream: Int, Sendable { case stdout, stderr }

    private var adapter: any AgentAdapter
    private var partial: [[UInt8]] = [[], []]
    /// The outcome of the current task, once decided.
    public private(set) var outcome: AgentOutcome?
    /// Called once when the adapter decides before the process has exited.
    public var onDecided: (@Sendable () -> Void)?
    /// Past this, a line is cut: no adapter needs more to judge one line.
    static let longestLine = 1 << 20

    /// A tap whose first task is open (a per-task CLI's only one).
    public init(_ adapter: any AgentAdapter) {
        self.adapter = adapter
        self.adapter.beginTask()
    }

    /// A new task starts in the same process (session CLIs): its outcome is open again.
    public func beginTask() {
        adapter.beginTask()
        outcome = nil
        partial = [[], []]
    }

    /// Bytes read from one of the streams.
    public func consume(_ stream: Stream, _ bytes: UnsafeRawBufferPointer) {
        var start = 0
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
            append(stream, UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
            line(stream)
            start = i + 1
        }
        if start < bytes.count { append(stream, UnsafeRawBufferPointer(rebasing: bytes[start...])) }
    }

    /// One whole line (without its newline), as a session process reads it.
    public func consumeLine(_ stream: Stream, _ text: String) {
        decide(stream == .stdout ? .stdout(text) : .stderr(text))
    }

    /// The process exited: unfinished lines count as lines, then the exit;
    /// returns the outcome (an adapter always decides at the exit).
    @discardableResult
    public func exited(_ status: ExitStatus) -> AgentOutcome {
        for stream in [Stream.stdout, .stderr] where !partial[stream.rawValue].isEmpty { line(stream) }
        decide(.exited(status))
        return outcome ?? AgentOutcome(.failed, message: "The agent exited (\(Daemon.describe(status))) without a final result.")
    }

    private func append(_ stream: Stream, _ bytes: UnsafeRawBufferPointer) {
        let room = Self.longestLine - partial[stream.rawValue].count
        if room > 0 { partial[stream.rawValue] += bytes.prefix(room) }
    }

    private func line(_ stream: Stream) {
        let text = String(decoding: partial[stream.rawValue], as: UTF8.self)
        partial[stream.rawValue].removeAll(keepingCapacity: true)
        consumeLine(stream, text)
    }

    private func decide(_ event: AgentEvent) {
        guard outcome == nil, let decided = adapter.consume(event, now: Timestamp.now()) else { return }
        outcome = decided
        if case .exited = event { return }
        onDecided?()
    }
}
