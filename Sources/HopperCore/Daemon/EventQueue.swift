import Synchronization

/// Hands kernel-side happenings (inotify batches, exits, signals, timers) from
/// any thread to the daemon's single loop, which takes them in batches: all
/// that arrived since its last turn at once, so one turn can commit many
/// transitions with one round of fsyncs.
final class EventQueue<Event: Sendable>: Sendable {
    private struct State {
        var events: [Event] = []
        var consumerWaiting = false
    }

    private let state = Mutex(State())
    private let bell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    init() {
        (bell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func post(_ event: Event) {
        let wake = state.withLock { s in
            s.events.append(event)
            defer { s.consumerWaiting = false }
            return s.consumerWaiting
        }
        if wake { ring.yield() }
    }

    /// Everything posted since the last call; waits when there is nothing.
    ///
    /// - Important: one consumer only.
    func next() async -> [Event] {
        var iterator = bell.makeAsyncIterator()
        while true {
            let batch = state.withLock { s -> [Event] in
                if s.events.isEmpty {
                    s.consumerWaiting = true
                    return []
                }
                defer { s.events.removeAll(keepingCapacity: true) }
                return s.events
            }
            if !batch.isEmpty { return batch }
            await iterator.next()
        }
    }
}
