/// Who submitted a task: the owner of the file dropped into incoming/, as
/// the kernel reports it (`fstat` on the opened file). The user name is the
/// password database's at intake, kept for people reading records; the uid
/// is what counts.
public struct TaskOwner: Sendable, Hashable {
    public var uid: UInt32
    public var user: String?

    public init(uid: UInt32, user: String?) {
        self.uid = uid
        self.user = user
    }

    /// The `owner` of a task file, record or session entry as a person reads
    /// it: the user name, else the uid, else "-" (none kept).
    public static func label(in object: JSONObject) -> String {
        guard let owner = object["owner"]?.objectValue else { return "-" }
        return owner["user"]?.stringValue ?? owner["uid"]?.intValue.map { String($0) } ?? "-"
    }

    /// "alice (1001)", or "1001" for a uid without a name.
    public var description: String { user.map { "\($0) (\(uid))" } ?? String(uid) }

    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("uid", Int64(uid))
        w.field("user", user)
        w.endObject()
    }

    static func read(_ r: inout FieldReader) throws(HopperError) -> TaskOwner {
        let uid = try r.int("uid", in: 0...Int(UInt32.max)) ?? 0
        return TaskOwner(uid: UInt32(uid), user: try r.string("user"))
    }
}
