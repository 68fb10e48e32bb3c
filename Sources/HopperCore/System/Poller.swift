import CHopperShim
import Glibc
import Synchronization

/// One thread that waits in epoll_wait(2) for the descriptors Hopper streams
/// (child pipes, inotify, the signal relay's pipe) and runs their handlers,
/// its own timers, closures handed to it from other threads, and at the end
/// of every wake-up the turn handler (the daemon's loop, when one runs).
///
/// Everything that reacts to the kernel runs on this one thread, so a task's
/// exit travels from SIGCHLD to the daemon's record without a thread hand-off.
///
/// Why not Dispatch read sources: libdispatch's Linux epoll bookkeeping can
/// free a muxnote that is still registered when sources are created and
/// cancelled at a high rate (swift-corelibs-libdispatch issue 949), which a
/// runner making two pipe sources per task hits within seconds.
///
/// Registrations are keyed by a token, never by descriptor number, and every
/// registration change happens on the poller thread: after `unregister`
/// returns, no later event of the same epoll batch reaches the old handler,
/// so the caller may close the descriptor at once even if its number is
/// reused immediately.
public final class Poller: Sendable {
    public static let shared = Poller()

    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: hopper_EPOLLIN)
        public static let writable = Events(rawValue: hopper_EPOLLOUT)
        public static let hangup = Events(rawValue: hopper_EPOLLHUP)
        public static let error = Events(rawValue: hopper_EPOLLERR)
    }

    public typealias Handler = (Events) -> Void

    private let epoll: Int32
    private let wakeFD: Int32
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    private let loop: Loop
    /// The poller thread's pthread_t, once it runs (0 before).
    private let thread = Atomic<UInt>(0)

    private init() {
        epoll = hopper_epoll_create()
        wakeFD = hopper_eventfd()
        precondition(epoll >= 0 && wakeFD >= 0, "hopper: cannot create the poller: \(Errno.current)")
        _ = hopper_epoll_ctl(epoll, 0, wakeFD, hopper_EPOLLIN, 0)
        loop = Loop()
        let started = startDetachedThread { self.run() }
        precondition(started == 0, "hopper: cannot start the poller thread")
    }

    /// Runs `body` on the poller thread, soon: from the poller thread itself,
    /// later in the same wake-up (never inline).
    public func execute(_ body: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(body) }
        if isCurrent { return }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Whether the caller runs on the poller thread.
    public var isCurrent: Bool { thread.load(ordering: .relaxed) == pthread_self() }

    /// Sets the handler run at the end of every wake-up, after descriptors,
    /// closures and timers; it returns when it wants to run next even if
    /// nothing happens (nil: only after the next event). Poller thread only.
    public func setTurnHandler(_ handler: (() -> MonotonicInstant?)?) {
        precondition(isCurrent, "Poller.setTurnHandler off the poller thread")
        loop.turn = handler
        loop.turnAt = nil
    }

    /// Watches `fd` (level-triggered). Poller thread only.
    public func register(_ fd: FileDescriptor, _ events: Events, _ handler: @escaping Handler) -> Int {
        precondition(isCurrent, "Poller.register off the poller thread")
        loop.nextToken += 1
        let token = loop.nextToken
        if hopper_epoll_ctl(epoll, 0, fd.rawValue, events.rawValue, UInt64(token)) != 0 {
            // Not pollable (a regular file): report it ready at once, as poll(2) would.
            loop.immediate.append((token, events))
        }
        loop.handlers[token] = (fd, handler)
        return token
    }

    /// Stops watching; the descriptor may be closed right after. Poller thread only.
    public func unregister(_ token: Int) {
        precondition(isCurrent, "Poller.unregister off the poller thread")
        guard let (fd, _) = loop.handlers.removeValue(forKey: token) else { return }
        _ = hopper_epoll_ctl(epoll, 2, fd.rawValue, 0, 0)
    }

    /// Stops watching and closes the descriptor, which takes it out of the
    /// epoll set without an `EPOLL_CTL_DEL` (one system call fewer). For a
    /// descriptor no other process shares beyond a spawn's fork-to-exec
    /// moment (a pipe end of the daemon's own, O_CLOEXEC): until the last
    /// copy is closed its events may still come, for a token no handler
    /// answers. Poller thread only.
    public func unregisterAndClose(_ token: Int) {
        precondition(isCurrent, "Poller.unregisterAndClose off the poller thread")
        guard let (fd, _) = loop.handlers.removeValue(forKey: token) else { return }
        fd.close()
    }

    /// Runs `body` on the poller thread after `seconds`. Poller thread only.
    public func after(_ seconds: Double, _ body: @escaping () -> Void) {
        precondition(isCurrent, "Poller.after off the poller thread")
        loop.timerOrder += 1
        loop.timers.push(Timer(at: MonotonicInstant.now().adding(seconds: seconds), order: loop.timerOrder))
        loop.timerBodies[loop.timerOrder] = body
    }

    private func run() {
        thread.store(pthread_self(), ordering: .relaxed)
        // The signal relay counts on one thread that takes every signal (see SignalRelay).
        _ = hopper_unblock_all_signals()
        let capacity = 256
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        while true {
            var timeout: Int32 = -1
            if !loop.immediate.isEmpty || !inbox.withLock({ $0.isEmpty }) {
                timeout = 0
            } else if let next = Poller.earlier(loop.timers.peek()?.at, loop.turnAt) {
                let remaining = next - MonotonicInstant.now()
                timeout = remaining <= 0 ? 0 : Int32(min(remaining * 1000 + 1, 3_600_000))
            }
            let n = hopper_epoll_wait(epoll, tokens, events, Int32(capacity), timeout)
            if n > 0 {
                for i in 0..<Int(n) {
                    let token = Int(tokens[i])
                    if token == 0 {
                        var count: UInt64 = 0
                        _ = read(wakeFD, &count, 8)
                        continue
                    }
                    loop.handlers[token]?.1(Events(rawValue: events[i]))
                }
            }
            let ready = loop.immediate
            loop.immediate.removeAll()
            for (token, ev) in ready { loop.handlers[token]?.1(ev) }
            runInbox()
            let now = MonotonicInstant.now()
            while let next = loop.timers.peek(), next.at <= now {
                _ = loop.timers.pop()
                loop.timerBodies.removeValue(forKey: next.order)?()
            }
            runInbox()
            if let turn = loop.turn { loop.turnAt = turn() }
        }
    }

    private static func earlier(_ a: MonotonicInstant?, _ b: MonotonicInstant?) -> MonotonicInstant? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }

    /// Runs the closures handed over so far, and those they hand over in turn.
    private func runInbox() {
        while true {
            let bodies = inbox.withLock { box -> [@Sendable () -> Void] in defer { box.removeAll() }; return box }
            if bodies.isEmpty { return }
            for body in bodies { body() }
        }
    }

    struct Timer: Comparable, Sendable {
        var at: MonotonicInstant
        var order: UInt64
        static func < (a: Timer, b: Timer) -> Bool { a.at != b.at ? a.at < b.at : a.order < b.order }
    }

    /// State touched only by the poller thread.
    private final class Loop: @unchecked Sendable {
        var handlers: [Int: (FileDescriptor, Handler)] = [:]
        var immediate: [(Int, Events)] = []
        var nextToken = 0
        var timers = MinHeap<Timer>()
        var timerBodies: [UInt64: () -> Void] = [:]
        var timerOrder: UInt64 = 0
        var turn: (() -> MonotonicInstant?)?
        var turnAt: MonotonicInstant?
    }
}
