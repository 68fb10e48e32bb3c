import Glibc

/// A value set once by one thread and waited for by others, for callers that
/// block (the daemon's foreground thread, tools, tests) rather than await.
public final class Latch<Value: Sendable>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var value: Value?

    public init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    /// Sets the value and wakes every waiter; later calls are ignored.
    public func set(_ newValue: Value) {
        pthread_mutex_lock(&mutex)
        if value == nil {
            value = newValue
            pthread_cond_broadcast(&condition)
        }
        pthread_mutex_unlock(&mutex)
    }

    /// The value, or nil while it is not set.
    public var current: Value? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return value
    }

    /// Blocks until the value is set.
    public func wait() -> Value {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while value == nil { pthread_cond_wait(&condition, &mutex) }
        return value!
    }
}
