import Testing
@testable import HopperCore

/// RFC 3339 formatting and parsing, calendar edge cases, and clock arithmetic.
@Suite struct TimestampTests {
    private func parsed(_ text: String) -> Int64? {
        Timestamp(rfc3339: text)?.nanoseconds
    }

    @Test func formatsKnownInstants() {
        #expect(Timestamp(nanoseconds: 0).rfc3339 == "1970-01-01T00:00:00.000000Z")
        #expect(Timestamp(nanoseconds: 951_782_400_000_000_000).rfc3339 == "2000-02-29T00:00:00.000000Z")
        #expect(Timestamp(nanoseconds: 1_795_550_160_123_456_789).rfc3339 == "2026-11-24T19:56:00.123456Z")
        #expect(Timestamp(nanoseconds: -1).rfc3339 == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp(nanoseconds: 4_107_542_399_000_000_000).rfc3339 == "2100-02-28T23:59:59.000000Z")
    }

    @Test func parsesKnownInstants() {
        #expect(parsed("1970-01-01T00:00:00.000000Z") == 0)
        #expect(parsed("1970-01-01T00:00:00Z") == 0)
        #expect(parsed("2000-02-29T00:00:00Z") == 951_782_400_000_000_000)
        #expect(parsed("2026-11-24T19:56:00.123456Z") == 1_795_550_160_123_456_000)
        #expect(parsed("1969-12-31T23:59:59.999999999Z") == -1)
        #expect(parsed("2026-11-24t19:56:00z") == 1_795_550_160_000_000_000)
    }

    @Test func appliesZoneOffsets() {
        let local = Timestamp(rfc3339: "2026-11-24T19:56:00.5+02:00")
        #expect(local?.rfc3339 == "2026-11-24T17:56:00.500000Z")
        #expect(Timestamp(rfc3339: "2026-01-01T00:30:00-01:45")?.rfc3339 == "2026-01-01T02:15:00.000000Z")
        #expect(parsed("1970-01-01T00:00:00-00:00") == 0)
        #expect(parsed("1970-01-01T23:59:00+23:59") == 0)
    }

    @Test func truncatesLongFractions() {
        #expect(parsed("1970-01-01T00:00:00.1234567891234Z") == 123_456_789)
        #expect(parsed("1970-01-01T00:00:00.9999999999Z") == 999_999_999)
        #expect(Timestamp(rfc3339: "2026-11-24T19:56:00.1234569Z")?.rfc3339 == "2026-11-24T19:56:00.123456Z")
    }

    @Test func clampsLeapSecond() {
        #expect(parsed("2016-12-31T23:59:60Z") == parsed("2016-12-31T23:59:59.999999999Z"))
        #expect(parsed("2016-12-31T23:59:60.5Z") == parsed("2016-12-31T23:59:59.999999999Z"))
    }

    @Test(arguments: [
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:61Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+01:60", "2026-01-01T00:00:00+0100", "2026-01-01 00:00:00Z", "2026-1-01T00:00:00Z",
        "26-01-01T00:00:00Z", "2026-01-01T00:00:00ZZ", "2026-01-01T00:00:00Z ", "", "now",
        "+2026-01-01T00:00:00Z", "2026-01-01T00:00:00.-1Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    ])
    func rejectsInvalid(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func acceptsLeapDaysAndRangeEdges() {
        #expect(parsed("2024-02-29T12:00:00Z") != nil)
        #expect(parsed("2000-02-29T12:00:00Z") != nil)
        #expect(parsed("1678-01-01T00:00:00Z") != nil)
        #expect(parsed("2262-04-11T00:00:00Z") != nil)
    }

    /// A well-formed time past what a Timestamp holds is told apart from a malformed one.
    @Test func wellFormedButOutOfRange() {
        for text in ["2999-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "1600-02-29T00:00:00+01:00", "2262-12-31T00:00:00Z"] {
            #expect(Timestamp.isOutOfRange(rfc3339: text), "\(text)")
        }
        for text in ["2026-01-01T00:00:00Z", "2262-04-11T00:00:00Z", "2999-13-01T00:00:00Z", "2999-01-01 00:00:00Z", "2999", "now", ""] {
            #expect(!Timestamp.isOutOfRange(rfc3339: text), "\(text)")
        }
    }

    @Test func roundTripsAcrossManyDays() {
        // Every 37 hours and a bit over ~250 years exercises every month and leap rule.
        var nanoseconds: Int64 = -5_000_000_000_000_000_000
        while nanoseconds < 4_000_000_000_000_000_000 {
            let timestamp = Timestamp(nanoseconds: nanoseconds - nanoseconds % 1000)
            #expect(Timestamp(rfc3339: timestamp.rfc3339) == timestamp)
            nanoseconds += 133_200_123_456_789
        }
    }

    @Test func nowIsAfter2025() {
        let now = Timestamp.now()
        #expect(now > Timestamp(rfc3339: "2025-01-01T00:00:00Z")!)
        #expect(Timestamp(rfc3339: now.rfc3339) != nil)
    }

    @Test func arithmetic() {
        let start = Timestamp(nanoseconds: 1_000_000_000)
        #expect(start.seconds == 1)
        #expect(start.adding(seconds: 1.5).nanoseconds == 2_500_000_000)
        #expect(start.adding(seconds: -2).nanoseconds == -1_000_000_000)
        #expect(start.adding(seconds: 1.5) - start == 1.5)
        #expect(Timestamp(nanoseconds: .max).adding(seconds: 1).nanoseconds == .max)
        #expect(start.adding(seconds: -1e300).nanoseconds == .min)
        #expect(start.adding(seconds: .nan) == start)
        #expect(Timestamp(nanoseconds: .max) - Timestamp(nanoseconds: .min) > 1.8e10)
    }

    @Test func monotonicClockMovesForward() {
        let first = MonotonicInstant.now()
        let second = MonotonicInstant.now()
        #expect(second >= first)
        #expect(first.adding(seconds: 0.25) - first == 0.25)
        #expect(first.adding(seconds: 1) > first)
    }
}
