/// A child's exit status, latched from the shared reaper, for callers that
/// block (tools, tests) or peek rather than await.
public final class ExitLatch: Sendable {
    private let latch = Latch<ExitStatus>()

    /// Subscribes to `pid`'s exit; the reaper must be started.
    public init(_ pid: ProcessID) {
        let latch = self.latch
        Reaper.shared.onExit(pid) { latch.set($0) }
    }

    /// The status, or nil while the child runs.
    public var status: ExitStatus? { latch.current }

    /// Blocks until the child has exited.
    public func wait() -> ExitStatus { latch.wait() }
}
