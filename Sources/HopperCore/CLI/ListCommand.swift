/// `hopper list`: tasks, one a line.
enum ListCommand {
    static let command = HopperCLI.Command(
        name: "list", summary: "list tasks, one a line",
        usage: "[--state S]... [--provider P]... [--owner USER]... [--label K=V]... [--since TIME] [--json]",
        help: """
        Lists unfinished tasks (pending, queued, running) and finished ones.
        --state keeps only the given states (repeatable; legacy names accepted).
        --provider keeps tasks of the given providers (repeatable).
        --owner keeps tasks submitted by the given users, by name or uid
        (repeatable): the owner of the file that was dropped.
        --label K=V keeps tasks whose label K is V (repeatable; all must match).
        --since keeps tasks submitted at or after TIME: an RFC 3339 time, or a
        duration before now such as 90s, 10m, 2h, 1d.
        --json prints one JSON object a line.

        example: hopper list --state failed --label team=ops --since 1d
        """,
        spec: .init(valued: ["state", "provider", "owner", "label", "since"], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.isEmpty else { throw HopperError(.usage, "unexpected argument \(args.operands[0])") }
        var states: Set<TaskState>?
        for name in args.values("state") {
            guard let s = TaskState(name: name) else {
                throw HopperError(.usage, "unknown state \(name); states are \(TaskState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            states = (states ?? []).union([s])
        }
        let filter = try Filter(args, now: .now())
        let reader = try SpoolReader.open(args.spoolPath)
        let tasks = reader.all(states: states).filter(filter.matches)
        var out = Output()
        if args.has("json") {
            for t in tasks { out.line(JSONValue.object(t.object).serialized()) }
        } else {
            let rows = tasks.map { t -> [String] in
                let o = t.object
                let command = o["command"]?.stringValue ?? o["request"]?.objectValue?["command"]?.stringValue ?? ""
                return [o["id"]?.stringValue ?? "?", t.state.rawValue, o["provider"]?.stringValue ?? "", TaskOwner.label(in: o),
                        o["submitted_at"]?.stringValue.map { String($0.prefix(19)) } ?? "", abbreviate(command, 60)]
            }
            out.table(["ID", "STATE", "PROVIDER", "OWNER", "SUBMITTED", "COMMAND"], rows)
        }
        out.flush()
        return 0
    }
}

extension ListCommand {
    /// The --provider, --owner, --label and --since filters; every given one must match.
    struct Filter {
        var providers: Set<String> = []
        /// --owner values: names or uids, matched against either.
        var owners: Set<String> = []
        var labels: [(String, String)] = []
        var since: Timestamp?

        init(_ args: Arguments, now: Timestamp) throws(HopperError) {
            providers = Set(args.values("provider"))
            owners = Set(args.values("owner"))
            for pair in args.values("label") {
                guard let eq = pair.firstIndex(of: "=") else { throw HopperError(.usage, "--label expects NAME=VALUE, got \(pair)") }
                labels.append((String(pair[..<eq]), String(pair[pair.index(after: eq)...])))
            }
            if let text = args.value("since") {
                guard let time = ListCommand.time(text, now: now) else {
                    throw HopperError(.usage, "option --since expects an RFC 3339 time or a duration such as 10m, 2h, 1d, got \(text)")
                }
                since = time
            }
        }

        func matches(_ task: SpoolReader.Found) -> Bool {
            let o = task.object
            if !providers.isEmpty && !providers.contains(o["provider"]?.stringValue ?? "") { return false }
            if !owners.isEmpty {
                let owner = o["owner"]?.objectValue
                let uid = owner?["uid"]?.intValue.map { String($0) }
                guard owners.contains(where: { $0 == owner?["user"]?.stringValue || $0 == uid }) else { return false }
            }
            if !labels.isEmpty {
                let given = o["labels"]?.objectValue ?? JSONObject()
                for (key, value) in labels where given[key]?.stringValue != value { return false }
            }
            if let since {
                guard let text = o["submitted_at"]?.stringValue, let submitted = Timestamp(rfc3339: text), submitted >= since else { return false }
            }
            return true
        }
    }

    /// An RFC 3339 time, or `now` minus a duration: a number followed by
    /// `s`, `m`, `h`, `d` or `w` (a bare number is seconds).
    static func time(_ text: String, now: Timestamp) -> Timestamp? {
        if let t = Timestamp(rfc3339: text) { return t }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        var number = Substring(text)
        var unit = 1.0
        if let last = text.last, let u = units[last] {
            unit = u
            number = number.dropLast()
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(number), value.isFinite else { return nil }
        return now.adding(seconds: -value * unit)
    }
}
