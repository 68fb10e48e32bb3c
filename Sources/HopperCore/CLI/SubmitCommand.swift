import Glibc

/// `hopper submit`: writes task requests into incoming/ (each under a dot
/// name, then renamed into place), with or without a daemon running, and
/// prints each task's id.
///
/// One call submits one COMMAND, one task per line of standard input
/// (`--each`), or one per request file (`--file`). Every request of the call
/// is built and validated before the first is written (`SubmitBatch`).
enum SubmitCommand {
    static let command = HopperCLI.Command(
        name: "submit", summary: "submit a command, or one per input line or request file; prints the ids",
        usage: "[--id ID] [--provider P] [--priority N] [--timeout S] [--after ID]... [--retries N] [--queue-timeout S] [--run-after TIME] [--cwd DIR] [--env K=V]... [--label K=V]... [--key KEY [--on-conflict queue|skip|replace]] [--continue ID] [--stdin-file FILE] [--json] {[--] COMMAND... | --each [--] [TEMPLATE...] <LINES | --file FILE [FILE]...}",
        help: """
        One COMMAND word is taken as a shell line as written; several words are
        quoted for the shell where needed and joined, so they run as that argv.
        The result is the task's command (a shell line for shell providers,
        the prompt for agent providers).

        --each submits one task per non-empty line of standard input, all in
        one call: a loop of submits becomes one process. In TEMPLATE, {}
        stands for the line, always as one word: in a one-word template (a
        shell line) the line is quoted for the shell, as GNU parallel does;
        among several words it goes into its word as it is, and every word
        is quoted. Write {} bare, never inside quotes. Without {} the line is
        added as the last word; without TEMPLATE each line is a shell line
        as written. Lines are taken exactly (spaces kept); empty lines are
        skipped. Ids are printed one a line, in input order. --id names one
        task, so it does not go with --each.

        --file FILE submits a request file: a JSON request as dropped into
        incoming/, or NAME.sh, whose text is the command; - is standard
        input. After --file every operand is another file (--file batch/*.json).
        The id is the file's "id", else one made from the file's name. The
        options replace the file's fields; --env, --label and --after add to
        them.

        Every request is validated against the configuration before
        anything is written: an invalid one, named by its line or file,
        writes nothing. Each task appears in incoming/ whole (written under
        a dot name, then renamed). Should writing fail midway (a full disk),
        the tasks already written stay, their ids printed, and the error
        names the first that was not. --json prints {"id": ...} a task,
        with "line" or "file" for --each and --file.

        --key KEY gives the task a coalescing key: at most one task with KEY
        is pending, queued or running at a time. --on-conflict says what
        this task does when KEY is held: queue (default) waits its turn,
        skip ends it cancelled (reason duplicate_key), replace cancels the
        key's tasks that have not started (reason replaced) and takes their
        place.

        example: hopper submit --priority 5 --timeout 60 -- make -C /src test
        example: ls *.log | hopper submit --each 'gzip -9 {}'
        example: hopper submit --each --priority 3 -- convert {} {}.png < images.txt
        example: hopper submit --file batch/*.json
        --continue ID runs the task as the next turn of task ID's agent
        conversation (an agent provider run with mode "exec"); it waits for ID.

        example: hopper submit --key sync --on-conflict skip -- /usr/local/bin/sync
        """,
        spec: .init(valued: ["id", "provider", "priority", "timeout", "after", "retries", "queue-timeout", "run-after", "cwd", "env", "label", "stdin-file", "key", "on-conflict", "file", "continue"],
                    flags: ["json", "each"], operandsEndOptions: true),
        run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        let each = args.has("each")
        let files = args.values("file").isEmpty ? [] : args.values("file") + args.operands
        if each && !files.isEmpty { throw HopperError(.usage, "--each and --file do not go together") }
        if !each && files.isEmpty && args.operands.isEmpty { throw HopperError(.usage, "no command given") }
        if args.value("id") != nil && (each || files.count > 1) {
            throw HopperError(.usage, "--id names one task; with --each or several files the ids are generated (printed in order)")
        }
        // The tasks are the effect, the ids a report of it: a reader that goes away
        // (`| head -1`) makes printing fail with EPIPE, not the submit stop halfway.
        SignalStream.ignore(.pipe)
        let rules = try SubmitRules.load(path: args.configPath)
        let fields = try SubmitFields(args, stdinLimit: rules.maxRequestBytes)
        // Opened first: a missing spool is reported before any input is read.
        let drop = try SpoolDrop(spoolPath: args.spoolPath)
        defer { drop.close() }
        var batch = SubmitBatch(rules: rules, fields: fields, spoolPath: args.spoolPath)
        if each {
            let input: [UInt8]
            do { input = try FileDescriptor.standardInput.readAll() } catch {
                throw HopperError(.io, "cannot submit: cannot read standard input: \(error.errno)", underlying: error)
            }
            let template = EachTemplate(args.operands)
            let lines = try EachInput.lines(input)
            batch.reserve(lines.count)
            for line in lines { try batch.add(command: template.command(line.text), from: .line(line.number)) }
        } else if !files.isEmpty {
            for path in files { try batch.add(file: path) }
        } else {
            try batch.add(command: commandLine(args.operands), from: .command)
        }
        try batch.write(to: drop, json: args.has("json"))
        return 0
    }

