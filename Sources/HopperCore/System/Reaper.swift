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

/// The process-wide child reaper: the only code in the process that waits for children.
///
/// An exit status goes to the process that produced it and to no other.
/// `Spawner.spawn` starts every child under the reaper's lock and registers
/// it, with the `ChildExit` that will carry its status, in the same critical
/// section; every `wait4` runs under that lock too. So a child is known
/// before it can be reaped, and a pid is reaped (and forgotten) before a
/// later child can be given it. A status is never looked up by pid after the
/// fact: there is no table of unclaimed statuses for a reused pid to find.
/// Any other child — an orphan the daemon adopted as a child subreaper — is
/// reaped and its status dropped.
///
/// SIGCHLD, read from a signalfd by the poller thread (which blocks it), or
/// relayed there by `SignalRelay` (a C handler and a pipe) when a thread that
/// does not block it takes it, drives the reaping loop there. Each turn peeks at a terminated
/// child without reaping it (`waitid` with `WNOWAIT`); while it is a zombie
/// its pid, and so its process group id, cannot be reused, which is when its
/// group is killed if the spawn asked for that; then it is reaped.
///
/// One spawned child, as the reaper sees it:
///
/// | state    | event                 | action                                           | next     |
/// |----------|-----------------------|--------------------------------------------------|----------|
/// | —        | spawned (under lock)  | register its `ChildExit`                         | running  |
/// | running  | `signal(Group)`       | kill/killpg: its pid and group id are its own    | running  |
/// | running  | terminated (peeked)   | killpg SIGKILL if `killsGroupAtExit`; then reap  | reaped   |
/// | reaped   | —                     | forget the pid; deliver the status (outside the lock) | gone |
/// | gone     | `signal(Group)`       | nothing: the ids may be another's now            | gone     |
///
/// - Important: nothing else in the process may wait for children: not
///   Foundation.Process, and not Swift Testing's exit tests
///   (`#expect(processExitsWith:)`), which hang once the reaper has started.
/// - Important: never set SIGCHLD to SIG_IGN (or SA_NOCLDWAIT): the kernel would
///   then reap children itself and every status would be lost. The relay's
///   handler keeps the default zombie behaviour that `wait4` relies on.
public final class Reaper: Sendable {
    public static let shared = Reaper()

    /// The children spawned and not yet reaped, by pid.
    private let children = Mutex<[pid_t: ChildExit]>([:])
    private let isStarted = Atomic<Bool>(false)
    /// Held while subscribing, so that a concurrent `start()` waits until SIGCHLD is relayed.
    private let subscription = Mutex<UInt64?>(nil)

    private init() {}

    /// Starts relaying SIGCHLD to the reaper (idempotent, thread-safe), then
    /// reaps whatever exited before that. Returns once no exit can go unnoticed.
    /// `Spawner.spawn` calls it before each spawn.
    public func start() {
        if isStarted.load(ordering: .acquiring) { return }
        subscription.withLock { subscription in
            guard subscription == nil else { return }
            // On the poller thread, like the handlers' own work: no hand-off between exit and handler.
            subscription = SignalRelay.shared.subscribe(.child) { Reaper.shared.reapAll() }
            Reaper.readChildSignals()
        }
        // A SIGCHLD from before the relay was live was discarded (SIG_DFL); sweep once.
        reapAll()
        isStarted.store(true, ordering: .releasing)
    }

    /// SIGCHLD read from a signalfd on the poller thread, which then blocks
    /// it: where every thread blocks it (the daemon: its main thread and its
    /// sync thread block every signal, libdispatch's workers nearly all), a
    /// child's exit costs one read instead of a handler's frame, its write
    /// to the relay's pipe, `rt_sigreturn` and the pipe's read. A thread
    /// that does not block it (in a test process, most) still takes it
    /// through the relay's handler: either way `reapAll` runs on the poller
    /// thread, and a SIGCHLD is either delivered to a handler or left
    /// pending for the signalfd, never lost. Without a signalfd, the relay alone.
    private static func readChildSignals() {
        let poller = Poller.shared
        poller.execute {
            let raw = hopper_take_child_signals()
            guard raw >= 0 else { return }
            let fd = FileDescriptor(rawValue: raw)
            _ = poller.register(fd, .readable) { _ in
                fd.discardAvailable()
                Reaper.shared.reapAll()
            }
        }
    }

    /// Runs `launch` (which starts one child and returns its pid and process
    /// group) under the lock, and registers the child before any reaping can
    /// see it. Only `Spawner` calls it.
    func spawn(killsGroupAtExit: Bool, _ launch: () throws(SystemError) -> (pid: pid_t, group: pid_t)) throws(SystemError) -> ChildExit {
        start()
        return try children.withLock { (children) throws(SystemError) -> ChildExit in
            let (pid, group) = try launch()
            let exit = ChildExit(pid: ProcessID(rawValue: pid), processGroup: ProcessID(rawValue: group),
                                 killsGroupAtExit: killsGroupAtExit && group == pid)
            // A pid still registered here has not been reaped, so the kernel cannot have handed it out again.
            precondition(children[pid] == nil, "pid \(pid) spawned while an earlier child with it is unreaped")
            children[pid] = exit
            return exit
        }
    }

