import Glibc

/// A wall-clock instant in UTC, in nanoseconds since the Unix epoch.
///
/// Records and messages carry it as RFC 3339 text in UTC with exactly six
/// fractional digits (`2026-11-24T19:56:00.123456Z`). Calendar arithmetic is
/// `CivilCalendar`'s days-from-civil algorithms (proleptic Gregorian), so it
/// never depends on `TZ` or the C library's time zone state.
///
/// Use it for what people read; measure durations and deadlines with
/// `MonotonicInstant`, which does not jump when the clock is set.
public struct Timestamp: Sendable, Hashable, Comparable {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// The current time from `clock_gettime(CLOCK_REALTIME)`.
    public static func now() -> Timestamp {
        Timestamp(nanoseconds: Self.clockNanoseconds(CLOCK_REALTIME))
    }

    /// The instant as `YYYY-MM-DDTHH:MM:SS.ffffffZ`; sub-microsecond digits
    /// are truncated, and instants before the epoch still count forwards
    /// within their second.
    public var rfc3339: String {
        let (seconds, nanosecond) = CivilCalendar.floorDivide(nanoseconds, Self.nanosecondsPerSecond)
        let (days, secondOfDay) = CivilCalendar.floorDivide(seconds, Self.secondsPerDay)
        let (year, month, day) = CivilCalendar.date(days: days)
        // YYYY-MM-DDTHH:MM:SS.ffffffZ, written in place (records and event
        // lines carry several of these each).
        return String(unsafeUninitializedCapacity: 27) { text in
            var at = 0
            func put(_ value: Int64, _ width: Int, _ separator: Unicode.Scalar) {
                var rest = value
                for index in (at..<at + width).reversed() {
                    text[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                    rest /= 10
                }
                text[at + width] = UInt8(ascii: separator)
                at += width + 1
            }
            put(year, 4, "-")
            put(month, 2, "-")
            put(day, 2, "T")
            put(secondOfDay / 3600, 2, ":")
            put(secondOfDay / 60 % 60, 2, ":")
            put(secondOfDay % 60, 2, ".")
            put(nanosecond / 1000, 6, "Z")
            return at
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `t` and `z` may be lowercase.
    ///
    /// Fractions keep nine digits and truncate the rest; a leap second (`:60`)
    /// becomes 59.999999999 of that minute. Returns nil for anything else,
    /// for impossible dates, and for instants outside `Int64` nanoseconds
    /// (roughly the years 1678–2261).
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        /// The decimal value of `bytes[range]`, nil unless all are digits.
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(at index: Int, is choices: String) -> Bool {
            index < bytes.count && choices.utf8.contains(bytes[index])
        }
        guard let year = number(0..<4), byte(at: 4, is: "-"), let month = number(5..<7), byte(at: 7, is: "-"),
              let day = number(8..<10), byte(at: 10, is: "Tt"), let hour = number(11..<13), byte(at: 13, is: ":"),
              let minute = number(14..<16), byte(at: 16, is: ":"), var second = number(17..<19)
        else { return nil }

        var index = 19
        var fraction: Int64 = 0
        if byte(at: index, is: ".") {
            index += 1
            var kept = 0
            while let digit = number(index..<index + 1) {
                if kept < 9 { fraction = fraction * 10 + digit; kept += 1 }
                index += 1
            }
            guard kept > 0 else { return nil }
            for _ in kept..<9 { fraction *= 10 }
        }

        var offsetSeconds: Int64 = 0
        if byte(at: index, is: "Zz") {
            index += 1
        } else if byte(at: index, is: "+-") {
            guard let offsetHour = number(index + 1..<index + 3), byte(at: index + 3, is: ":"),
                  let offsetMinute = number(index + 4..<index + 6), offsetHour < 24, offsetMinute < 60
            else { return nil }
            // Local time is UTC plus the offset, so UTC is local time minus it.
            offsetSeconds = (offsetHour * 3600 + offsetMinute * 60) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count, (1...12).contains(month), day >= 1,
              day <= CivilCalendar.daysInMonth(year: year, month: month), hour < 24, minute < 60, second <= 60
        else { return nil }
        if second == 60 {
            second = 59
            fraction = Self.nanosecondsPerSecond - 1
        }

        let seconds = CivilCalendar.days(year: year, month: month, day: day) * Self.secondsPerDay
            + hour * 3600 + minute * 60 + second - offsetSeconds
        let (scaled, overflowA) = seconds.multipliedReportingOverflow(by: Self.nanosecondsPerSecond)
        let (total, overflowB) = scaled.addingReportingOverflow(fraction)
        guard !overflowA, !overflowB else { return nil }
        nanoseconds = total
    }

    /// Whether `text`, which `init?(rfc3339:)` refused, is a well-formed
    /// RFC 3339 time whose year lies outside what a Timestamp holds (about
    /// 1677-09-21 to 2262-04-11): such a text deserves its own message, not
    /// "expected an RFC 3339 time".
    public static func isOutOfRange(rfc3339 text: String) -> Bool {
        guard Timestamp(rfc3339: text) == nil, text.utf8.count > 4,
              let year = Int(text.prefix(4)), year <= 1677 || year >= 2262 else { return false }
        // The same text in a year that fits (2000 is a leap year, so a 29 February stays valid).
        return Timestamp(rfc3339: "2000" + text.dropFirst(4)) != nil
    }

    /// This instant cut down to the microsecond, the precision `rfc3339`
    /// writes: what is stored is then exactly what is read back.
    public var wholeMicroseconds: Timestamp {
        Timestamp(nanoseconds: CivilCalendar.floorDivide(nanoseconds, 1000).0 * 1000)
    }

    /// Seconds since the epoch; exact to about a quarter microsecond today.
    public var seconds: Double { Double(nanoseconds) / Double(Self.nanosecondsPerSecond) }

    /// The instant `seconds` later (earlier if negative), clamped to the representable range.
    public func adding(seconds: Double) -> Timestamp {
        Timestamp(nanoseconds: Self.saturatingAdd(nanoseconds, seconds))
    }

    /// The seconds from `rhs` to `lhs`.
    public static func - (lhs: Timestamp, rhs: Timestamp) -> Double {
        Timestamp.secondsBetween(lhs.nanoseconds, rhs.nanoseconds)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
}

/// A reading of `CLOCK_MONOTONIC`: for timeouts, deadlines and durations.
///
/// Only differences between instants mean anything; the origin is arbitrary
/// (boot on Linux) and the clock never goes backwards when the wall clock is set.
public struct MonotonicInstant: Sendable, Hashable, Comparable {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// The current reading of `clock_gettime(CLOCK_MONOTONIC)`.
    public static func now() -> MonotonicInstant {
        MonotonicInstant(nanoseconds: Timestamp.clockNanoseconds(CLOCK_MONOTONIC))
    }

    /// The instant `seconds` later (earlier if negative), clamped to the representable range.
    public func adding(seconds: Double) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: Timestamp.saturatingAdd(nanoseconds, seconds))
    }

    /// The seconds from `rhs` to `lhs`.
    public static func - (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Double {
        Timestamp.secondsBetween(lhs.nanoseconds, rhs.nanoseconds)
    }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }
}

/// Clock arithmetic shared by both instant types, kept as static members so
/// the names cannot collide elsewhere in the module. The calendar is
/// `CivilCalendar`'s, which the time zone code uses too.
extension Timestamp {
    fileprivate static let nanosecondsPerSecond: Int64 = 1_000_000_000
    fileprivate static let secondsPerDay: Int64 = 86_400

    /// Reads `clock`; clock_gettime cannot fail for these clocks and a valid pointer.
    fileprivate static func clockNanoseconds(_ clock: clockid_t) -> Int64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return Int64(spec.tv_sec) * nanosecondsPerSecond + Int64(spec.tv_nsec)
    }

    /// `base` plus `seconds`, saturating at Int64's bounds; NaN adds nothing.
    fileprivate static func saturatingAdd(_ base: Int64, _ seconds: Double) -> Int64 {
        let delta = (seconds * Double(nanosecondsPerSecond)).rounded()
        guard !delta.isNaN else { return base }
        // 2^63 is exactly representable; anything at or beyond it does not fit.
        if delta >= 0x1p63 { return .max }
        if delta < -0x1p63 { return .min }
        let (sum, overflow) = base.addingReportingOverflow(Int64(delta))
        return overflow ? (delta > 0 ? .max : .min) : sum
    }

    /// `lhs - rhs` in seconds, without trapping when the difference overflows Int64.
    fileprivate static func secondsBetween(_ lhs: Int64, _ rhs: Int64) -> Double {
        let (difference, overflow) = lhs.subtractingReportingOverflow(rhs)
        let nanoseconds = overflow ? Double(lhs) - Double(rhs) : Double(difference)
        return nanoseconds / Double(nanosecondsPerSecond)
    }
}
