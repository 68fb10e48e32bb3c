import CHopperShim
import Glibc
import Synchronization

/// How a child ended.
public enum ExitStatus: Sendable, Equatable {
    case exited(Int32)
    case signaled(Signal)

    /// Decodes a wait(2) status of a terminated child (never a stopped or continued one).
    init(waitStatus status: Int32) {
        if hopper_wait_signaled(status) != 0 {
            self = .signaled(Signal(rawValue: hopper_wait_term_signal(status)))
        } else {
            self = .exited(hopper_wait_exit_code(status))
        }
    }
}

/// The process-wide child reaper: the only code in the daemon that waits for children.
///
/// SIGCHLD, delivered through `SignalRelay` (a C handler and a pipe, see
/// there) on the poller thread, drives a
/// `wait4(-1, WNOHANG)` loop there; each
/// reaped status goes to the handlers registered for that pid, or is kept
/// until one registers. Subscribing before or after the child exits is
/// therefore equally safe.
///
/// - Important: it reaps every child of the process (`wait4(-1)`), so nothing
///   else in the process may wait for children: not Foundation.Process, and not
///   Swift Testing's exit tests (`#expect(processExitsWith:)`), which hang once
///   the reaper has started in the same test process.
/// - Important: never set SIGCHLD to SIG_IGN (or SA_NOCLDWAIT): the kernel would
///   then reap children itself and every status would be lost. The relay's
///   handler keeps the default zombie behaviour that `wait4` relies on.
public final class Reaper: Sendable {
    public static let shared = Reaper()

    typealias Handler = @Sendable (ExitStatus) -> Void

    /// The pids someone waits for, and the statuses nobody has claimed yet.
    private struct Table {
        var handlers: [pid_t: [Handler]] = [:]
        var unclaimed = UnclaimedStatuses(limit: 4096)
    }

    private let table = Mutex(Table())
    private let isStarted = Atomic<Bool>(false)
    /// Held while subscribing, so that a concurrent `start()` waits until SIGCHLD is relayed.
    private let subscription = Mutex<UInt64?>(nil)

    private init() {}

    /// Starts relaying SIGCHLD to the reaper (idempotent, thread-safe), then
    /// reaps whatever exited before that. Returns once no exit can go unnoticed.
    ///
    /// - Important: call it before the first spawn. `onExit` calls it too, as a safety net.
    public func start() {
        if isStarted.load(ordering: .acquiring) { return }
        subscription.withLock { subscription in
            guard subscription == nil else { return }
            // On the poller thread, like the handlers' own work: no hand-off between exit and handler.
            subscription = SignalRelay.shared.subscribe(.child) { Reaper.shared.reapAll() }
        }
        // A SIGCHLD from before the relay was live was discarded (SIG_DFL); sweep once.
        reapAll()
        isStarted.store(true, ordering: .releasing)
    }

    /// Calls `handler` exactly once with the child's status, whether the child
    /// exited before or after this call: on the poller thread, or at once on
    /// the caller's thread when the child was already reaped. Handlers must be
    /// quick and must not block (they run between the poller's events).
    ///
    /// - Important: each status is handed out once. Every handler registered
    ///   before the child is reaped gets it; after that, the first registration
    ///   claims the kept status and a later one for the same pid is never called.
    ///   Unclaimed statuses are kept up to 4096, oldest dropped first: register
    ///   for every child you spawn, or a later child reusing that pid would be
    ///   reported with the stale status.
    public func onExit(_ pid: ProcessID, _ handler: @escaping @Sendable (ExitStatus) -> Void) {
        start()
        let status = table.withLock { table -> ExitStatus? in
            if let status = table.unclaimed.claim(pid.rawValue) { return status }
            table.handlers[pid.rawValue, default: []].append(handler)
            return nil
        }
        if let status { handler(status) }
    }

    /// Whether someone waits for `pid`: a child Hopper started itself, as
    /// opposed to an orphan the daemon adopted.
    public func isAwaited(_ pid: ProcessID) -> Bool {
        table.withLock { $0.handlers[pid.rawValue] != nil }
    }

    /// Suspends until the child `pid` has exited, and returns its status.
    ///
    /// - Important: not cancellable; the wait ends when the child does, so
    ///   cancel by killing the child's process group.
    public func waitForExit(_ pid: ProcessID) async -> ExitStatus {
        await withCheckedContinuation { continuation in
            onExit(pid) { continuation.resume(returning: $0) }
        }
    }

    /// wait4(2) with WNOHANG until no terminated child is left (0) or there are no children (ECHILD).
    private func reapAll() {
        while true {
            var status: Int32 = 0
            let pid: pid_t
            do {
                pid = try retryingInterrupts("wait4") { wait4(-1, &status, WNOHANG, nil) }
            } catch {
                return  // ECHILD: no children at all; nothing else is expected from wait4.
            }
            if pid == 0 { return }
            deliver(pid, ExitStatus(waitStatus: status))
        }
    }

    /// Hands `status` to the handlers waiting for `pid`, outside the lock, or keeps it.
    private func deliver(_ pid: pid_t, _ status: ExitStatus) {
        let handlers = table.withLock { table -> [Handler] in
            if let handlers = table.handlers.removeValue(forKey: pid) { return handlers }
            table.unclaimed.insert(pid, status)
            return []
        }
        for handler in handlers { handler(status) }
    }
}
