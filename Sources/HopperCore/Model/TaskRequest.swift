/// What a client asks for (SPEC section 3), validated field by field.
public struct TaskRequest: Sendable, Equatable {
    public var id: TaskID?
    public var command: String
    public var provider: String?
    public var stdin: String?
    public var env: [Pair] = []
    public var cwd: String?
    public var timeout: Double?
    public var priority = 0
    public var runAfter: Timestamp?
    public var after: [TaskID] = []
    public var retries = 0
    public var queueTimeout: Double?
    public var labels: [Pair] = []
    /// A coalescing key: at most one task with it pending, queued or running.
    public var key: TaskID?
    public var onConflict: OnConflict = .queue
    /// `continue`: the earlier task whose agent conversation this one goes on
    /// with (SPEC section 7a); it is also in `after`.
    public var continues: TaskID?

    /// What a task whose key is held does (SPEC section 12).
    public enum OnConflict: String, Sendable, CaseIterable {
        /// Waits its turn behind the tasks that hold or wait for the key.
        case queue
        /// Ends at once, cancelled with reason `duplicate_key`.
        case skip
        /// Cancels the unstarted tasks of the key (reason `replaced`) and takes their place.
        case replace
    }

    /// An ordered name/value pair (`env`, `labels`).
    public struct Pair: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public init(command: String) { self.command = command }

    /// What validation needs to know of the configuration.
    public struct Rules: Sendable {
        /// Provider names a request may use; nil accepts any (stored tasks).
        public var providers: Set<String>?
        public var maxTimeout: Double

        public init(providers: Set<String>?, maxTimeout: Double) {
            self.providers = providers
            self.maxTimeout = maxTimeout
        }

        public init(_ config: Configuration) {
            self.init(providers: Set(config.providers.keys), maxTimeout: config.commandMaxTimeout)
        }
    }

    /// Decodes and validates a request object. `extraKeys` are tolerated and
    /// left for the caller (the spool's task files add their own metadata).
    public init(json: JSONValue, rules: Rules, reader: inout FieldReader) throws(HopperError) {
        var r = reader
        if let s = try r.string("id") {
            guard let id = TaskID(s) else {
                throw HopperError(.invalidField, "field \"id\": \(FieldReader.describe(.string(s))) is not a valid id ([A-Za-z0-9][A-Za-z0-9._-]{0,127})", field: "id")
            }
            self.id = id
        }
        command = try r.required("command") { (r, k) throws(HopperError) in try r.string(k, nonEmpty: true) }
        try TaskRequest.refuseNUL(command, field: "command")
        if let p = try r.string("provider", nonEmpty: true) {
            guard rules.providers?.contains(p) ?? true else {
                throw HopperError(.invalidField, "field \"provider\": no provider named \(FieldReader.describe(.string(p))) is configured", field: "provider")
            }
            provider = p
        }
        stdin = try r.string("stdin")
        env = (try r.stringMap("env", keyPattern: isEnvironmentName, keyDescription: "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)") ?? []).map { Pair($0.0, $0.1) }
        for pair in env { try TaskRequest.refuseNUL(pair.value, field: "env." + pair.name) }
        if let c = try r.string("cwd", nonEmpty: true) {
            guard c.hasPrefix("/") else { throw HopperError(.invalidField, "field \"cwd\": expected an absolute path, got \(FieldReader.describe(.string(c)))", field: "cwd") }
            try TaskRequest.refuseNUL(c, field: "cwd")
            cwd = c
        }
        if let t = try r.seconds("timeout", exclusive: true) {
            guard t <= rules.maxTimeout else {
                throw HopperError(.invalidField, "field \"timeout\": \(FieldReader.format(t)) is above the configured maximum of \(FieldReader.format(rules.maxTimeout)) seconds", field: "timeout")
            }
            timeout = t
        }
        priority = try r.int("priority", in: -1000...1000) ?? 0
        if let s = try r.string("run_after") {
            guard let t = Timestamp(rfc3339: s) else {
                if Timestamp.isOutOfRange(rfc3339: s) {
                    throw HopperError(.invalidField, "field \"run_after\": \(FieldReader.describe(.string(s))) is outside the times Hopper can hold (years 1678 to 2261)", field: "run_after")
                }
                throw HopperError(.invalidField, "field \"run_after\": expected an RFC 3339 time such as 2026-01-31T23:00:00Z, got \(FieldReader.describe(.string(s)))", field: "run_after")
            }
            // Task files keep microseconds; a leap second or a finer fraction
            // would otherwise read back a few nanoseconds earlier after a restart.
            runAfter = t.wholeMicroseconds
        }
        if let list = try r.stringArray("after") {
            for s in list {
                guard let id = TaskID(s) else {
                    throw HopperError(.invalidField, "field \"after\": \(FieldReader.describe(.string(s))) is not a valid id", field: "after")
                }
                if !after.contains(id) { after.append(id) }
            }
        }
        if let c = try r.string("continue") {
            guard let id = TaskID(c) else {
                throw HopperError(.invalidField, "field \"continue\": \(FieldReader.describe(.string(c))) is not a valid id", field: "continue")
            }
            continues = id
            // Continuing implies waiting for that task.
            if !after.contains(id) { after.append(id) }
        }
        retries = try r.int("retries", in: 0...100) ?? 0
        queueTimeout = try r.seconds("queue_timeout")
        labels = (try r.stringMap("labels") ?? []).map { Pair($0.0, $0.1) }
        if let k = try r.string("key") {
            guard let key = TaskID(k) else {
                throw HopperError(.invalidField, "field \"key\": \(FieldReader.describe(.string(k))) is not a valid key ([A-Za-z0-9][A-Za-z0-9._-]{0,127})", field: "key")
            }
            self.key = key
        }
        if let c = try r.string("on_conflict") {
            guard let choice = OnConflict(rawValue: c) else {
                throw HopperError(.invalidField, "field \"on_conflict\": expected \"queue\", \"skip\" or \"replace\", got \(FieldReader.describe(.string(c)))", field: "on_conflict")
            }
            onConflict = choice
        }
        reader = r
    }

