import Glibc
import HopperCore
import Testing

/// System tests of `SignalStream` on the test process itself.
@Suite(.timeLimit(.minutes(1)))
struct SignalStreamTests {
    /// The first element of `stream`, or nil after `timeout`.
    private func first(_ stream: AsyncStream<Signal>, timeout: Duration = .seconds(10)) async -> Signal? {
        await withTaskGroup(of: Signal?.self) { group in
            group.addTask { await stream.first { _ in true } }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let result = await group.next() ?? nil
            group.cancelAll()
            return result
        }
    }

    @Test func processDirectedSignalIsYieldedAndTheProcessSurvives() async {
        let stream = SignalStream.make([.user1, .hangup])
        // kill(2) on our pid, as an operator would; see SignalStream for raise(3).
        #expect(kill(getpid(), SIGUSR1) == 0)
        #expect(await first(stream) == .user1)
        #expect(kill(getpid(), SIGHUP) == 0)
        #expect(await first(stream) == .hangup)
    }

    @Test func raiseFromAFreshThreadIsYielded() async {
        let stream = SignalStream.make([.quit])
        // raise(3) is thread-directed: it reaches the stream only from a thread
        // that does not block the signal (libdispatch's handler then forwards it).
        // New threads inherit the creator's mask, which libdispatch may have
        // widened, so unblock explicitly.
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { _ in
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGQUIT)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            _ = raise(SIGQUIT)
            return nil
        }, nil)
        #expect(created == 0)
        pthread_join(thread, nil)
        #expect(await first(stream) == .quit)
    }
}
