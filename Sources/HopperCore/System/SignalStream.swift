import CHopperShim
import Glibc

/// Signals bridged from the signal relay into an AsyncStream (`make`), or
/// handed to a handler on the poller thread (`subscribe`, what the daemon
/// uses: it runs no Swift concurrency at all).
///
/// Signals arrive through `SignalRelay`: a C handler and a pipe watched by
/// the poller thread, never a DispatchSource, whose handler on Linux can
/// strand a signal on a thread that blocks it (see `SignalRelay`).
///
/// - Important: a process-directed signal (kill(2) on the daemon's pid, what
///   an operator or init sends) always arrives. A thread-directed one (raise(3),
///   pthread_kill) arrives only when sent to a thread that does not block it;
///   libdispatch's worker threads, and so Swift's cooperative pool, block
///   nearly every signal, so raise(3) from async code is never seen.
public enum SignalStream {
    /// Returns a stream that yields each of `signals` as it arrives.
    ///
    /// Each signal's disposition is first set to SIG_IGN when it is SIG_DFL, so
    /// its default action cannot kill the daemon before the relay takes it
    /// over; SIGCHLD is left alone (ignoring it would discard children's
    /// statuses). Returns only once every signal is relayed, so no signal sent
    /// after it returns is lost. Signals of one kind that arrive together may be
    /// coalesced into one element. Ending the stream unsubscribes; the signals
    /// stay caught by the relay and then have no effect.
    public static func make(_ signals: [Signal]) -> AsyncStream<Signal> {
        let (stream, continuation) = AsyncStream.makeStream(of: Signal.self, bufferingPolicy: .unbounded)
        let subscriptions = subscribe(signals) { continuation.yield($0) }
        continuation.onTermination = { _ in unsubscribe(subscriptions) }
        return stream
    }

    /// What `make` does without the stream: `handler` runs on the poller
    /// thread for each of `signals` as it arrives (the daemon's loop, which
    /// runs no Swift concurrency, uses this). Same dispositions and same
    /// guarantee: no signal sent after it returns is lost.
    static func subscribe(_ signals: [Signal], _ handler: @escaping @Sendable (Signal) -> Void) -> [(Signal, UInt64)] {
        signals.map { signal in
            if signal != .child { ignoreIfDefault(signal) }
            return (signal, SignalRelay.shared.subscribe(signal) { handler(signal) })
        }
    }

    /// Ends what `subscribe` started; the signals stay caught by the relay.
    static func unsubscribe(_ subscriptions: [(Signal, UInt64)]) {
        for (signal, id) in subscriptions { SignalRelay.shared.unsubscribe(signal, id) }
    }

    /// signal(2) with SIG_IGN: the daemon ignores `signal` from now on (used for SIGPIPE,
    /// so that a write to a closed pipe fails with EPIPE instead of killing the daemon).
    ///
    /// - Important: never for SIGCHLD, and never for a signal a `make` stream
    ///   listens to: it would replace the relay's handler and the stream would
    ///   miss the signal whenever a thread that does not block it receives it.
    public static func ignore(_ signal: Signal) {
        precondition(signal != .child, "SIGCHLD must never be ignored: the kernel would reap children itself")
        _ = hopper_signal_ignore(signal.rawValue, 0)
    }

    /// signal(2) with SIG_IGN, only when the disposition is still SIG_DFL, so the
    /// relay's handler installed for an earlier stream stays in place.
    private static func ignoreIfDefault(_ signal: Signal) {
        _ = hopper_signal_ignore(signal.rawValue, 1)
    }
}
