/// `hopper migrate`: rewrites legacy state names (`processing`, `completed`,
/// any letter case) to the canonical ones, in records and task files.
///
/// Each file is parsed, its top-level `state` replaced in place (every other
/// field kept, in order), and written back whole: to `.hopper/tmp/`, then
/// renamed over the original, so a reader sees the old file or the new one.
/// Files already canonical are not touched, so a second run migrates 0.
///
/// Records in done/ never change once written, so they are migrated while a
/// daemon runs. Task files in pending/, queued/ and running/ belong to the
/// daemon, which moves and rewrites them; migrate rewrites them only while no
/// daemon runs, holding the spool's lock meanwhile so none can start.
enum MigrateCommand {
    static let command = HopperCLI.Command(
        name: "migrate", summary: "rewrite legacy state names in records", usage: "[--json]",
        help: """
        Rewrites records in done/ whose state is a legacy name (processing,
        completed, in any letter case) to the canonical name (running,
        succeeded), keeping every other field. With no daemon running, task
        files in pending/, queued/ and running/ are migrated too; while one
        runs they are left alone and counted in a warning (exit 1). Prints
        `migrated N record(s)`; --json prints {"migrated":N}. Running it again
        migrates 0.

        example: hopper migrate --spool /srv/spool
        """,
        spec: .init(valued: [], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.isEmpty else { throw HopperError(.usage, "unexpected argument \(args.operands[0])") }
        let durable = try Configuration.load(path: args.configPath).durability == .fsync
        let reader = try SpoolReader.open(args.spoolPath)
        let spool = reader.spool
        defer { spool.close() }
        // Taken only to keep a daemon from starting meanwhile; its content
        // (the last daemon's pid and run id) is left as it is.
        let lock: FileLock?
        do { lock = try FileLock.tryAcquire(Spool.lockPath(spool.path)) } catch {
            throw HopperError(.io, "cannot migrate \(spool.path): \(error)", underlying: error)
        }
        defer { lock?.release() }
        var migrated = 0
        var failures = 0
        var skipped = 0
        for directory in [SpoolDirectory.done, .pending, .queued, .running] {
            let dir = spool[directory]
            for name in (try? dir.entries()) ?? [] where name.hasSuffix(".json") && !name.hasPrefix(".") {
                guard let bytes = try? AtomicFile.read(name, in: dir, limit: 16 << 20),
                      let rewritten = canonical(bytes) else { continue }
                if directory != .done && lock == nil {
                    skipped += 1
                    continue
                }
                do {
                    try AtomicFile.write(rewritten, to: name, in: dir, scratch: spool.tmp, sync: durable)
                    migrated += 1
                } catch {
                    Output.error("cannot migrate \(directory.rawValue)/\(name.escaped): \(error)")
                    failures += 1
                }
            }
            if durable { try? dir.sync() }
        }
        var out = Output()
        if args.has("json") {
            out.jsonLine([("migrated", .int(Int64(migrated)))])
        } else {
            out.line("migrated \(migrated) record(s)")
        }
        out.flush()
        if skipped > 0 {
            Output.error("cannot migrate \(skipped) task file(s): a daemon is running on \(spool.path); stop it and run hopper migrate again")
        }
        return failures + skipped > 0 ? 1 : 0
    }

    /// The file rewritten with a canonical `state`, or nil when it needs no
    /// change (no legacy state, or not a JSON object).
    static func canonical(_ bytes: [UInt8]) -> [UInt8]? {
        guard var object = (try? JSONParser.parse(bytes))?.objectValue,
              let name = object["state"]?.stringValue, TaskState.isLegacy(name), let state = TaskState(name: name) else { return nil }
        object["state"] = .string(state.rawValue)
        return Array(JSONValue.object(object).serialized().utf8) + [UInt8(ascii: "\n")]
    }
}
