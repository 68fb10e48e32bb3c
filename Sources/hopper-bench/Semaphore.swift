import Glibc

/// A counting semaphore for the direct-spawn baseline.
final class Semaphore: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var count: Int
    init(_ count: Int) { self.count = count; pthread_mutex_init(&mutex, nil); pthread_cond_init(&cond, nil) }
    func acquire() {
        pthread_mutex_lock(&mutex)
        while count == 0 { pthread_cond_wait(&cond, &mutex) }
        count -= 1
        pthread_mutex_unlock(&mutex)
    }
    func release() { pthread_mutex_lock(&mutex); count += 1; pthread_cond_signal(&cond); pthread_mutex_unlock(&mutex) }
}
