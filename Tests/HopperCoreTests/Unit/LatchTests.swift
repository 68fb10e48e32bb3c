import Glibc
import Testing
@testable import HopperCore

/// `Latch.wait(timeout:)`: the value when it is set before or during the
/// wait, nil once the time is up without it.
@Suite struct LatchTests {
    @Test func aTimedWaitWithoutAValueEndsNilAfterItsTime() {
        let latch = Latch<Int>()
        let start = MonotonicInstant.now()
        #expect(latch.wait(timeout: 0.05) == nil)
        #expect(MonotonicInstant.now() - start >= 0.05)
        #expect(latch.wait(timeout: 0) == nil)
    }

    @Test func aValueSetBeforeIsReturnedAtOnce() {
        let latch = Latch<Int>()
        latch.set(7)
        #expect(latch.wait(timeout: 0) == 7)
        #expect(latch.wait(timeout: 60) == 7)
    }

    @Test func aValueSetDuringTheWaitEndsIt() {
        let latch = Latch<Int>()
        var thread = pthread_t()
        let box = Unmanaged.passRetained(latch)
        pthread_create(&thread, nil, { raw in
            let latch = Unmanaged<Latch<Int>>.fromOpaque(raw!).takeRetainedValue()
            latch.set(42)
            return nil
        }, box.toOpaque())
        // Set by the other thread whenever it runs; the wait's bound is only a backstop.
        #expect(latch.wait(timeout: 60) == 42)
        pthread_join(thread, nil)
    }
}
