/// `hopper show ID`: a task's record, or its task file while unfinished.
enum ShowCommand {
    static let command = HopperCLI.Command(
        name: "show", summary: "print a task's record", usage: "ID [--json]",
        help: """
        Prints the record of a finished task (done/ID.json), or the task file
        of an unfinished one with its state. --json prints the JSON itself.

        example: hopper show build-01jdxk3m2a7qz --json | jq .exit_code
        """,
        spec: .init(valued: [], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.count == 1 else { throw HopperError(.usage, "expected one task id") }
        guard let id = TaskID(args.operands[0]) else { throw HopperError(.notFound, "cannot show \(args.operands[0]): not a valid task id") }
        let reader = try SpoolReader.open(args.spoolPath)
        let found: SpoolReader.Found
        switch reader.locate(id) {
        case .found(let f): found = f
        case .submitted: throw HopperError(.notFound, "cannot show \(id): submitted, not yet accepted")
        case .rejected, .missing: throw HopperError(.notFound, "cannot show \(id): no such task")
        }
        var out = Output()
        if args.has("json") { out.line(JSONValue.object(found.object).serialized()) } else { out.keyValues(found.object) }
        out.flush()
        return 0
    }
}
