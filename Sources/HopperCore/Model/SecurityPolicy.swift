/// `security` in the configuration (SPEC section 13): whose files are taken,
/// and as whom their tasks run.
public struct SecurityPolicy: Sendable, Equatable {
    public enum RunAs: String, Sendable {
        /// Each task as the owner of the file that submitted it.
        case owner
        /// Every task as the daemon's own user.
        case daemon
    }

    /// One entry of `allowed_owners`.
    public enum OwnerRule: Sendable, Equatable {
        case anyone
        case uid(UInt32)
        case name(String)
    }

    /// nil: `owner` for a root daemon, `daemon` otherwise.
    public var runAs: RunAs?
    /// nil: root and the daemon's own user.
    public var allowedOwners: [OwnerRule]?
    public var strictModes = true

    public init() {}

    init(_ r: inout FieldReader) throws(HopperError) {
        if let s = try r.string("run_as") {
            guard let v = RunAs(rawValue: s) else {
                throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("run_as"))): expected \"owner\" or \"daemon\", got \(JSONValue.string(s).serialized())", field: r.name("run_as"))
            }
            runAs = v
        }
        if let v = r.value("allowed_owners") {
            guard case .array(let items) = v, !items.isEmpty else { throw r.invalid("allowed_owners", "a non-empty array of user names or uids", v) }
            allowedOwners = try items.map { (item) throws(HopperError) -> OwnerRule in
                switch item {
                case .string("*"): return .anyone
                case .string(let name) where !name.isEmpty: return .name(name)
                case .int(let uid) where uid >= 0 && uid <= Int64(UInt32.max): return .uid(UInt32(uid))
                default: throw r.invalid("allowed_owners", "user names, uids or \"*\"", item)
                }
            }
        }
        strictModes = try r.bool("strict_modes") ?? true
    }

    /// `run_as` in force for a daemon running with effective uid `daemonUID`.
    public func effectiveRunAs(daemonUID: UInt32) -> RunAs { runAs ?? (daemonUID == 0 ? .owner : .daemon) }

    /// Whether a file owned by `uid` may submit tasks to a daemon running as `daemonUID`.
    /// Names are looked up in the password database (`account`).
    public func allows(_ uid: UInt32, daemonUID: UInt32, account: (UInt32) -> UserAccount?) -> Bool {
        guard let rules = allowedOwners else { return uid == 0 || uid == daemonUID }
        for rule in rules {
            switch rule {
            case .anyone: return true
            case .uid(let allowed) where allowed == uid: return true
            case .name(let name) where account(uid)?.name == name: return true
            default: continue
            }
        }
        return false
    }
}
