/// `hopper gc`: applies retention to done/ now (see `Retention`).
enum GcCommand {
    static let command = HopperCLI.Command(
        name: "gc", summary: "apply retention now: remove old records from done/", usage: "[--max-age S] [--json]",
        help: """
        Removes each record in done/ whose finished_at is more than S seconds
        ago, with its output files. S is --max-age, else the configuration's
        retention.done_max_age; 0 keeps everything. Records that an unfinished
        task waits for (its "after") are kept. Works with or without a daemon.
        Prints `removed N record(s)`; --json prints {"removed":N,"kept":M}.

        example: hopper gc --max-age 604800
        """,
        spec: .init(valued: ["max-age"], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.isEmpty else { throw HopperError(.usage, "unexpected argument \(args.operands[0])") }
        let maxAge: Double
        if let given = try args.number("max-age") {
            guard given >= 0 else { throw HopperError(.usage, "option --max-age expects seconds ≥ 0, got \(given)") }
            maxAge = given
        } else {
            maxAge = try Configuration.load(path: args.configPath).retentionDoneMaxAge
        }
        let reader = try SpoolReader.open(args.spoolPath)
        defer { reader.spool.close() }
        let result = Retention.prune(spool: reader.spool, maxAge: maxAge, now: .now())
        var out = Output()
        if args.has("json") {
            out.jsonLine([("removed", .int(Int64(result.removed))), ("kept", .int(Int64(result.kept)))])
        } else if maxAge == 0 {
            out.line("removed 0 record(s): retention is 0, records are kept forever")
        } else {
            out.line("removed \(result.removed) record(s)")
        }
        out.flush()
        return 0
    }
}
