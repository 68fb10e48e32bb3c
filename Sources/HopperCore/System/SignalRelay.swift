import CHopperShim
import Glibc
import Synchronization

/// Delivers signals to in-process subscribers, whichever thread the kernel picks.
///
/// An async-signal-safe C handler (`hopper_signal_relay_install`) marks the
/// signal pending and writes a byte to a non-blocking pipe; the `Poller`
/// watches the pipe and runs the subscribers of every marked signal on its
/// thread, so subscribers must be quick and must not block. Like signals
/// themselves, deliveries of one signal that arrive together may be coalesced
/// into one call.
///
/// A process-directed signal goes to one thread that does not block it. The
/// poller thread blocks none (it clears its mask when it starts) but
/// SIGCHLD once the reaper reads that from a signalfd (`Reaper`), so one
/// always exists, even in a process whose other threads are libdispatch
/// workers (which block nearly every signal).
///
/// Why not a DispatchSource: on Linux, libdispatch reads signals from a
/// signalfd on its manager thread, and on the first source for a signal it
/// installs a handler that re-sends the signal with pthread_kill to the thread
/// that created that first source — in a Swift program usually a
/// cooperative-pool worker that blocks it, where it stays pending and is
/// lost. Dispatch sources also start libdispatch's worker pool, whose monitor
/// wakes the process every second, which an idle daemon must not do.
///
/// - Important: a relayed signal's disposition must not be changed afterwards
///   (SIG_IGN or another handler would bypass the relay).
final class SignalRelay: Sendable {
    static let shared = SignalRelay()

    typealias Handler = @Sendable () -> Void

    private let wakeRead: FileDescriptor
    private let wakeWrite: FileDescriptor
    /// The signals whose handler is installed.
    private let installed = Mutex<Set<Int32>>([])
    private let subscribers = Mutex<Subscribers>(Subscribers())

    private struct Subscribers {
        var bySignal: [Int32: [UInt64: Handler]] = [:]
        var nextID: UInt64 = 0
    }

    private init() {
        do { (wakeRead, wakeWrite) = try FileDescriptor.makePipe(flags: O_NONBLOCK) } catch {
            preconditionFailure("pipe2 for the signal relay failed: \(error)")
        }
        let wakeRead = self.wakeRead
        let poller = Poller.shared
        // Level-triggered: a byte written before the registration is seen right after it.
        poller.execute {
            _ = poller.register(wakeRead, .readable) { _ in
                // The bytes only mean "look at the pending marks".
                wakeRead.discardAvailable()
                for signo in Int32(1)..<65 where hopper_signal_relay_take(signo) != 0 {
                    SignalRelay.shared.fanOut(signo)
                }
            }
        }
    }

    /// Calls `handler` on the poller thread each time `signal` arrives, from the moment this returns.
    ///
    /// Returns an id for `unsubscribe`. The first subscription to a signal
    /// installs the relay's handler for it.
    func subscribe(_ signal: Signal, _ handler: @escaping Handler) -> UInt64 {
        let id = subscribers.withLock { subscribers in
            subscribers.nextID += 1
            subscribers.bySignal[signal.rawValue, default: [:]][subscribers.nextID] = handler
            return subscribers.nextID
        }
        install(signal.rawValue)
        return id
    }

    /// Stops calling the handler `id`; the signal stays relayed (and so has no other effect).
    func unsubscribe(_ signal: Signal, _ id: UInt64) {
        subscribers.withLock { _ = $0.bySignal[signal.rawValue]?.removeValue(forKey: id) }
    }

    /// Installs the C handler for `signo`, once.
    private func install(_ signo: Int32) {
        installed.withLock { installed in
            guard !installed.contains(signo) else { return }
            let (result, error) = (hopper_signal_relay_install(signo, wakeWrite.rawValue), Errno.current)
            precondition(result == 0, "sigaction(\(signo)) for the signal relay failed: \(error)")
            installed.insert(signo)
        }
    }

    /// Runs every handler subscribed to `signo`, outside the lock.
    private func fanOut(_ signo: Int32) {
        let handlers = subscribers.withLock { Array(($0.bySignal[signo] ?? [:]).values) }
        for handler in handlers { handler() }
    }
}