    /// JSON may carry `\u0000`, but an argv element, an environment value or a
    /// path cannot: C would cut it there and run something else (a `cwd` of
    /// "/tmp\u0000/x" would run in /tmp). Refused at intake, as in a script.
    static func refuseNUL(_ value: String, field: String) throws(HopperError) {
        guard value.utf8.contains(0) else { return }
        throw HopperError(.invalidField, "field \(FieldReader.quote(field)): contains a NUL byte, which no command, environment or path can hold", field: field)
    }

    /// Decodes a whole request document, rejecting unknown fields.
    public static func decode(_ json: JSONValue, rules: Rules) throws(HopperError) -> TaskRequest {
        var reader = try FieldReader(json)
        let request = try TaskRequest(json: json, rules: rules, reader: &reader)
        try reader.finish()
        if let id = request.id, request.continues == id {
            throw HopperError(.invalidField, "field \"continue\": a task cannot continue itself", field: "continue")
        }
        if let id = request.id, request.after.contains(id) {
            throw HopperError(.invalidField, "field \"after\": a task cannot wait for itself", field: "after")
        }
        return request
    }

    /// Parses and decodes request bytes.
    public static func parse(_ bytes: [UInt8], rules: Rules) throws(HopperError) -> TaskRequest {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw HopperError(error) }
        return try decode(json, rules: rules)
    }

    /// Writes the request's fields (those that differ from defaults).
    public func write(to w: inout JSONWriter) {
        if let id { w.field("id", id.rawValue) }
        w.field("command", command)
        if let provider { w.field("provider", provider) }
        if let stdin { w.field("stdin", stdin) }
        if !env.isEmpty { w.key("env"); TaskRequest.writePairs(env, to: &w) }
        if let cwd { w.field("cwd", cwd) }
        if let timeout { w.field("timeout", timeout) }
        if priority != 0 { w.field("priority", priority) }
        if let runAfter { w.field("run_after", runAfter.rfc3339) }
        if !after.isEmpty {
            w.key("after")
            w.beginArray()
            for id in after { w.string(id.rawValue) }
            w.endArray()
        }
        if retries != 0 { w.field("retries", retries) }
        if let queueTimeout { w.field("queue_timeout", queueTimeout) }
        if !labels.isEmpty { w.key("labels"); TaskRequest.writePairs(labels, to: &w) }
        if let key { w.field("key", key.rawValue) }
        if onConflict != .queue { w.field("on_conflict", onConflict.rawValue) }
        if let continues { w.field("continue", continues.rawValue) }
    }

    static func writePairs(_ pairs: [Pair], to w: inout JSONWriter) {
        w.beginObject()
        for p in pairs { w.field(p.name, p.value) }
        w.endObject()
    }
}
