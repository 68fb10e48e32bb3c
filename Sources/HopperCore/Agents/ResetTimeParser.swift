/// Finds when a rate limit or quota ends in an agent CLI's own words
/// (SPEC section 7a), so the provider can stay limited exactly that long.
///
/// The forms the CLIs print, tried in this order (the first that parses wins):
///
/// | form | example | read as |
/// |------|---------|---------|
/// | epoch after `\|` | `Claude AI usage limit reached\|1755615600` | Unix seconds |
/// | epoch field | `"resets_at":1777936568`, `"resetsAt":1774447200` | Unix seconds |
/// | RFC 3339 | `resets at 2026-12-03T14:00:00Z` | that instant |
/// | `resets` wall clock | `resets 1pm (Europe/Lisbon)`, `resets Feb 7, 11am (Asia/Seoul)` | in the zone given, else the local zone |
/// | `try again at` wall clock | `try again at 12:16 PM`, `try again at Sep 15th, 2025 2:05 PM` | in the local zone (Codex prints no zone) |
/// | relative | `Please retry in 37s`, `Suggested retry after 60s`, `try again in 2 days 17 hours 14 minutes`, `"resets_in_seconds":13872` | from `now` |
///
/// A wall-clock time without a date is today's, or tomorrow's when today's
/// passed more than an hour ago (a 5-hour window that resets after
/// midnight); a date without a year is this year's, or next year's when
/// this year's is more than a day gone.
///
/// Pure: the clock reading and the zones are arguments. Nil means the text
/// gives no reset time; the caller then backs off exponentially.
public enum ResetTimeParser {
    /// The reset instant `text` states, or nil.
    public static func reset(in text: String, now: Timestamp, zones: ZoneLookup) -> Timestamp? {
        epochAfterBar(text) ?? epochField(text) ?? rfc3339(text)
            ?? resetsWallClock(text, now: now, zones: zones) ?? tryAgainWallClock(text, now: now, zones: zones)
            ?? relative(text, now: now)
    }

