import Glibc

/// An accepted task as its file in pending/, queued/ or running/ holds it:
/// the validated request plus what Hopper has learnt since.
///
/// On-disk form: one JSON object with the request's fields (the `provider`
/// resolved to a name) and the metadata keys `source`, `submitted_at`, `seq`,
/// `attempts`, `interruptions`, optionally `not_before` (a retry's earliest
/// start), `origin` (identity of the dropped file, so a crash between
/// accepting it and removing it from incoming/ cannot accept it twice) and
/// `owner` (who dropped it: `{"uid": N, "user": NAME}`).
public struct SpooledTask: Sendable {
    public var id: TaskID
    public var request: TaskRequest
    public var provider: String
    public var source: String
    public var submittedAt: Timestamp
    /// Acceptance order; breaks priority ties.
    public var seq: UInt64
    /// Attempts whose command was started.
    public var attempts = 0
    /// Times a daemon stopped while the task was running (crash or kill).
    public var interruptions = 0
    public var notBefore: Timestamp?
    public var origin: Origin?
    /// The dropped file's owner; nil for a task file written before owners were kept.
    public var owner: TaskOwner?
    /// Whether any attempt ever started (kept across restarts and requeues):
    /// `queue_timeout` only bounds tasks that never started.
    public var started = false
    /// Slurm providers: the attempt whose job was (or was being) submitted,
    /// and its job id once `sbatch` gave it. A task in running/ with these
    /// is followed after a restart, never run again.
    public var slurmAttempt: Int?
    public var slurmJobID: String?

    /// Identity of a dropped file: inode, change time and size.
    public struct Origin: Sendable, Equatable, Hashable {
        public var inode: UInt64
        public var changeTime: Int64
        public var size: Int64
        public init(inode: UInt64, changeTime: Int64, size: Int64) {
            self.inode = inode
            self.changeTime = changeTime
            self.size = size
        }

        /// The identity of the file `st` describes: the one place it is built,
        /// at intake and at recovery alike, so the two never differ.
        public init(_ st: stat) {
            self.init(inode: UInt64(st.st_ino), changeTime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
                      size: Int64(st.st_size))
        }
    }

    public init(id: TaskID, request: TaskRequest, provider: String, source: String, submittedAt: Timestamp, seq: UInt64) {
        self.id = id
        self.request = request
        self.request.id = id
        self.provider = provider
        self.source = source
        self.submittedAt = submittedAt
        self.seq = seq
    }

    /// The task file's bytes.
    public func encoded() -> [UInt8] {
        var w = JSONWriter(capacity: 384)
        w.beginObject()
        var request = self.request
        request.provider = provider
        request.write(to: &w)
        w.field("source", source)
        w.field("submitted_at", submittedAt.rfc3339)
        w.field("seq", Int64(bitPattern: seq))
        w.field("attempts", attempts)
        w.field("interruptions", interruptions)
        if let notBefore { w.field("not_before", notBefore.rfc3339) }
        if started { w.field("started", true) }
        if let owner {
            w.key("owner")
            owner.write(to: &w)
        }
        if let slurmAttempt { w.field("slurm_attempt", slurmAttempt) }
        if let slurmJobID { w.field("slurm_job_id", slurmJobID) }
        if let origin {
            w.key("origin")
            w.beginObject()
            w.field("inode", Int64(bitPattern: origin.inode))
            w.field("ctime_ns", origin.changeTime)
            w.field("size", origin.size)
            w.endObject()
        }
        w.endObject()
        return w.line
    }

    /// Reads a task file back. Providers are not checked against the
    /// configuration here: a task accepted under an older configuration keeps
    /// its provider and fails at start if it no longer exists.
    public static func decode(_ bytes: [UInt8]) throws(HopperError) -> SpooledTask {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw HopperError(error) }
        var r = try FieldReader(json)
        var request = try TaskRequest(json: json, rules: TaskRequest.Rules(providers: nil, maxTimeout: .infinity), reader: &r)
        guard let provider = request.provider else { throw HopperError(.missingField, "field \"provider\" is required", field: "provider") }
        request.provider = nil
        guard let id = request.id else { throw HopperError(.missingField, "field \"id\" is required", field: "id") }
        let source = try r.string("source") ?? ""
        let submitted = try r.string("submitted_at").flatMap(Timestamp.init(rfc3339:)) ?? Timestamp(nanoseconds: 0)
        let seq = try r.int("seq", in: 0...Int.max) ?? 0
        var task = SpooledTask(id: id, request: request, provider: provider, source: source, submittedAt: submitted, seq: UInt64(seq))
        task.attempts = try r.int("attempts", in: 0...Int.max) ?? 0
        task.interruptions = try r.int("interruptions", in: 0...Int.max) ?? 0
        task.notBefore = try r.string("not_before").flatMap(Timestamp.init(rfc3339:))
        task.started = try r.bool("started") ?? (task.attempts > 0 || task.interruptions > 0)
        task.owner = try r.nested("owner") { (o) throws(HopperError) in try TaskOwner.read(&o) }
        task.slurmAttempt = try r.int("slurm_attempt", in: 1...Int.max)
        task.slurmJobID = try r.string("slurm_job_id", nonEmpty: true)
        task.origin = try r.nested("origin") { (o) throws(HopperError) in
            Origin(inode: UInt64(bitPattern: Int64(try o.int("inode", in: Int.min...Int.max) ?? 0)),
                   changeTime: Int64(try o.int("ctime_ns", in: Int.min...Int.max) ?? 0),
                   size: Int64(try o.int("size", in: 0...Int.max) ?? 0))
        }
        return task
    }
}