    /// Sends `signal` to the child (`group`: its process group) if the child
    /// has not been reaped yet, so that its pid and group id are still its
    /// own. Returns whether it was sent.
    func signal(_ exit: ChildExit, _ signal: Signal, group: Bool) -> Bool {
        children.withLock { children in
            guard children[exit.pid.rawValue] === exit else { return false }
            return group ? ProcessGroup.signal(exit.processGroup, signal) : ProcessGroup.signalProcess(exit.pid, signal)
        }
    }

    /// Whether `pid` is a child this process spawned and has not reaped, as
    /// opposed to an orphan the daemon adopted.
    public func isAwaited(_ pid: ProcessID) -> Bool {
        children.withLock { $0[pid.rawValue] != nil }
    }

    /// Reaps every terminated child, one at a time, under the lock; then
    /// delivers the statuses of those that were spawned here.
    private func reapAll() {
        var reaped: [(ChildExit, ExitStatus)] = []
        children.withLock { children in
            while true {
                let pid = hopper_peek_terminated_child()
                if pid < 0 && errno == EINTR { continue }
                if pid <= 0 { return }  // 0: none terminated; ECHILD: no children at all
                let exit = children.removeValue(forKey: pid)
                // Still a zombie: its group id cannot belong to anyone else yet.
                if let exit, exit.killsGroupAtExit { ProcessGroup.signal(exit.processGroup, .kill) }
                var status: Int32 = 0
                guard (try? retryingInterrupts("wait4") { wait4(pid, &status, WNOHANG, nil) }) == pid else { continue }
                if let exit { reaped.append((exit, ExitStatus(waitStatus: status))) }
            }
        }
        for (exit, status) in reaped { exit.deliver(status) }
    }
}

/// The exit of one spawned child: its status once reaped, and the handlers
/// waiting for it. Each handler is called exactly once, with this child's
/// own status.
public final class ChildExit: Sendable {
    public let pid: ProcessID
    public let processGroup: ProcessID
    /// Kill the child's group when it ends, while its zombie still pins the group id.
    let killsGroupAtExit: Bool
    private let latch = Latch<ExitStatus>()
    /// nil once the status has been delivered.
    private let handlers = Mutex<[@Sendable (ExitStatus) -> Void]?>([])

    init(pid: ProcessID, processGroup: ProcessID, killsGroupAtExit: Bool) {
        self.pid = pid
        self.processGroup = processGroup
        self.killsGroupAtExit = killsGroupAtExit
    }

    /// The status, or nil while the child runs.
    public var status: ExitStatus? { latch.current }

    /// Calls `handler` once with the status: on the poller thread when the
    /// child is reaped, or at once on the caller's thread if it already was.
    /// Handlers must be quick and must not block.
    public func onExit(_ handler: @escaping @Sendable (ExitStatus) -> Void) {
        let waiting = handlers.withLock { handlers -> Bool in
            guard handlers != nil else { return false }
            handlers!.append(handler)
            return true
        }
        if !waiting, let status = latch.current { handler(status) }
    }

    /// Blocks the calling thread until the child has been reaped.
    public func wait() -> ExitStatus { latch.wait() }

    /// `wait()` for at most `seconds`: nil if the child has not been reaped by then.
    public func wait(timeout seconds: Double) -> ExitStatus? { latch.wait(timeout: seconds) }

    /// Suspends until the child has been reaped. Not cancellable: the wait
    /// ends when the child does, so cancel by killing its process group.
    public func value() async -> ExitStatus {
        await withCheckedContinuation { continuation in onExit { continuation.resume(returning: $0) } }
    }

    /// Sends `signal` to the child's process group while the child is
    /// unreaped; after that the group was killed at the exit (if asked) and
    /// its id may belong to someone else. Returns whether it was sent.
    @discardableResult
    public func signalGroup(_ signal: Signal) -> Bool { Reaper.shared.signal(self, signal, group: true) }

    /// Sends `signal` to the child alone while it is unreaped. Returns whether it was sent.
    @discardableResult
    public func signal(_ signal: Signal) -> Bool { Reaper.shared.signal(self, signal, group: false) }

    /// The reaper's: sets the status, then runs the handlers registered so far.
    fileprivate func deliver(_ status: ExitStatus) {
        latch.set(status)
        let waiting = handlers.withLock { handlers in
            defer { handlers = nil }
            return handlers ?? []
        }
        for handler in waiting { handler(status) }
    }
}
