/// `hopper pause [PROVIDER...]` and `hopper resume [PROVIDER...]`: create or
/// remove the files of `spool/paused/`. Work with or without a daemon; a
/// running daemon sees the change through inotify.
enum PauseCommand {
    static let pause = HopperCLI.Command(
        name: "pause", summary: "stop starting tasks (of some providers, or all); running tasks go on",
        usage: "[PROVIDER...] [--json]",
        help: """
        Creates spool/paused/PROVIDER for each PROVIDER, or spool/paused/ALL
        without one. While paused, no task of that provider (or none at all)
        starts; running tasks go on, and dropped files are still accepted and
        wait in queued/. The pause is a file: it needs no daemon, survives
        restarts, and `touch spool/paused/ALL` does the same. Undo it with
        hopper resume. Prints what is paused afterwards; --json prints
        {"paused":[...]}.

        example: hopper pause claude
        """,
        spec: .init(valued: [], flags: ["json"]), run: { (args: Arguments) throws(HopperError) -> Int32 in try run(args, pausing: true) })

    static let resume = HopperCLI.Command(
        name: "resume", summary: "start tasks again after hopper pause",
        usage: "[PROVIDER...] [--json]",
        help: """
        Removes spool/paused/PROVIDER for each PROVIDER; without one, removes
        every file in spool/paused/ (ALL and each provider). Resuming a
        provider while ALL is set leaves it paused by ALL (a note says so).
        Prints what is still paused; --json prints {"paused":[...]}.

        example: hopper resume
        """,
        spec: .init(valued: [], flags: ["json"]), run: { (args: Arguments) throws(HopperError) -> Int32 in try run(args, pausing: false) })

    static func run(_ args: Arguments, pausing: Bool) throws(HopperError) -> Int32 {
        let verb = pausing ? "pause" : "resume"
        for name in args.operands where !PauseFiles.isValid(name) {
            throw HopperError(.usage, "cannot \(verb) \(name): not a provider name")
        }
        if !args.operands.isEmpty, let config = try? Configuration.load(path: args.configPath) {
            for name in args.operands where name != PauseSwitch.all && config.providers[name] == nil {
                throw HopperError(.usage, "cannot \(verb) \(name): no such provider in \(args.configPath) (providers: \(config.providers.keys.sorted().joined(separator: ", ")))")
            }
        }
        let reader = try SpoolReader.open(args.spoolPath)
        let spool = reader.spool.path
        reader.spool.close()
        do {
            if pausing {
                try PauseFiles.pause(args.operands.isEmpty ? [PauseSwitch.all] : args.operands, spool: spool)
            } else {
                try PauseFiles.resume(args.operands.isEmpty ? Array(PauseFiles.list(spool)) : args.operands, spool: spool)
            }
        } catch {
            throw HopperError(.io, "cannot \(verb) \(args.operands.isEmpty ? "all" : args.operands.joined(separator: ", ")): \(error)", underlying: error)
        }
        let now = PauseSwitch(names: PauseFiles.list(spool))
        if !pausing && now.isAllPaused && !args.operands.isEmpty {
            Output.error("note: ALL is paused too, so nothing starts; hopper resume without a provider lifts it")
        }
        var out = Output()
        if args.has("json") {
            out.jsonLine([("paused", .array(now.sorted.map(JSONValue.string)))])
        } else {
            out.line("paused: " + (now.names.isEmpty ? "nothing" : now.sorted.joined(separator: ", ")))
        }
        out.flush()
        return 0
    }
}