    /// Writes one request into incoming/ as `name` (`hopper retry` uses it too).
    static func deliver(_ bytes: [UInt8], as name: String, spoolPath: String) throws(HopperError) {
        let drop = try SpoolDrop(spoolPath: spoolPath)
        defer { drop.close() }
        do { try drop.write(bytes, as: name) } catch {
            throw HopperError(error.code, "cannot submit: \(error.message)", underlying: error.underlying)
        }
    }

    /// One word is a shell line taken as written (`hopper submit 'make | tee log'`);
    /// several words are an argv, each quoted for the shell when it needs it
    /// (`hopper submit -- sh -c 'exit 3'` runs exactly that argv).
    static func commandLine(_ words: [String]) -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.map(shellQuoted).joined(separator: " ")
    }

    /// `word` as one shell word: as it is when every byte is plainly safe,
    /// else in single quotes, each `'` written `'\''`.
    static func shellQuoted(_ word: String) -> String {
        let utf8 = word.utf8
        if !utf8.isEmpty && utf8.allSatisfy(isSafe) { return word }
        var quoted: [UInt8] = [UInt8(ascii: "'")]
        quoted.reserveCapacity(utf8.count + 8)
        for byte in utf8 {
            if byte == UInt8(ascii: "'") { quoted.append(contentsOf: "'\\''".utf8) } else { quoted.append(byte) }
        }
        quoted.append(UInt8(ascii: "'"))
        return String(decoding: quoted, as: UTF8.self)
    }

    /// Letters, digits and `@%+=:,./-_`: nothing the shell would read specially.
    private static func isSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: "+"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: ","),
             UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "-"), UInt8(ascii: "_"): true
        default: false
        }
    }

    /// The program's name: the first word of the command, without its directory (an id's stem).
    static func programName(_ command: String) -> String {
        let program = command.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first ?? "task"
        return program.split(separator: "/").last.map(String.init) ?? "task"
    }
}

/// incoming/ of a spool, open for writing requests into.
struct SpoolDrop {
    let incoming: Directory
    /// In every temporary name, so two clients never write the same one.
    private let pid = getpid()

    init(spoolPath: String) throws(HopperError) {
        do { incoming = try Directory.open(Spool.absolute(spoolPath) + "/incoming") } catch {
            throw HopperError(.notFound, "cannot submit: no spool at \(Spool.absolute(spoolPath)) (\(error.errno)); create one with hopper init")
        }
    }

    func close() { incoming.close() }

    /// Writes `bytes` as `.name.PID.tmp`, then renames it to `name` without
    /// replacing anything already there: open, write, rename, close.
    func write(_ bytes: [UInt8], as name: String) throws(HopperError) {
        let temp = FileName(".\(name).\(pid).tmp")
        do {
            let fd = try incoming.openFile(temp, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
            defer { fd.close() }
            try fd.writeAll(bytes)
            try incoming.rename(temp, to: incoming, as: FileName(name), noReplace: true)
        } catch {
            try? incoming.remove(temp)
            if error.errno == .exists { throw HopperError(.duplicateID, "incoming/\(name) already exists") }
            throw HopperError(.io, "\(error)", underlying: error)
        }
    }
}
