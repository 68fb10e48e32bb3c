/// The time zones a reset parser may consult: the machine's local zone (for
/// wall-clock times printed without one, like Codex's `try again at 4:35 PM`)
/// and IANA zones by name (`resets 1pm (Europe/Lisbon)`).
///
/// Injected, so the parsers stay pure: tests pass fixed rules, the daemon
/// passes `system(tz:)`.
public struct ZoneLookup: Sendable {
    public var local: ZoneRules
    public var named: @Sendable (String) -> ZoneRules?

    public init(local: ZoneRules, named: @escaping @Sendable (String) -> ZoneRules?) {
        self.local = local
        self.named = named
    }

    /// UTC as the local zone, and no named zones.
    public static let utc = ZoneLookup(local: .utc) { name in name == "UTC" || name == "Etc/UTC" ? .utc : nil }

    /// The system's zone files: `TZ` (or /etc/localtime) as the local zone,
    /// and names looked up under `directory` when a message carries one.
    public static func system(tz: String?, directory: String = "/usr/share/zoneinfo") -> ZoneLookup {
        ZoneLookup(local: ZoneRules.local(tz: tz, directory: directory)) { name in
            ZoneRules.load(named: name, directory: directory)
        }
    }
}
