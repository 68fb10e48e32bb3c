import Glibc

/// `hopper submit`: writes a request into incoming/ (write, then rename), with
/// or without a daemon running, and prints the task's id.
enum SubmitCommand {
    static let command = HopperCLI.Command(
        name: "submit", summary: "submit a command as a task; prints its id",
        usage: "[--id ID] [--provider P] [--priority N] [--timeout S] [--after ID]... [--retries N] [--queue-timeout S] [--run-after TIME] [--cwd DIR] [--env K=V]... [--label K=V]... [--key KEY [--on-conflict queue|skip|replace]] [--stdin-file FILE] [--json] [--] COMMAND...",
        help: """
        One COMMAND word is taken as a shell line as written; several words are
        quoted for the shell where needed and joined, so they run as that argv.
        The result is the task's command (a shell line for shell providers,
        the prompt for agent providers). The
        request is validated against the configuration first; nothing is
        written when it is invalid.

        --key KEY gives the task a coalescing key: at most one task with KEY
        is pending, queued or running at a time. --on-conflict says what
        this task does when KEY is held: queue (default) waits its turn,
        skip ends it cancelled (reason duplicate_key), replace cancels the
        key's tasks that have not started (reason replaced) and takes their
        place.

        example: hopper submit --priority 5 --timeout 60 -- make -C /src test
        example: hopper submit --key sync --on-conflict skip -- /usr/local/bin/sync
        """,
        spec: .init(valued: ["id", "provider", "priority", "timeout", "after", "retries", "queue-timeout", "run-after", "cwd", "env", "label", "stdin-file", "key", "on-conflict"],
                    flags: ["json"], operandsEndOptions: true),
        run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard !args.operands.isEmpty else { throw HopperError(.usage, "no command given") }
        let config = try Configuration.load(path: args.configPath)
        var w = JSONWriter()
        w.beginObject()
        let id: String
        if let given = args.value("id") { id = given } else {
            // The program's name: the first word of the command, without its directory.
            let program = args.operands[0].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first ?? "task"
            let stem = program.split(separator: "/").last.map(String.init) ?? "task"
            var suffixes = IDSuffixGenerator(salt: IDSuffixGenerator.random(3))
            id = TaskID.generate(stem: stem, suffix: suffixes.next()).rawValue
        }
        w.field("id", id)
        w.field("command", SubmitCommand.commandLine(args.operands))
        if let p = args.value("provider") { w.field("provider", p) }
        if let n = try args.integer("priority") { w.field("priority", n) }
        if let t = try args.number("timeout") { w.field("timeout", t) }
        if let n = try args.integer("retries") { w.field("retries", n) }
        if let t = try args.number("queue-timeout") { w.field("queue_timeout", t) }
        if let t = args.value("run-after") { w.field("run_after", t) }
        if let c = args.value("cwd") { w.field("cwd", Spool.absolute(c)) }
        if let k = args.value("key") { w.field("key", k) }
        if let c = args.value("on-conflict") {
            guard args.value("key") != nil else { throw HopperError(.usage, "--on-conflict needs --key") }
            w.field("on_conflict", c)
        }
        if !args.values("after").isEmpty {
            w.key("after")
            w.beginArray()
            for a in args.values("after") { w.string(a) }
            w.endArray()
        }
        for (key, option) in [("env", "env"), ("labels", "label")] where !args.values(option).isEmpty {
            w.key(key)
            w.beginObject()
            for pair in args.values(option) {
                guard let eq = pair.firstIndex(of: "=") else { throw HopperError(.usage, "--\(option) expects NAME=VALUE, got \(pair)") }
                w.field(String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
            }
            w.endObject()
        }
        if let file = args.value("stdin-file") {
            do { w.field("stdin", String(decoding: try AtomicFile.read(path: file, limit: config.maxRequestBytes), as: UTF8.self)) } catch {
                throw HopperError(.usage, "cannot read --stdin-file \(file): \(error.errno)")
            }
        }
        w.endObject()
        let request = w.line
        do {
            _ = try TaskRequest.parse(request, rules: TaskRequest.Rules(config))
        } catch {
            throw HopperError(.invalidField, "cannot submit: \(error.message)", field: error.field)
        }
        if args.value("id") != nil, let known = TaskID(id), let reader = try? SpoolReader.open(args.spoolPath),
           reader.find(known) != nil || reader.isSubmitted(known) {
            throw HopperError(.duplicateID, "cannot submit: a task with id \(id) already exists")
        }
        try deliver(request, as: id + ".json", spoolPath: args.spoolPath)
        var out = Output()
        if args.has("json") {
            out.jsonLine([("id", .string(id))])
        } else {
            out.line(id)
        }
        out.flush()
        return 0
    }

    /// One word is a shell line taken as written (`hopper submit 'make | tee log'`);
    /// several words are an argv, each quoted for the shell when it needs it
    /// (`hopper submit -- sh -c 'exit 3'` runs exactly that argv).
    static func commandLine(_ words: [String]) -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.map(shellQuoted).joined(separator: " ")
    }

    static func shellQuoted(_ word: String) -> String {
        let safe = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@%+=:,./-_")
        if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacing("'", with: "'\\''") + "'"
    }

    /// Writes `bytes` as `.name.tmp` in incoming/, then renames it to `name`
    /// without replacing anything already there.
    static func deliver(_ bytes: [UInt8], as name: String, spoolPath: String) throws(HopperError) {
        let incoming: Directory
        do { incoming = try Directory.open(Spool.absolute(spoolPath) + "/incoming") } catch {
            throw HopperError(.notFound, "cannot submit: no spool at \(Spool.absolute(spoolPath)) (\(error.errno)); create one with hopper init")
        }
        defer { incoming.close() }
        let temp = FileName(".\(name).\(getpid()).tmp")
        do {
            let fd = try incoming.openFile(temp, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
            defer { fd.close() }
            try fd.writeAll(bytes)
            try incoming.rename(temp, to: incoming, as: FileName(name), noReplace: true)
        } catch {
            try? incoming.remove(temp)
            if error.errno == .exists { throw HopperError(.duplicateID, "cannot submit: incoming/\(name) already exists") }
            throw HopperError(.io, "cannot submit: \(error)", underlying: error)
        }
    }
}
