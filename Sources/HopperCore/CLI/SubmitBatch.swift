import Glibc

/// The requests of one `hopper submit` call: each is built, validated with
/// intake's rules and serialized as it is added, and all are written after
/// the last was added, so one invalid request writes nothing.
///
/// Writing keeps input order and prints each id once its file is in
/// incoming/. A failure there (a full disk) stops the call: the tasks
/// written before it stay (their ids printed) and the error names the
/// first one that was not written.
struct SubmitBatch {
    /// Where a request came from, as messages and `--json` name it.
    enum Origin {
        case command
        case line(Int)
        case file(String)

        /// ` line 3`, ` a.json`, or nothing: the words after "cannot submit".
        var subject: String {
            switch self {
            case .command: ""
            case .line(let n): " line \(n)"
            case .file(let path): " \(path)"
            }
        }
    }

    private struct Prepared {
        var id: String
        var bytes: [UInt8]
        var origin: Origin
    }

    let rules: SubmitRules
    let fields: SubmitFields
    let spoolPath: String
    private var prepared: [Prepared] = []
    private var suffixes = IDSuffixGenerator(salt: IDSuffixGenerator.random(3))
    /// Ids a request gave itself, for duplicates within the call and in the spool.
    private var givenIDs: Set<TaskID> = []
    private var reader: SpoolReader?

    init(rules: SubmitRules, fields: SubmitFields, spoolPath: String) {
        self.rules = rules
        self.fields = fields
        self.spoolPath = spoolPath
    }

    mutating func reserve(_ count: Int) { prepared.reserveCapacity(count) }

    /// A task that runs `command`; its id is made from the command's program.
    mutating func add(command: String, from origin: Origin) throws(HopperError) {
        try add(JSONObject([("command", .string(command))]), stem: SubmitCommand.programName(command), from: origin)
    }

    /// A request file (`-`: standard input): JSON, or a `.sh` script whose
    /// text is the command. Its id, when it gives none, is made from its name.
    mutating func add(file path: String) throws(HopperError) {
        let origin = Origin.file(path)
        let bytes: [UInt8]
        do {
            bytes = path == "-" ? try FileDescriptor.standardInput.readAll(limit: rules.maxRequestBytes)
                : try AtomicFile.read(path: path, limit: rules.maxRequestBytes)
        } catch {
            if error.errno.rawValue == EFBIG {
                throw HopperError(.tooLarge, "cannot submit \(path): larger than limits.max_request_bytes (\(rules.maxRequestBytes) bytes)")
            }
            throw HopperError(.unreadable, "cannot submit \(path): \(error.errno)", underlying: error)
        }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if path.hasSuffix(".sh") {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw HopperError(.notUTF8, "cannot submit \(path): the script is not valid UTF-8")
            }
            try add(JSONObject([("command", .string(text))]), stem: String(name.dropLast(3)), from: origin)
            return
        }
        let object: JSONObject
        do throws(HopperError) {
            let json: JSONValue
            do { json = try JSONParser.parse(bytes) } catch { throw HopperError(error) }
            object = try FieldReader(json).object
        } catch {
            throw SubmitBatch.failed(error, origin)
        }
        let stem = path == "-" ? SubmitCommand.programName(object["command"]?.stringValue ?? "task")
            : name.hasSuffix(".json") ? String(name.dropLast(5)) : name
        try add(object, stem: stem, from: origin)
    }

    private mutating func add(_ base: JSONObject, stem: String, from origin: Origin) throws(HopperError) {
        var request = base
        fields.apply(to: &request)
        // The id first, as a reader of the file expects it: the given one, else a new one.
        let given = request["id"].flatMap { $0 == .null ? nil : $0 }
        request["id"] = nil
        let idValue = given ?? .string(TaskID.generate(stem: stem, suffix: suffixes.next()).rawValue)
        request = JSONObject([("id", idValue)] + request.members.map { ($0.key, $0.value) })
        let decoded: TaskRequest
        do { decoded = try TaskRequest.decode(.object(request), rules: rules.request) } catch {
            throw SubmitBatch.failed(error, origin)
        }
        guard let id = decoded.id else { throw SubmitBatch.failed(HopperError(.missingField, "no id"), origin) }
        var w = JSONWriter()
        w.value(.object(request))
        guard w.bytes.count <= rules.maxRequestBytes else {
            throw SubmitBatch.failed(HopperError(.tooLarge, "the request is \(w.bytes.count) bytes, above limits.max_request_bytes (\(rules.maxRequestBytes))"), origin)
        }
        if given != nil { try checkUnique(id, origin) }
        prepared.append(Prepared(id: id.rawValue, bytes: w.bytes, origin: origin))
    }

    /// A given id must be new to the call and to the spool (duplicate_id at intake otherwise).
    private mutating func checkUnique(_ id: TaskID, _ origin: Origin) throws(HopperError) {
        if reader == nil { reader = try? SpoolReader.open(spoolPath) }
        guard givenIDs.insert(id).inserted, !(reader.map { $0.locate(id).exists } ?? false) else {
            throw HopperError(.duplicateID, "cannot submit\(origin.subject): a task with id \(id.rawValue) already exists")
        }
    }

    /// Writes every request into incoming/, in order, printing each id as its file lands.
    func write(to drop: SpoolDrop, json: Bool) throws(HopperError) {
        var out = Output()
        for (written, p) in prepared.enumerated() {
            do { try drop.write(p.bytes, as: p.id + ".json") } catch {
                out.flush()
                let before = prepared.count > 1 ? " (\(written) written before it, their ids printed)" : ""
                throw HopperError(error.code, "cannot submit\(p.origin.subject): \(error.message)\(before)", underlying: error.underlying)
            }
            if json {
                switch p.origin {
                case .command: out.jsonLine([("id", .string(p.id))])
                case .line(let n): out.jsonLine([("id", .string(p.id)), ("line", .int(Int64(n)))])
                case .file(let path): out.jsonLine([("id", .string(p.id)), ("file", .string(path))])
                }
            } else {
                out.line(p.id)
            }
        }
        out.flush()
    }

    private static func failed(_ error: HopperError, _ origin: Origin) -> HopperError {
        HopperError(error.code, "cannot submit\(origin.subject): \(error.message)", field: error.field, underlying: error.underlying)
    }
}
