/// Hands kernel-side happenings (inotify batches, exits, signals, auth steps)
/// to the daemon's loop, which runs on the poller thread at the end of each
/// wake-up and takes everything posted since its last turn at once, so one
/// turn can commit many transitions with one round of fsyncs.
///
/// `@unchecked Sendable`: the events live on the poller thread only; a post
/// from any other thread is handed over with `Poller.execute`.
final class EventQueue<Event: Sendable>: @unchecked Sendable {
    private var events: [Event] = []
    private let poller: Poller

    init(poller: Poller = .shared) {
        self.poller = poller
    }

    func post(_ event: Event) {
        guard poller.isCurrent else {
            poller.execute { self.post(event) }
            return
        }
        events.append(event)
    }

    /// Whether nothing was posted since the last `take`. Poller thread only.
    var isEmpty: Bool { events.isEmpty }

    /// Everything posted since the last call, oldest first. Poller thread only.
    func take() -> [Event] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }
}
