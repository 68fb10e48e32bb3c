/// `hopper list`: tasks, one a line.
enum ListCommand {
    static let command = HopperCLI.Command(
        name: "list", summary: "list tasks, one a line", usage: "[--state S]... [--json]",
        help: """
        Lists unfinished tasks (pending, queued, running) and finished ones.
        --state keeps only the given states (repeatable; legacy names accepted).
        --json prints one JSON object a line.

        example: hopper list --state failed --state error
        """,
        spec: .init(valued: ["state"], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.isEmpty else { throw HopperError(.usage, "unexpected argument \(args.operands[0])") }
        var states: Set<TaskState>?
        for name in args.values("state") {
            guard let s = TaskState(name: name) else {
                throw HopperError(.usage, "unknown state \(name); states are \(TaskState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            states = (states ?? []).union([s])
        }
        let reader = try SpoolReader.open(args.spoolPath)
        let tasks = reader.all(states: states)
        var out = Output()
        if args.has("json") {
            for t in tasks { out.line(JSONValue.object(t.object).serialized()) }
        } else {
            let rows = tasks.map { t -> [String] in
                let o = t.object
                let command = o["command"]?.stringValue ?? o["request"]?.objectValue?["command"]?.stringValue ?? ""
                return [o["id"]?.stringValue ?? "?", t.state.rawValue, o["provider"]?.stringValue ?? "",
                        o["submitted_at"]?.stringValue.map { String($0.prefix(19)) } ?? "", abbreviate(command, 60)]
            }
            out.table(["ID", "STATE", "PROVIDER", "SUBMITTED", "COMMAND"], rows)
        }
        out.flush()
        return 0
    }
}
