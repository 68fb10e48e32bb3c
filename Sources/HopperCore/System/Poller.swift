import CHopperShim
import Glibc
import Synchronization

/// One thread that waits in epoll_wait(2) for the descriptors Hopper streams
/// (child pipes, inotify) and runs their handlers, its own timers, and
/// closures handed to it from other threads.
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

    private init() {
        epoll = hopper_epoll_create()
        wakeFD = hopper_eventfd()
        precondition(epoll >= 0 && wakeFD >= 0, "hopper: cannot create the poller: \(Errno.current)")
        _ = hopper_epoll_ctl(epoll, 0, wakeFD, hopper_EPOLLIN, 0)
        loop = Loop()
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let poller = Unmanaged<Poller>.fromOpaque(raw!).takeRetainedValue()
            poller.run()
            return nil
        }, context)
        precondition(rc == 0, "hopper: cannot start the poller thread")
        pthread_detach(thread)
    }

    /// Runs `body` on the poller thread, soon.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(body) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Whether the caller runs on the poller thread.
    public var isCurrent: Bool { loop.thread.withLock { $0 } == pthread_self() }

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

    /// Runs `body` on the poller thread after `seconds`. Poller thread only.
    public func after(_ seconds: Double, _ body: @escaping () -> Void) {
        precondition(isCurrent, "Poller.after off the poller thread")
        loop.timerOrder += 1
        loop.timers.push(Timer(at: MonotonicInstant.now().adding(seconds: seconds), order: loop.timerOrder))
        loop.timerBodies[loop.timerOrder] = body
    }

    private func run() {
        loop.thread.withLock { $0 = pthread_self() }
        let capacity = 256
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        while true {
            var timeout: Int32 = -1
            if !loop.immediate.isEmpty { timeout = 0 } else if let next = loop.timers.peek() {
                timeout = Int32(max(0, min((next.at - MonotonicInstant.now()) * 1000 + 1, 3_600_000)))
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
            for body in inbox.withLock({ box -> [@Sendable () -> Void] in defer { box.removeAll() }; return box }) { body() }
            let now = MonotonicInstant.now()
            while let next = loop.timers.peek(), next.at <= now {
                _ = loop.timers.pop()
                loop.timerBodies.removeValue(forKey: next.order)?()
            }
        }
    }

    struct Timer: Comparable, Sendable {
        var at: MonotonicInstant
        var order: UInt64
        static func < (a: Timer, b: Timer) -> Bool { a.at != b.at ? a.at < b.at : a.order < b.order }
    }

    /// State touched only by the poller thread.
    private final class Loop: @unchecked Sendable {
        let thread = Mutex<pthread_t>(0)
        var handlers: [Int: (FileDescriptor, Handler)] = [:]
        var immediate: [(Int, Events)] = []
        var nextToken = 0
        var timers = MinHeap<Timer>()
        var timerBodies: [UInt64: () -> Void] = [:]
        var timerOrder: UInt64 = 0
    }
}
