/// A POSIX `TZ` rule (`std offset [dst [offset] [,start[/time],end[/time]]]`),
/// as in the footer of a TZif file or the `TZ` variable:
/// `WET0WEST,M3.5.0/1,M10.5.0` is Lisbon, `<+03>-3` is a fixed UTC+3.
///
/// POSIX offsets count hours west of Greenwich; this type stores them the
/// other way round, as seconds east (what is added to UTC to get local time).
/// Rule dates take all three forms: `Jn` (1–365, no leap day), `n` (0–365)
/// and `Mm.w.d` (day `d` of week `w` of month `m`, week 5 meaning the last).
struct PosixZoneRule: Sendable, Equatable {
    enum RuleDate: Sendable, Equatable {
        case julianNoLeap(Int64)
        case zeroBased(Int64)
        case monthWeekDay(month: Int64, week: Int64, weekday: Int64)
    }

    struct Transition: Sendable, Equatable {
        var date: RuleDate
        /// Local time of day of the change, in seconds (may be negative or past 24 h).
        var time: Int64
    }

    var standardOffset: Int32
    var daylightOffset: Int32?
    var start: Transition?
    var end: Transition?

    init?(_ text: String) {
        var s = Scanner(Array(text.utf8))
        guard s.name(), let std = s.offset() else { return nil }
        standardOffset = Int32(-std)
        guard !s.atEnd else { return }
        guard s.name() else { return nil }
        var dst = -std + 3600
        if let given = s.offset() { dst = -given }
        daylightOffset = Int32(dst)
        if s.atEnd {
            // No rule given: POSIX leaves it to the implementation; glibc uses the US rule.
            start = Transition(date: .monthWeekDay(month: 3, week: 2, weekday: 0), time: 7200)
            end = Transition(date: .monthWeekDay(month: 11, week: 1, weekday: 0), time: 7200)
            return
        }
        guard s.take(","), let a = s.transition(), s.take(","), let b = s.transition(), s.atEnd else { return nil }
        start = a
        end = b
    }

    /// The offset east of UTC in seconds at a UTC instant.
    func offset(atUTC t: Int64) -> Int32 {
        guard let dst = daylightOffset, let start, let end else { return standardOffset }
        let (localDays, _) = CivilCalendar.floorDivide(t + Int64(standardOffset), 86_400)
        let year = CivilCalendar.date(days: localDays).year
        // Check the neighbouring years too: a rule time past midnight can cross a year boundary.
        for y in [year - 1, year, year + 1] {
            let begins = Self.localSeconds(start, year: y) - Int64(standardOffset)
            let ends = Self.localSeconds(end, year: y) - Int64(dst)
            if begins < ends {
                if t >= begins && t < ends { return dst }
            } else if y == year && !(t >= ends && t < begins) {
                // Southern hemisphere: daylight time spans the new year.
                return dst
            }
        }
        return standardOffset
    }

    /// Seconds since the epoch, on the local wall clock, of a rule's change in `year`.
    static func localSeconds(_ transition: Transition, year: Int64) -> Int64 {
        let jan1 = CivilCalendar.days(year: year, month: 1, day: 1)
        let day: Int64
        switch transition.date {
        case .julianNoLeap(let n):
            // Day 60 is always March 1st: February 29th is never counted.
            day = jan1 + n - 1 + (CivilCalendar.isLeap(year) && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            day = jan1 + n
        case .monthWeekDay(let month, let week, let weekday):
            let first = CivilCalendar.days(year: year, month: month, day: 1)
            var d = first + (weekday - CivilCalendar.weekday(days: first) + 7) % 7 + (week - 1) * 7
            let last = first + CivilCalendar.daysInMonth(year: year, month: month) - 1
            while d > last { d -= 7 }
            day = d
        }
        return day * 86_400 + transition.time
    }

    /// A cursor over the rule text.
    private struct Scanner {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }

        var atEnd: Bool { i == b.count }

        mutating func take(_ c: Unicode.Scalar) -> Bool {
            guard i < b.count, b[i] == UInt8(ascii: c) else { return false }
            i += 1
            return true
        }

        /// A zone abbreviation: three or more letters, or anything in `<…>`.
        mutating func name() -> Bool {
            if take("<") {
                guard let close = b[i...].firstIndex(of: UInt8(ascii: ">")) else { return false }
                i = close + 1
                return true
            }
            let start = i
            while i < b.count, (b[i] | 0x20) >= UInt8(ascii: "a"), (b[i] | 0x20) <= UInt8(ascii: "z") { i += 1 }
            return i - start >= 3
        }

        mutating func number() -> Int64? {
            let start = i
            var v: Int64 = 0
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9"), i - start < 6 {
                v = v * 10 + Int64(b[i] - UInt8(ascii: "0"))
                i += 1
            }
            return i > start ? v : nil
        }

        /// `[+-]hh[:mm[:ss]]` in seconds.
        mutating func offset() -> Int64? {
            let sign: Int64 = take("-") ? -1 : (take("+") ? 1 : 1)
            guard let h = number() else { return nil }
            var seconds = h * 3600
            if take(":") {
                guard let m = number() else { return nil }
                seconds += m * 60
                if take(":") {
                    guard let sec = number() else { return nil }
                    seconds += sec
                }
            }
            return sign * seconds
        }

        mutating func transition() -> Transition? {
            let date: RuleDate
            if take("M") {
                guard let m = number(), take("."), let w = number(), take("."), let d = number(),
                      (1...12).contains(m), (1...5).contains(w), (0...6).contains(d) else { return nil }
                date = .monthWeekDay(month: m, week: w, weekday: d)
            } else if take("J") {
                guard let n = number(), (1...365).contains(n) else { return nil }
                date = .julianNoLeap(n)
            } else {
                guard let n = number(), (0...365).contains(n) else { return nil }
                date = .zeroBased(n)
            }
            var time: Int64 = 7200
            if take("/") {
                guard let t = offset() else { return nil }
                time = t
            }
            return Transition(date: date, time: time)
        }
    }
}
