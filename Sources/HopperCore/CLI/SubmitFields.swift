/// The request fields that `hopper submit`'s options set, read once and
/// applied to every request of the call.
///
/// On a request file's own fields: an option replaces the field it names;
/// `--env` and `--label` add names to the file's maps (the option wins a
/// name both give), and `--after` adds ids to the file's list.
struct SubmitFields {
    /// `--id`: one task only.
    var id: String?
    /// Fields that replace, in the order the request shows them.
    var scalars: [(String, JSONValue)] = []
    var env: [(String, String)] = []
    var labels: [(String, String)] = []
    var after: [String] = []

    /// Reads the options; `stdinLimit` bounds `--stdin-file`.
    init(_ args: Arguments, stdinLimit: Int) throws(HopperError) {
        id = args.value("id")
        if let p = args.value("provider") { scalars.append(("provider", .string(p))) }
        if let n = try args.integer("priority") { scalars.append(("priority", .int(Int64(n)))) }
        if let t = try args.number("timeout") { scalars.append(("timeout", .double(t))) }
        if let n = try args.integer("retries") { scalars.append(("retries", .int(Int64(n)))) }
        if let t = try args.number("queue-timeout") { scalars.append(("queue_timeout", .double(t))) }
        if let t = args.value("run-after") { scalars.append(("run_after", .string(t))) }
        if let c = args.value("cwd") { scalars.append(("cwd", .string(Spool.absolute(c)))) }
        if let k = args.value("key") { scalars.append(("key", .string(k))) }
        if let c = args.value("continue") { scalars.append(("continue", .string(c))) }
        if let c = args.value("on-conflict") {
            guard args.value("key") != nil else { throw HopperError(.usage, "--on-conflict needs --key") }
            scalars.append(("on_conflict", .string(c)))
        }
        after = args.values("after")
        env = try SubmitFields.pairs(args, "env")
        labels = try SubmitFields.pairs(args, "label")
        if let file = args.value("stdin-file") {
            do { scalars.append(("stdin", .string(String(decoding: try AtomicFile.read(path: file, limit: stdinLimit), as: UTF8.self)))) } catch {
                throw HopperError(.usage, "cannot read --stdin-file \(file): \(error.errno)")
            }
        }
    }

    private static func pairs(_ args: Arguments, _ option: String) throws(HopperError) -> [(String, String)] {
        try args.values(option).map { (pair) throws(HopperError) in
            guard let eq = pair.firstIndex(of: "=") else { throw HopperError(.usage, "--\(option) expects NAME=VALUE, got \(pair)") }
            return (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
        }
    }

    /// Sets the fields on `request`. A map or list of the wrong type in a
    /// file is left as it is, for validation to name.
    func apply(to request: inout JSONObject) {
        if let id { request["id"] = .string(id) }
        for (key, value) in scalars { request[key] = value }
        for (key, pairs) in [("env", env), ("labels", labels)] where !pairs.isEmpty {
            guard var map = SubmitFields.existing(request[key], or: JSONObject()) else { continue }
            for (name, value) in pairs { map[name] = .string(value) }
            request[key] = .object(map)
        }
        if !after.isEmpty {
            let list = request["after"] ?? .null
            guard list == .null || list.arrayValue != nil else { return }
            var ids = list.arrayValue ?? []
            for a in after where !ids.contains(.string(a)) { ids.append(.string(a)) }
            request["after"] = .array(ids)
        }
    }

    /// The object under a key, `empty` when the key is absent or null, nil when it holds something else.
    private static func existing(_ value: JSONValue?, or empty: JSONObject) -> JSONObject? {
        switch value {
        case nil, .null?: empty
        case .object(let o)?: o
        default: nil
        }
    }
}
