/// Read-only lookups in a spool for the CLI: works with or without a daemon.
struct SpoolReader {
    let spool: Spool

    static func open(_ path: String) throws(HopperError) -> SpoolReader {
        do { return SpoolReader(spool: try Spool.open(at: path)) } catch {
            throw HopperError(.notFound, "no spool at \(Spool.absolute(path)) (\(error.errno)); create one with hopper init", underlying: error)
        }
    }

    /// A task as one of its files: the record in done/, or the task file.
    struct Found {
        var state: TaskState
        var object: JSONObject
    }

    /// Looks in the order a task moves (pending, queued, running, done), so a
    /// task that moves on during the lookup is met again further along; one
    /// more pass covers a retry moving it back to pending/.
    private func find(_ id: TaskID) -> Found? {
        let name = Spool.taskFile(id)
        for _ in 0..<2 {
            for state in [TaskState.pending, .queued, .running] {
                if let bytes = try? AtomicFile.read(name, in: spool[state.directory]), let json = try? JSONParser.parse(bytes), var o = json.objectValue {
                    o["state"] = .string(state.rawValue)
                    return Found(state: state, object: o)
                }
            }
            if let bytes = try? AtomicFile.read(name, in: spool[.done]), let record = try? RecordSummary(bytes: bytes) {
                return Found(state: record.state, object: record.object)
            }
        }
        return nil
    }

    /// Where a task is, for the commands that name one.
    enum Location {
        case found(Found)
        /// Its request waits in incoming/ or is being taken.
        case submitted
        /// Its request (`<id>.json`) was rejected: the explanation.
        case rejected(JSONObject)
        case missing

        /// Accepted or still being submitted: its id is taken.
        var exists: Bool {
            switch self {
            case .found, .submitted: return true
            case .rejected, .missing: return false
            }
        }
    }

    /// Where task `id` is. The request's own places (incoming/, being
    /// claimed) are looked at first, then the states: a request accepted
    /// between the two looks is met in its state. The other order missed it
    /// (gone from pending/ and queued/ when they were looked at because not
    /// there yet, gone from incoming/ when that was), and a `hopper wait`
    /// right after a `hopper submit` said "no such task". The one lookup of
    /// a single task the commands have: its parts are private, so none can
    /// look in the other order again.
    func locate(_ id: TaskID) -> Location {
        let submitted = isSubmitted(id)
        if let found = find(id) { return .found(found) }
        if submitted { return .submitted }
        if let rejection = rejection(id) { return .rejected(rejection) }
        return .missing
    }

    /// Whether a request for `id` is still waiting in incoming/ (or being taken).
    private func isSubmitted(_ id: TaskID) -> Bool {
        spool[.incoming].exists(FileName(id.rawValue + ".json")) || spool.claimed.exists(FileName(id.rawValue + ".json"))
    }

    /// The rejection of a request submitted as `<id>.json`, if it was rejected.
    private func rejection(_ id: TaskID) -> JSONObject? {
        guard let bytes = try? AtomicFile.read(FileName(id.rawValue + ".json.error.json"), in: spool[.rejected]) else { return nil }
        return (try? JSONParser.parse(bytes))?.objectValue
    }

    /// Ids in one state directory.
    func ids(in directory: SpoolDirectory) -> [TaskID] {
        ((try? spool[directory].entries()) ?? []).compactMap { name in
            name.hasSuffix(".json") ? TaskID(String(decoding: name.dropping(suffix: ".json"), as: UTF8.self)) : nil
        }
    }

    /// Every task with its state, unfinished ones first, in id order within a state.
    func all(states: Set<TaskState>? = nil) -> [Found] {
        var result: [Found] = []
        for state in [TaskState.pending, .queued, .running] where states?.contains(state) ?? true {
            for id in ids(in: state.directory).sorted() {
                if let found = find(id), found.state == state { result.append(found) }
            }
        }
        let wantDone = states.map { !$0.filter(\.isTerminal).isEmpty } ?? true
        if wantDone {
            for id in ids(in: .done).sorted() {
                guard let bytes = try? AtomicFile.read(Spool.taskFile(id), in: spool[.done]), let r = try? RecordSummary(bytes: bytes) else { continue }
                if states?.contains(r.state) ?? true { result.append(Found(state: r.state, object: r.object)) }
            }
        }
        return result
    }
}
