import Glibc

/// Retention of done/ (`retention.done_max_age`): removes the records of
/// tasks that finished long enough ago, with their output files.
///
/// The on-disk order, and why. A task ends by moving `ID.out`/`ID.err` into
/// done/ and then writing `ID.json`, so a reader who sees the record finds
/// the outputs beside it. Pruning undoes that in reverse: the record is
/// removed first, the outputs second. A reader therefore never sees a record
/// whose outputs are gone; the task disappears with its record, in one
/// unlink(2). A crash between the two unlinks leaves orphaned outputs, which
/// the next prune removes once they are older than the limit and no task
/// file or record with their id exists (outputs of a task that is finishing
/// sit in done/ before its record, but its task file exists until the record
/// does, so they are never mistaken for orphans).
///
/// Records that an unfinished task names in `after` are kept whatever their
/// age: the daemon learns a dependency's outcome from its record, and a
/// dependency whose record is gone would be waited for until the dependent's
/// queue timeout.
///
/// Records never change once written, so pruning needs no lock against the
/// daemon. Removals are not fsynced: a record that comes back after a power
/// loss is pruned again next time.
public enum Retention {
    /// Removes done/ records whose `finished_at` is more than `maxAge`
    /// seconds before `now`, each with its `.out` and `.err`; `maxAge` 0 (or
    /// less) keeps everything. Returns how many records were removed and how
    /// many stay. Records that cannot be read or carry no `finished_at` are
    /// kept.
    public static func prune(spool: Spool, maxAge: Double, now: Timestamp) -> (removed: Int, kept: Int) {
        let done = spool[.done]
        let names = (try? done.entries()) ?? []
        let recordIDs = Set(names.compactMap { id(of: $0, suffix: ".json") })
        guard maxAge > 0 else { return (0, recordIDs.count) }
        let cutoff = now.adding(seconds: -maxAge)
        let dependencies = awaitedIDs(spool)
        var removed = 0
        var kept = 0
        for id in recordIDs.sorted() {
            guard !dependencies.contains(id), let finished = finishedAt(id, in: done), finished < cutoff else {
                kept += 1
                continue
            }
            do {
                try done.remove(Spool.taskFile(id))
            } catch {
                kept += 1
                continue
            }
            try? done.remove(Spool.outputFile(id))
            try? done.remove(Spool.errorFile(id))
            removed += 1
        }
        removeOrphanedOutputs(spool, names: names, records: recordIDs, cutoff: cutoff)
        return (removed, kept)
    }

    /// The `finished_at` of `id`'s record; nil when it cannot be read.
    static func finishedAt(_ id: TaskID, in done: Directory) -> Timestamp? {
        guard let bytes = try? AtomicFile.read(Spool.taskFile(id), in: done, limit: 16 << 20),
              let text = (try? JSONParser.parse(bytes))?.objectValue?["finished_at"]?.stringValue else { return nil }
        return Timestamp(rfc3339: text)
    }

    /// Ids that unfinished tasks wait for (their `after` lists).
    static func awaitedIDs(_ spool: Spool) -> Set<TaskID> {
        var result: Set<TaskID> = []
        for directory in [SpoolDirectory.pending, .queued, .running] {
            for name in (try? spool[directory].entries()) ?? [] where name.hasSuffix(".json") {
                guard let bytes = try? AtomicFile.read(name, in: spool[directory], limit: 16 << 20),
                      let after = (try? JSONParser.parse(bytes))?.objectValue?["after"]?.arrayValue else { continue }
                for value in after { if let text = value.stringValue, let id = TaskID(text) { result.insert(id) } }
            }
        }
        return result
    }

    /// Removes `.out`/`.err` files in done/ left without a record (by a crash
    /// during an earlier prune), once older than `cutoff` by modification time.
    static func removeOrphanedOutputs(_ spool: Spool, names: [FileName], records: Set<TaskID>, cutoff: Timestamp) {
        let done = spool[.done]
        let candidates = Set(names.compactMap { id(of: $0, suffix: ".out") ?? id(of: $0, suffix: ".err") }).subtracting(records)
        for id in candidates.sorted() {
            let files = [Spool.outputFile(id), Spool.errorFile(id)]
            let modified = files.compactMap { ((try? done.status($0)) ?? nil).map { Timestamp(nanoseconds: Int64($0.st_mtim.tv_sec) * 1_000_000_000 + Int64($0.st_mtim.tv_nsec)) } }
            guard !modified.isEmpty, modified.allSatisfy({ $0 < cutoff }), !hasTaskFile(id, spool) else { continue }
            // The task file is removed only after the record is written, so a
            // record that exists now was written before the check above.
            if done.exists(Spool.taskFile(id)) { continue }
            for file in files { try? done.remove(file) }
        }
    }

    /// Whether `id` has a task file in pending/, queued/ or running/. Two
    /// passes, like `SpoolReader.find`: a task moving from running/ back to
    /// pending/ for a retry is met on the second.
    static func hasTaskFile(_ id: TaskID, _ spool: Spool) -> Bool {
        for _ in 0..<2 {
            for directory in [SpoolDirectory.pending, .queued, .running] where spool[directory].exists(Spool.taskFile(id)) { return true }
        }
        return false
    }

    static func id(of name: FileName, suffix: String) -> TaskID? {
        guard name.hasSuffix(suffix) else { return nil }
        return TaskID(String(decoding: name.dropping(suffix: suffix), as: UTF8.self))
    }
}
