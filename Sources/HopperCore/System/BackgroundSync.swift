import CHopperShim
import Glibc
import Synchronization

/// syncfs(2) of one file system on a thread of its own, so that the loop
/// goes on while the disk writes back.
///
/// One sync at a time: `start` asks for one; its result is taken exactly
/// once, by `poll` (nil while it runs) or `wait` (blocks until it
/// returns). `onDone` is called on the sync thread as each sync returns,
/// to wake whoever polls. `stop` ends the thread after the sync under way.
///
///     state      start          the sync returns   poll            wait
///     idle       → running      -                  nil             precondition
///     running    precondition   → returned         nil             blocks, then → idle, the result
///     returned   precondition   -                  → idle, the result  → idle, the result
public final class BackgroundSync: @unchecked Sendable {
    private let fd: Int32
    private let path: String
    private let requests = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private let results = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    /// The last sync's result; written by the sync thread before it posts
    /// `results`, read after taking it.
    private let outcome = Mutex<Result<Void, SystemError>>(.success(()))
    private let stopping = Atomic<Bool>(false)
    private let onDone: @Sendable () -> Void
    /// Whether a sync was started and its result not yet taken (the caller's thread only).
    private var running = false

    /// Syncs the file system `directory` is on; keeps its own descriptor of it.
    public init(_ directory: Directory, onDone: @escaping @Sendable () -> Void) throws(SystemError) {
        path = directory.path
        fd = try retryingInterrupts("fcntl", directory.path) { fcntl(directory.descriptor.rawValue, F_DUPFD_CLOEXEC, 3) }
        self.onDone = onDone
        sem_init(requests, 0, 0)
        sem_init(results, 0, 0)
        let started = startDetachedThread { self.run() }
        guard started == 0 else { throw SystemError("pthread_create", "the sync thread", errno: Errno(rawValue: started)) }
    }

    deinit {
        close(fd)
        sem_destroy(requests)
        sem_destroy(results)
        requests.deallocate()
        results.deallocate()
    }

    /// Whether a sync was started and its result not yet taken.
    public var isRunning: Bool { running }

    /// Starts a sync.
    public func start() {
        precondition(!running, "BackgroundSync.start while a sync runs")
        running = true
        sem_post(requests)
    }

    /// The result of the sync started last, once it has returned; nil
    /// while it runs (or when none was started).
    public func poll() -> Result<Void, SystemError>? {
        guard running, sem_trywait(results) == 0 else { return nil }
        running = false
        return outcome.withLock { $0 }
    }

    /// Waits for the sync started last; its result.
    public func wait() -> Result<Void, SystemError> {
        precondition(running, "BackgroundSync.wait with no sync started")
        while sem_wait(results) != 0 {}
        running = false
        return outcome.withLock { $0 }
    }

    /// Ends the thread once the sync under way (if any) has returned; the
    /// object goes when its owner lets it go.
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        sem_post(requests)
    }

    private func run() {
        // Signals are the poller thread's (see SignalRelay).
        _ = hopper_block_all_signals()
        while true {
            while sem_wait(requests) != 0 {}
            if stopping.load(ordering: .sequentiallyConsistent) { return }
            let result = Result { () throws(SystemError) in _ = try retryingInterrupts("syncfs", path) { hopper_syncfs(fd) } }
            outcome.withLock { $0 = result }
            sem_post(results)
            onDone()
        }
    }
}
