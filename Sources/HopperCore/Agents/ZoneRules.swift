/// One time zone's UTC offsets over time, read from a compiled TZif file
/// (RFC 8536, the files under /usr/share/zoneinfo).
///
/// Agent CLIs report reset times as wall-clock times, some with an IANA zone
/// (`resets 1pm (Europe/Lisbon)`), some in the machine's local zone (`try
/// again at 12:16 PM`). Turning those into instants needs the zone's rules;
/// Hopper reads the system's zone files itself rather than depend on
/// Foundation's time zone support.
///
/// Instants past the file's last transition follow its footer, a POSIX `TZ`
/// rule such as `WET0WEST,M3.5.0/1,M10.5.0` (slim zone files hold nothing
/// else for the years ahead).
public struct ZoneRules: Sendable, Equatable {
    /// Transition instants in UTC seconds, ascending.
    private var transitions: [Int64] = []
    /// The UTC offset in seconds that starts at each transition.
    private var offsets: [Int32] = []
    /// The offset before the first transition.
    private var initialOffset: Int32 = 0
    /// Rules for instants after the last transition.
    private var footer: PosixZoneRule?

    /// A zone with one fixed offset (UTC for 0).
    public init(fixedOffset seconds: Int32) {
        initialOffset = seconds
    }

    public static let utc = ZoneRules(fixedOffset: 0)

    /// Parses TZif data; nil when it is not a TZif file.
    public init?(tzif bytes: [UInt8]) {
        var reader = TZifReader(bytes: bytes)
        guard let parsed = reader.read() else { return nil }
        transitions = parsed.transitions
        offsets = parsed.offsets
        initialOffset = parsed.initialOffset
        footer = parsed.footer
    }

    /// The UTC offset in seconds at a UTC instant given in epoch seconds.
    public func offset(atUTC seconds: Int64) -> Int32 {
        if let last = transitions.last, seconds >= last, let footer {
            return footer.offset(atUTC: seconds)
        }
        // The last transition at or before `seconds`.
        var low = 0, high = transitions.count
        while low < high {
            let mid = (low + high) / 2
            if transitions[mid] <= seconds { low = mid + 1 } else { high = mid }
        }
        if low == 0 { return transitions.isEmpty ? (footer?.offset(atUTC: seconds) ?? initialOffset) : initialOffset }
        return offsets[low - 1]
    }

    /// The UTC instant (epoch seconds) of a wall-clock time in this zone,
    /// given as seconds since 1970-01-01 00:00 of that wall clock.
    ///
    /// A time that occurs twice (clocks set back) is taken at its first
    /// occurrence; a time that never occurs (clocks set forward) is read with
    /// the offset in force before the change, so it lands after the gap.
    public func utc(fromLocal local: Int64) -> Int64 {
        // The offsets in force around the wall-clock time, tried earliest instant first.
        let candidates = Set([offset(atUTC: local - 86_400), offset(atUTC: local), offset(atUTC: local + 86_400)])
            .sorted(by: >)
        for candidate in candidates where offset(atUTC: local - Int64(candidate)) == candidate {
            return local - Int64(candidate)
        }
        return local - Int64(offset(atUTC: local - 86_400))
    }

    /// The rules of the IANA zone `name` from `directory`; nil when the name
    /// is not a plain zone name or no such file holds TZif data.
    public static func load(named name: String, directory: String = "/usr/share/zoneinfo") -> ZoneRules? {
        guard isZoneName(name) else { return nil }
        guard let bytes = try? AtomicFile.read(path: directory + "/" + name, limit: 1 << 20) else { return nil }
        return ZoneRules(tzif: bytes)
    }

    /// The machine's local zone: `TZ` when it names a zone (`Europe/Paris`,
    /// `:Europe/Paris`, or a POSIX rule such as `CET-1CEST,M3.5.0,M10.5.0/3`),
    /// else /etc/localtime, else UTC.
    public static func local(tz: String?, directory: String = "/usr/share/zoneinfo") -> ZoneRules {
        if var tz, !tz.isEmpty {
            if tz.hasPrefix(":") { tz.removeFirst() }
            if tz.hasPrefix("/") {
                if let bytes = try? AtomicFile.read(path: tz, limit: 1 << 20), let rules = ZoneRules(tzif: bytes) { return rules }
            } else if let rules = load(named: tz, directory: directory) {
                return rules
            } else if let rule = PosixZoneRule(tz) {
                var rules = ZoneRules(fixedOffset: 0)
                rules.footer = rule
                return rules
            }
        }
        if let bytes = try? AtomicFile.read(path: "/etc/localtime", limit: 1 << 20), let rules = ZoneRules(tzif: bytes) {
            return rules
        }
        return .utc
    }

    /// `Area/City` style: letters, digits, `_`, `-`, `+` and single slashes,
    /// never `..`, so a name from a CLI's output cannot reach outside the
    /// zone directory.
    static func isZoneName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count < 128, !name.hasPrefix("/"), !name.hasSuffix("/") else { return false }
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part != ".", part != ".." else { return false }
        }
        return name.utf8.allSatisfy { byte in
            TaskID.isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
        }
    }
}
