import CHopperShim
import Dispatch
import Glibc
import Synchronization

/// Delivers signals to in-process subscribers, whichever thread the kernel picks.
///
/// Why not just a DispatchSource: on Linux, libdispatch reads signals from a
/// signalfd on its manager thread, which sees only signals pending for the
/// whole process or for that thread. On the first source for a signal it
/// installs a handler that, on whichever thread catches the signal, blocks it
/// there and re-sends it with pthread_kill to the thread that *created* that
/// first source — in a Swift program usually a cooperative-pool worker, which
/// blocks the signal, so the signal stays pending on that worker and the
/// signalfd never sees it. A thread with an empty mask always exists (the main
/// thread parks in sigsuspend after dispatchMain), so signals are regularly
/// caught that way and lost; with SIGCHLD, the last child's exit goes unnoticed.
///
/// So each relayed signal gets both:
/// - a DispatchSource signal source, for a signal left pending process-wide
///   (when every thread blocks it, the signalfd is the only way to see it);
/// - then, replacing libdispatch's handler, an async-signal-safe C handler
///   (`hopper_signal_relay_install`) that marks the signal pending and writes a
///   byte to a non-blocking pipe, watched by the `Poller`.
/// Each delivery is consumed by exactly one of the two paths; both end in
/// `fanOut`, on the poller thread, so subscribers must be quick and must not
/// block. Like signals themselves, deliveries of one signal that arrive
/// together may be coalesced into one call.
///
/// - Important: a relayed signal's disposition must not be changed afterwards
///   (SIG_IGN or another handler would bypass the relay).
final class SignalRelay: Sendable {
    static let shared = SignalRelay()

    typealias Handler = @Sendable () -> Void

    /// Where libdispatch's signal sources fire and report registration; never
    /// blocked, so `subscribe` may wait for a registration from any thread.
    private let sourceQueue = DispatchQueue(label: "hopper.signal-sources")
    private let wakeRead: FileDescriptor
    private let wakeWrite: FileDescriptor
    /// The dispatch sources of relayed signals, kept alive for the process's life.
    private let installed = Mutex<[Int32: SignalSourceBox]>([:])
    private let subscribers = Mutex<Subscribers>(Subscribers())

    private struct Subscribers {
        var bySignal: [Int32: [UInt64: Handler]] = [:]
        var nextID: UInt64 = 0
    }

    private init() {
        var fds: [Int32] = [-1, -1]
        let (made, error) = (hopper_pipe2(&fds, O_NONBLOCK | O_CLOEXEC), Errno.current)
        precondition(made == 0, "pipe2 for the signal relay failed: \(error)")
        wakeRead = FileDescriptor(rawValue: fds[0])
        wakeWrite = FileDescriptor(rawValue: fds[1])
        let wakeRead = self.wakeRead
        let poller = Poller.shared
        // Level-triggered: a byte written before the registration is seen right after it.
        poller.execute {
            _ = poller.register(wakeRead, .readable) { _ in
                SignalRelay.drain(wakeRead)
                for signo in Int32(1)..<65 where hopper_signal_relay_take(signo) != 0 {
                    SignalRelay.shared.fanOut(signo)
                }
            }
        }
    }

    /// Calls `handler` on the poller thread each time `signal` arrives, from the moment this returns.
    ///
    /// Returns an id for `unsubscribe`. The first subscription to a signal
    /// installs the relay for it (see the type's documentation) and waits
    /// for libdispatch to register its source.
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

    /// Installs the dispatch source and then the C handler for `signo`, once.
    private func install(_ signo: Int32) {
        installed.withLock { installed in
            guard installed[signo] == nil else { return }
            let source = DispatchSource.makeSignalSource(signal: signo, queue: sourceQueue)
            source.setEventHandler { Poller.shared.execute { SignalRelay.shared.fanOut(signo) } }
            let registered = DispatchSemaphore(value: 0)
            source.setRegistrationHandler { registered.signal() }
            source.resume()
            registered.wait()
            // libdispatch installed its forwarding handler while registering; replace it.
            let (result, error) = (hopper_signal_relay_install(signo, wakeWrite.rawValue), Errno.current)
            precondition(result == 0, "sigaction(\(signo)) for the signal relay failed: \(error)")
            installed[signo] = SignalSourceBox(source)
        }
    }

    /// Runs every handler subscribed to `signo`, outside the lock.
    private func fanOut(_ signo: Int32) {
        let handlers = subscribers.withLock { Array(($0.bySignal[signo] ?? [:]).values) }
        for handler in handlers { handler() }
    }

    /// read(2) on the wake pipe until EAGAIN; the bytes only mean "look at the pending marks".
    private static func drain(_ fd: FileDescriptor) {
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        while true {
            let (count, error) = (withUnsafeMutableBytes(of: &buffer) { read(fd.rawValue, $0.baseAddress, $0.count) }, Errno.current)
            if count > 0 || (count == -1 && error == .interrupted) { continue }
            return
        }
    }
}

/// Keeps a dispatch signal source alive.
///
/// `@unchecked Sendable`: dispatch sources are thread-safe objects; the box
/// only holds the reference and is never mutated.
struct SignalSourceBox: @unchecked Sendable {
    let source: any DispatchSourceSignal
    init(_ source: any DispatchSourceSignal) { self.source = source }
}
