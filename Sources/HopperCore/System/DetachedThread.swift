import Glibc

/// Runs `body` on a new, detached pthread, which keeps what `body`
/// captures alive until it returns. For the daemon's few long-lived threads
/// (the poller's, the sync's), whose loops outlive any Swift task.
/// Returns 0, or pthread_create's error number (nothing started).
func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Int32 {
    final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
    }, context)
    guard rc == 0 else {
        Unmanaged<Body>.fromOpaque(context).release()
        return rc
    }
    pthread_detach(thread)
    return 0
}
