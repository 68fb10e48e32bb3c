import Glibc

/// A child's exit status, latched from the shared reaper, for callers that
/// block (tools, tests) or peek rather than await.
public final class ExitLatch: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var latched: ExitStatus?

    /// Subscribes to `pid`'s exit; the reaper must be started.
    public init(_ pid: ProcessID) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        Reaper.shared.onExit(pid) { [self] status in
            pthread_mutex_lock(&mutex)
            latched = status
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
    }

    /// The status, or nil while the child runs.
    public var status: ExitStatus? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return latched
    }

    /// Blocks until the child has exited.
    public func wait() -> ExitStatus {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while latched == nil { pthread_cond_wait(&condition, &mutex) }
        return latched!
    }
}