    /// A JSON number or numeric string of Unix seconds (Claude's `resetsAt`);
    /// nil for anything else or for values before 2001 or after 2286, which
    /// would be milliseconds or nonsense.
    public static func epochSeconds(_ value: JSONValue?) -> Timestamp? {
        guard let value else { return nil }
        let seconds: Double? = switch value {
        case .int, .double: value.doubleValue
        case .string(let s): Double(s)
        default: nil
        }
        guard let seconds, seconds >= 1e9, seconds < 1e10 else { return nil }
        return Timestamp(nanoseconds: Int64(seconds * 1e9))
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let monthPattern = "(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\\.?"

    /// The captures of the first match of `pattern` (case-insensitive), nil
    /// for groups that did not take part.
    static func captures(_ pattern: String, in text: String) -> [String?]? {
        guard let regex = try? Regex(pattern).ignoresCase(), let match = try? regex.firstMatch(in: text) else { return nil }
        return (1..<match.output.count).map { i in match.output[i].substring.map(String.init) }
    }

    private static func epochAfterBar(_ text: String) -> Timestamp? {
        guard let c = captures("limit reached\\|(\\d{9,11})", in: text), let s = c[0] else { return nil }
        return epochSeconds(.string(s))
    }

    private static func epochField(_ text: String) -> Timestamp? {
        guard let c = captures("\"?resets_?at\"?\\s*[:=]\\s*\"?(\\d{9,11})", in: text), let s = c[0] else { return nil }
        return epochSeconds(.string(s))
    }

    private static func rfc3339(_ text: String) -> Timestamp? {
        let pattern = "(\\d{4}-\\d{2}-\\d{2})[Tt ](\\d{2}:\\d{2}:\\d{2}(?:\\.\\d+)?(?:[Zz]|[+-]\\d{2}:\\d{2}))"
        guard let c = captures(pattern, in: text), let date = c[0], let time = c[1] else { return nil }
        return Timestamp(rfc3339: date + "T" + time)
    }

    /// `resets 1pm (Europe/Lisbon)`, `resets 5:30pm (Asia/Jerusalem)`,
    /// `resets Feb 7, 11am (Asia/Seoul)`; a time needs am/pm or minutes, so
    /// `resets in 5 hours` is left to the relative form.
    private static func resetsWallClock(_ text: String, now: Timestamp, zones: ZoneLookup) -> Timestamp? {
        let pattern = "resets\\s+(?:at\\s+)?(?:" + monthPattern + "\\s+(\\d{1,2})(?:st|nd|rd|th)?,?\\s+(?:(\\d{4}),?\\s+)?(?:at\\s+)?)?"
            + "(\\d{1,2})(?::(\\d{2}))?\\s*([ap]\\.?m\\.?)?(?:\\s*\\(([^)\\s]+)\\))?"
        guard let c = captures(pattern, in: text) else { return nil }
        guard c[5] != nil || c[4] != nil else { return nil }
        let zone: ZoneRules
        if let name = c[6] {
            guard let named = zones.named(name) else { return nil }
            zone = named
        } else {
            zone = zones.local
        }
        return wallClock(month: c[0], day: c[1], year: c[2], hour: c[3], minute: c[4], meridiem: c[5], zone: zone, now: now)
    }

    /// Codex: `try again at 12:16 PM.` (today) or `try again at Sep 15th,
    /// 2025 2:05 PM.`, both in the machine's local zone.
    private static func tryAgainWallClock(_ text: String, now: Timestamp, zones: ZoneLookup) -> Timestamp? {
        let pattern = "try again at\\s+(?:" + monthPattern + "\\s+(\\d{1,2})(?:st|nd|rd|th)?,?\\s+(?:(\\d{4}),?\\s+)?)?"
            + "(\\d{1,2}):(\\d{2})\\s*([ap]\\.?m\\.?)?"
        guard let c = captures(pattern, in: text) else { return nil }
        return wallClock(month: c[0], day: c[1], year: c[2], hour: c[3], minute: c[4], meridiem: c[5], zone: zones.local, now: now)
    }

    private static func wallClock(month: String?, day: String?, year: String?, hour: String?, minute: String?,
                                  meridiem: String?, zone: ZoneRules, now: Timestamp) -> Timestamp? {
        guard let hourText = hour, var h = Int64(hourText) else { return nil }
        let m = minute.flatMap { Int64($0) } ?? 0
        guard m < 60 else { return nil }
        if let meridiem {
            guard (1...12).contains(h) else { return nil }
            let isPM = meridiem.lowercased().hasPrefix("p")
            h = h % 12 + (isPM ? 12 : 0)
        }
        guard h < 24 else { return nil }
        let nowSeconds = CivilCalendar.floorDivide(now.nanoseconds, 1_000_000_000).0
        let localNow = nowSeconds + Int64(zone.offset(atUTC: nowSeconds))
        let today = CivilCalendar.date(days: CivilCalendar.floorDivide(localNow, 86_400).0)
        let timeOfDay = h * 3600 + m * 60

        func instant(_ y: Int64, _ mo: Int64, _ d: Int64) -> Timestamp {
            let local = CivilCalendar.days(year: y, month: mo, day: d) * 86_400 + timeOfDay
            return Timestamp(nanoseconds: zone.utc(fromLocal: local) * 1_000_000_000)
        }

        if let monthText = month, let dayText = day, let d = Int64(dayText) {
            guard let index = months.firstIndex(of: String(monthText.lowercased().prefix(3))) else { return nil }
            let mo = Int64(index + 1)
            if let yearText = year, let y = Int64(yearText) {
                guard d >= 1, d <= CivilCalendar.daysInMonth(year: y, month: mo) else { return nil }
                return instant(y, mo, d)
            }
            guard d >= 1, d <= 31 else { return nil }
            let thisYear = instant(today.year, mo, d)
            return thisYear < now.adding(seconds: -86_400) ? instant(today.year + 1, mo, d) : thisYear
        }
        let todays = instant(today.year, today.month, today.day)
        guard todays < now.adding(seconds: -3600) else { return todays }
        let tomorrow = CivilCalendar.date(days: CivilCalendar.days(year: today.year, month: today.month, day: today.day) + 1)
        return instant(tomorrow.year, tomorrow.month, tomorrow.day)
    }

    /// `retry in 37s`, `retry in 11.161852119s`, `retry after 60s`,
    /// `try again in 2 days 17 hours 14 minutes`, `resets in 3h 20m`,
    /// `"resets_in_seconds":13872`.
    private static func relative(_ text: String, now: Timestamp) -> Timestamp? {
        if let c = captures("\"?resets_in_seconds\"?\\s*[:=]\\s*(\\d+)", in: text), let s = c[0], let seconds = Double(s) {
            return now.adding(seconds: seconds)
        }
        let unit = "(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s|ms)"
        let pattern = "(?:try again in|retry in|retry after|retrying in|resets in|retry-after:?)\\s+((?:\\d+(?:\\.\\d+)?\\s*" + unit
            + "(?![a-z])(?:\\s*,?\\s*(?:and\\s+)?)?)+)"
        guard let c = captures(pattern, in: text), let span = c[0] else { return nil }
        var seconds = 0.0
        var number = ""
        var word = ""
        func flush() {
            defer { number = ""; word = "" }
            guard let value = Double(number) else { return }
            switch word {
            case "ms": seconds += value / 1000
            case let w where w.hasPrefix("d"): seconds += value * 86_400
            case let w where w.hasPrefix("h"): seconds += value * 3600
            case let w where w.hasPrefix("m"): seconds += value * 60
            default: seconds += value
            }
        }
        for ch in span.lowercased() {
            if ch.isNumber || ch == "." {
                if !word.isEmpty { flush() }
                number.append(ch)
            } else if ch.isLetter {
                word.append(ch)
            } else if !word.isEmpty {
                flush()
            }
        }
        flush()
        return now.adding(seconds: seconds)
    }
}
