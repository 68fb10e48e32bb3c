import Glibc

/// Every change a task's files go through, as renames within the spool
/// (SPEC sections 1 and 9), made durable a loop turn at a time.
///
/// The protocol: a task file is only ever in one of pending/, queued/,
/// running/; it is rewritten by writing the new version into `.hopper/tmp`
/// and renaming it over, and moved by rename(2). Its end is: outputs moved
/// to done/, record written to done/, then the task file removed. A crash
/// between the last two leaves a record and a stale task file; recovery
/// keeps the record.
///
/// Group commit. Within a turn the daemon's memory is authoritative and
/// the store stages what must wait for a sync:
///
/// - a write goes into `.hopper/tmp`, not synced, and its rename waits for
///   the commit;
/// - every later change of that task waits behind it, in the order asked
///   for (one task's changes are never reordered; different tasks' are
///   independent, see docs/design.md). A move of a file that a staged write
///   creates changes where the write lands; a second write to the same name
///   cancels the first; the removal of a task file after its record waits
///   until the record is durable;
/// - a change of a task with nothing staged is made at once, as is a start
///   (a move into running/): what is staged for that task is carried out
///   first, because the daemon creates the task's outputs and runs it next;
///   except a task whose only staged change is the write of its new file,
///   which is sent straight to running/ and lands there with the commit.
///
/// `commit` makes the turn durable with one syncfs(2) of the spool's file
/// system: it makes the turn's staged files (and the outputs beside their
/// records) durable before they are renamed into place, and it makes the
/// renames of the turn before durable before what waited for them goes.
/// Then the staged renames and what waits behind them, in order. What may
/// go only once a rename is durable (the claimed files acknowledged, task
/// files whose records were renamed into done/, a Slurm job's files) waits
/// for the next sync. `settle` syncs and removes it now. A commit with
/// nothing to sync makes no call. With durability `none`, the same without
/// the syncs, and nothing waits.
///
/// The daemon's turns sync in the background (`syncInBackground`): a
/// commit seals what is staged, starts its sync on another thread and
/// returns; a later commit, once the sync has returned, makes the renames
/// it covered (see `commit`). Meanwhile the staged changes stay here, so
/// every rule above holds across the turns between: a start carries out
/// its task's changes (syncing itself if the sync under way has not yet
/// covered them), reads see staged records, and a later write never
/// cancels a sealed one.
/// A staged change the file system refuses is never acknowledged: `commit`
/// throws it, and the daemon stops as it does for a failed sync.
public final class TaskStore {
    public let spool: Spool
    public var durable: Bool
    /// Secrets masked in every record.
    public var mask = SecretMask()
    private var staged = StagedChanges()
    /// Whether a directory changed since the last commit.
    private var directoriesChanged = false
    /// A staged change that failed outside `commit` (in a start): the next
    /// commit throws it, so the turn is not acknowledged.
    private var failure: SystemError?
    /// Removals whose reason (a rename) is on disk but not yet durable:
    /// carried out after the next sync.
    private var waiting = Removals()
    /// Files written into `.hopper/tmp` so far, and how many of them the
    /// last sync covered (a start's sync covers every file written before it).
    private var written = 0, syncedWritten = 0
    /// The count of `written` after each staged task's last write.
    private var lastWrite: [TaskID: Int] = [:]
    /// The size of `lastWrite` past which a background sync's return prunes it.
    private var lastWritePruneAt = 4096
    /// The thread that syncs while the loop goes on; nil: every commit
    /// syncs on the caller's thread.
    private var background: BackgroundSync?
    /// What the next sync carries (the acknowledgements of the turns since
    /// the last one was sealed), and the batch whose sync is under way.
    private var open = Batch()
    private var inFlight: Batch?
    /// The number of the batch a turn's changes join now, and of the last
    /// batch whose changes are all carried out (see `commit`).
    private var openNumber: UInt64 = 1
    public private(set) var carriedOut: UInt64 = 0

    /// What goes once the renames before it are durable.
    private struct Removals {
        var claimed: [FileName] = []
        var retired: [(id: TaskID, name: FileName, directory: SpoolDirectory)] = []
        var others: [(Directory, FileName)] = []
        var isEmpty: Bool { claimed.isEmpty && retired.isEmpty && others.isEmpty }
    }

    /// The turns that share one background sync: the staged changes below
    /// `boundary` are renamed when it returns, then `acknowledgements` wait
    /// for the sync after it; `earlier` (the removals that waited when it
    /// started) go as soon as it returns.
    private struct Batch {
        var number: UInt64 = 0
        var boundary = 0
        var covered = 0
        var acknowledgements = Removals()
        var earlier = Removals()
    }

    public init(spool: Spool, durable: Bool) {
        self.spool = spool
        self.durable = durable
    }

    /// Writes `task`'s file into `directory`, replacing any previous version.
    public func write(_ task: SpooledTask, in directory: SpoolDirectory) throws(SystemError) {
        let name = Spool.taskFile(task.id)
        // The request can hold secrets (its env): the owner's and the daemon group's to read, like its record.
        let temp = try AtomicFile.writeTemporary(task.encoded(), for: name, in: spool.tmp, private: FileAccess(owner: task.owner?.uid))
        noteWrite(task.id)
        if let cancelled = staged.place(task.id, temp: temp, as: name, in: directory) { try? spool.tmp.remove(cancelled) }
        keepWaiting(task.id, name, in: directory)
    }

    private func noteWrite(_ id: TaskID) {
        written += 1
        lastWrite[id] = written
    }

    /// A new version of a task file lands where the removal of its old one
    /// waits for a sync: the removal is dropped (see `StagedChanges.keep`).
    private func keepWaiting(_ id: TaskID, _ name: FileName, in directory: SpoolDirectory) {
        if !waiting.retired.isEmpty { waiting.retired.removeAll { $0.id == id && $0.name == name && $0.directory == directory } }
        if let batch = inFlight, !batch.earlier.retired.isEmpty {
            inFlight?.earlier.retired.removeAll { $0.id == id && $0.name == name && $0.directory == directory }
        }
    }

    /// Whether removals wait for a sync, or a background sync is under way.
    public var awaitsSync: Bool { !waiting.isEmpty || inFlight != nil || !open.acknowledgements.isEmpty }

    /// Whether `name` in `.hopper/claimed` belongs to an accepted task whose
    /// acknowledgement waits for a sync (it must not be examined again).
    public func awaitsAcknowledgement(_ name: FileName) -> Bool {
        func holds(_ removals: Removals) -> Bool { removals.claimed.contains { $0.bytes == name.bytes } }
        if holds(waiting) || holds(open.acknowledgements) { return true }
        guard let inFlight else { return false }
        return holds(inFlight.acknowledgements) || holds(inFlight.earlier)
    }

    /// Moves a task file from one state directory to another.
    public func move(_ id: TaskID, from: SpoolDirectory, to: SpoolDirectory) throws(SystemError) {
        let name = Spool.taskFile(id)
        keepWaiting(id, name, in: to)
        if staged.isStaged(id) {
            // The task file is new this turn: it is written where it goes.
            if staged.placesOnly(id, name, in: from) && !spool[from].exists(name) { return staged.redirect(id, to: to) }
            guard to == .running else { return staged.append(id, .move(name, from: from, to: to)) }
            try carryOut(id)
            staged.keep(id, name, in: to)
        }
        try spool[from].rename(name, to: spool[to], as: name)
        directoriesChanged = true
    }

    /// Moves `.out` and `.err` along; missing ones are skipped.
    public func moveOutputs(_ id: TaskID, from: SpoolDirectory, to: SpoolDirectory) {
        for name in [Spool.outputFile(id), Spool.errorFile(id)] {
            if staged.isStaged(id) { staged.append(id, .moveOutput(name, from: from, to: to)) } else { try? apply(.moveOutput(name, from: from, to: to)) }
        }
    }

    /// The task's outputs are made anew in `directory` (opened with
    /// `O_TRUNC`) ahead of the commit: a removal of the old ones there,
    /// still staged, is dropped.
    public func keepOutputs(_ id: TaskID, in directory: SpoolDirectory) {
        for name in [Spool.outputFile(id), Spool.errorFile(id)] { staged.keep(id, name, in: directory) }
    }

    public func removeOutputs(_ id: TaskID, in directory: SpoolDirectory) {
        for name in [Spool.outputFile(id), Spool.errorFile(id)] {
            if staged.isStaged(id) { staged.append(id, .removeOutput(name, in: directory)) } else { try? spool[directory].remove(name) }
        }
    }

    /// Writes the task's record into done/.
    public func writeRecord(_ record: TaskRecord) throws(SystemError) {
        let name = Spool.taskFile(record.task.id)
        let temp = try AtomicFile.writeTemporary(mask.apply(record.encoded()), for: name, in: spool.tmp,
                                                 private: FileAccess(owner: record.task.owner?.uid))
        noteWrite(record.task.id)
        if let cancelled = staged.place(record.task.id, temp: temp, as: name, in: .done) { try? spool.tmp.remove(cancelled) }
    }

    /// Removes the task file of a task that has a record, once the record is
    /// durable: at the end of the next commit (a missing file is no error).
    public func removeTaskFile(_ id: TaskID, from directory: SpoolDirectory) {
        staged.append(id, .retire(Spool.taskFile(id), in: directory))
        // The record it follows, staged or left by an earlier run, is made durable first.
        directoriesChanged = true
    }

    /// Whether `id` has a record, staged this turn or in done/.
    public func hasRecord(_ id: TaskID) -> Bool {
        staged.temp(of: Spool.taskFile(id), in: .done, for: id) != nil || spool[.done].exists(Spool.taskFile(id))
    }

    /// `id`'s record as written, staged this turn or in done/; nil when it has none.
    public func readRecord(_ id: TaskID, limit: Int = 16 << 20) -> [UInt8]? {
        if let temp = staged.temp(of: Spool.taskFile(id), in: .done, for: id) { return (try? AtomicFile.read(temp, in: spool.tmp, limit: limit)) ?? nil }
        return (try? AtomicFile.read(Spool.taskFile(id), in: spool[.done], limit: limit)) ?? nil
    }

    /// Moves a dropped file to rejected/ beside `<name>.error.json`. The name
    /// gets a `.N` suffix when rejected/ already holds one like it, so no
    /// earlier rejection is overwritten. Returns the name it was filed under.
    /// Not staged: the explanation is synced (durability `fsync`) and in place
    /// before the file is moved, at once.
    @discardableResult
    /// `owner`: the dropped file's, whose explanation it is (readable by them and the daemon's group).
    public func reject(_ name: FileName, from source: Directory, error: HopperError, at time: Timestamp, owner: UInt32? = nil) throws(SystemError) -> FileName {
        let rejected = spool[.rejected]
        var n = 0
        while true {
            let target = n == 0 ? name : FileName(bytes: name.bytes + Array(".\(n)".utf8))
            let explanation = FileName(bytes: target.bytes + Array(".error.json".utf8))
            n += 1
            if rejected.exists(target) { continue }
            if rejected.exists(explanation) && !isUnfinishedRejection(explanation, of: name, in: rejected) { continue }
            var w = JSONWriter(capacity: 256)
            w.beginObject()
            w.field("file", name.escaped)
            w.field("error", error.code.rawValue)
            w.field("message", error.message)
            if let field = error.field { w.field("field", field) }
            w.field("at", time.rfc3339)
            w.endObject()
            try AtomicFile.write(w.line, to: explanation, in: rejected, scratch: spool.tmp, sync: durable, private: FileAccess(owner: owner))
            do {
                try source.rename(name, to: rejected, as: target, noReplace: true)
            } catch where error.errno == .exists {
                try? rejected.remove(explanation)
                continue
            } catch {
                // The file stays claimed; its explanation must not outlive this try.
                try? rejected.remove(explanation)
                throw error
            }
            directoriesChanged = true
            return target
        }
    }

    /// Whether `explanation` was left by a rejection of `name` that did not
    /// finish (the explanation is written first; a crash or a failed move
    /// leaves it without its file), so it may be replaced rather than
    /// pushing the file to a `.N` name beside a stale explanation. An
    /// explanation that is itself a rejected file has one of its own.
    private func isUnfinishedRejection(_ explanation: FileName, of name: FileName, in rejected: Directory) -> Bool {
        guard !rejected.exists(FileName(bytes: explanation.bytes + Array(".error.json".utf8))),
              let bytes = try? AtomicFile.read(explanation, in: rejected, limit: 1 << 16),
              let object = (try? JSONParser.parse(bytes))?.objectValue else { return false }
        return object["file"]?.stringValue == name.escaped
    }

    /// Writes a spool-level file (status.json, metrics.prom) atomically, at
    /// once; never fsync'ed.
    public func writeRootFile(_ bytes: [UInt8], as name: String) throws(SystemError) {
        try AtomicFile.write(mask.apply(bytes), to: FileName(name), in: spool.root, scratch: spool.tmp, sync: false)
    }

    /// Syncs on `sync`'s thread from now on: a daemon's `commit` (not a
    /// settling one) starts the sync and returns, and the turn's renames
    /// are made by a later commit, once that sync has returned.
    public func syncInBackground(_ sync: BackgroundSync) {
        background = sync
    }

    /// Makes the turn durable and removes what waited for it: `claimed`
    /// (files in `.hopper/claimed` whose tasks the turn accepted),
    /// `removals` (files that may go once the turn is durable), and the task
    /// files whose records the turn renamed into done/. With `settle` false
    /// (the daemon's turns) those wait for the next commit's sync; with
    /// `settle` true they go now, after a second sync. Throws, removing
    /// nothing, when a sync or a staged rename fails.
    ///
    /// Returns the number of the batch the turn's changes went with: they
    /// are all carried out once `carriedOut` reaches it (at once, unless a
    /// background sync is attached). In the background, a commit
    ///
    /// 1. takes the result of a sync that has returned: throws its failure,
    ///    or renames the changes it covered, removes what waited for it,
    ///    and keeps that batch's acknowledgements for the next sync;
    /// 2. adds the turn's acknowledgements to the open batch;
    /// 3. when no sync is under way and anything waits for one, seals the
    ///    open batch (everything staged so far) and starts its sync; when
    ///    nothing waits, the open batch is carried out already.
    ///
    /// So the syncs follow one another while work comes, each covering what
    /// the turns staged during the one before, and the loop never waits
    /// for the disk (a start of a task whose file is not yet synced does).
    @discardableResult
    public func commit(acknowledging claimed: [FileName] = [], removing removals: [(Directory, FileName)] = [], settle: Bool = true) throws(SystemError) -> UInt64 {
        if let failure {
            self.failure = nil
            throw failure
        }
        guard let background, durable, !settle else {
            try finishSync(waiting: true)
            try commitNow(acknowledging: open.acknowledgements.claimed + claimed,
                          removing: open.acknowledgements.others + removals, settle: settle)
            open = Batch()
            carriedOut = openNumber
            openNumber += 1
            return carriedOut
        }
        try finishSync(waiting: false)
        open.acknowledgements.claimed += claimed
        open.acknowledgements.others += removals
        let number = openNumber
        if inFlight == nil {
            if !staged.isEmpty || written > syncedWritten || !waiting.isEmpty || !open.acknowledgements.isEmpty {
                var batch = open
                batch.number = openNumber
                batch.boundary = staged.seal()
                batch.covered = written
                batch.earlier = waiting
                waiting = Removals()
                open = Batch()
                inFlight = batch
                openNumber += 1
                background.start()
            } else {
                carriedOut = openNumber
                openNumber += 1
            }
        }
        directoriesChanged = false
        return number
    }

    /// Takes the background sync's result, if it has returned (or, with
    /// `waiting`, once it has), and carries out what it covered.
    private func finishSync(waiting wait: Bool) throws(SystemError) {
        guard let batch = inFlight, let background else { return }
        guard let result = wait ? background.wait() : background.poll() else { return }
        inFlight = nil
        try result.get()
        syncedWritten = max(syncedWritten, batch.covered)
        // Entries the sync covered are stale (a start no longer syncs for
        // them): all go when every write is covered, else the covered ones
        // once the table has doubled, so a burst costs O(1) a write.
        if written == syncedWritten {
            lastWrite.removeAll(keepingCapacity: lastWrite.count <= 4096)
        } else if lastWrite.count > lastWritePruneAt {
            lastWrite = lastWrite.filter { $0.value > syncedWritten }
            lastWritePruneAt = max(4096, 2 * lastWrite.count)
        }
        var now = batch.acknowledgements
        for (id, change) in staged.take(through: batch.boundary) {
            if case .retire(let name, let directory) = change { now.retired.append((id, name, directory)) } else { try apply(change) }
        }
        remove(batch.earlier)
        // Empty since this batch was sealed: only a returned sync fills it.
        waiting = now
        carriedOut = batch.number
    }

    /// `commit` on the caller's thread.
    private func commitNow(acknowledging claimed: [FileName], removing removals: [(Directory, FileName)], settle: Bool) throws(SystemError) {
        let changes = staged.takeAll()
        lastWrite.removeAll(keepingCapacity: true)
        // One sync: the staged files' data (and the outputs beside their
        // records) on disk before any of them is renamed into place, and
        // the earlier turn's renames durable before what waited goes.
        let earlier = waiting
        if durable && (written > syncedWritten || !earlier.isEmpty) { try sync() }
        waiting = Removals()
        var now = Removals(claimed: claimed, others: removals)
        for (id, change) in changes {
            if case .retire(let name, let directory) = change { now.retired.append((id, name, directory)) } else { try apply(change) }
        }
        remove(earlier)
        if durable && directoriesChanged {
            waiting = now
            if settle { try self.settle() }
        } else {
            remove(now)
        }
        directoriesChanged = false
    }

    /// Makes the renames made so far durable and removes what waited for that.
    public func settle() throws(SystemError) {
        guard !waiting.isEmpty else { return }
        if durable { try sync() }
        let due = waiting
        waiting = Removals()
        remove(due)
    }

    private func sync() throws(SystemError) {
        let covered = written
        try spool.tmp.syncFileSystem()
        syncedWritten = covered
    }

    private func remove(_ due: Removals) {
        for name in due.claimed { try? spool.claimed.remove(name) }
        for (_, name, directory) in due.retired { try? spool[directory].remove(name) }
        for (directory, name) in due.others { try? directory.remove(name) }
    }

    /// Carries out what is staged for `id`, in order, its staged files
    /// synced first (unless a sync since their writes covered them). A
    /// removal after a record stays staged for the commit.
    private func carryOut(_ id: TaskID) throws(SystemError) {
        let changes = staged.take(id)
        let lastWritten = lastWrite.removeValue(forKey: id) ?? 0
        do {
            if durable && lastWritten > syncedWritten && changes.contains(where: \.isPlace) { try sync() }
            for change in changes {
                if case .retire = change { staged.append(id, change) } else { try apply(change) }
            }
        } catch {
            failure = failure ?? error
            throw error
        }
    }

    private func apply(_ change: StagedChanges.Change) throws(SystemError) {
        switch change {
        case .place(let temp, let name, let directory):
            try spool.tmp.rename(temp, to: spool[directory], as: name)
            directoriesChanged = true
        case .move(let name, let from, let to):
            try spool[from].rename(name, to: spool[to], as: name)
            directoriesChanged = true
        case .moveOutput(let name, let from, let to):
            directoriesChanged = true
            try spool[from].rename(name, to: spool[to], as: name)
        case .removeOutput(let name, let directory), .retire(let name, let directory):
            try spool[directory].remove(name)
        }
    }
}

/// The changes that wait for a commit, each with its task, in the order
/// they were asked for. A pure value: `TaskStore` does the I/O.
///
/// Indexes are absolute (they keep counting across commits). A commit in
/// the background *seals* what is staged when its sync starts: the changes
/// below the seal are carried out when that sync returns
/// (`take(through:)`), the ones above it wait for the next. A write below
/// the seal is never cancelled by a later one (its sync did not cover the
/// later file).
struct StagedChanges {
    enum Change: Equatable {
        /// rename(2) of a staged file from `.hopper/tmp` into place.
        case place(temp: FileName, name: FileName, in: SpoolDirectory)
        /// rename(2) of a task file between state directories.
        case move(FileName, from: SpoolDirectory, to: SpoolDirectory)
        /// rename(2) of an output file; a missing one is skipped.
        case moveOutput(FileName, from: SpoolDirectory, to: SpoolDirectory)
        /// unlink(2) of an output file.
        case removeOutput(FileName, in: SpoolDirectory)
        /// unlink(2) of a task file after its record, once that is durable.
        case retire(FileName, in: SpoolDirectory)

        var isPlace: Bool { if case .place = self { true } else { false } }
    }

    /// The changes from index `base` on, in order; nil once carried out ahead of the commit.
    private var changes: [(id: TaskID, change: Change)?] = []
    private var base = 0
    /// Changes below this index belong to a sync under way.
    private(set) var sealed = 0
    /// Each task's changes still waiting, as indexes, ascending.
    private var waiting: [TaskID: [Int]] = [:]

    var isEmpty: Bool { waiting.isEmpty }

    /// The index the next change gets.
    var end: Int { base + changes.count }

    func isStaged(_ id: TaskID) -> Bool { waiting[id] != nil }

    mutating func append(_ id: TaskID, _ change: Change) {
        switch change {
        case .place(_, let name, let directory), .move(let name, _, let directory): keep(id, name, in: directory)
        default: break
        }
        waiting[id, default: []].append(end)
        changes.append((id, change))
    }

    /// A new version of the task's file lands as `name` in `directory`, or
    /// a new output file is made there: a removal of the old one there,
    /// waiting for the commit, would remove the new one instead (a task
    /// requeued and started again in one turn would be left without a
    /// file). The rename, or the truncating open, replaces the old file.
    mutating func keep(_ id: TaskID, _ name: FileName, in directory: SpoolDirectory) {
        guard let indexes = waiting[id] else { return }
        var dropped = false
        for index in indexes {
            switch changes[index - base]?.change {
            case .retire(name, directory)?, .removeOutput(name, directory)?:
                changes[index - base] = nil
                dropped = true
            default: break
            }
        }
        guard dropped else { return }
        let left = indexes.filter { changes[$0 - base] != nil }
        waiting[id] = left.isEmpty ? nil : left
    }

    /// Stages a write of `name` into `directory`. Returns the temporary file
    /// of the write it cancels: the task's last change, a write of the same
    /// name to the same place not yet sealed.
    mutating func place(_ id: TaskID, temp: FileName, as name: FileName, in directory: SpoolDirectory) -> FileName? {
        if let last = waiting[id]?.last, last >= sealed, case .place(let earlier, name, directory)? = changes[last - base]?.change {
            changes[last - base] = (id, .place(temp: temp, name: name, in: directory))
            return earlier
        }
        append(id, .place(temp: temp, name: name, in: directory))
        return nil
    }

    /// Whether the task's last change writes `name` into `directory`, and
    /// no earlier one still waiting puts a file of that name there (a write
    /// sealed under a sync, which a later write could not cancel).
    func placesOnly(_ id: TaskID, _ name: FileName, in directory: SpoolDirectory) -> Bool {
        guard let indexes = waiting[id], let last = indexes.last,
              case .place(_, name, directory)? = changes[last - base]?.change else { return false }
        for index in indexes.dropLast() {
            switch changes[index - base]?.change {
            case .place(_, name, directory)?, .move(name, _, directory)?: return false
            default: continue
            }
        }
        return true
    }

    /// Sends the task's last change, a write, to `directory` instead.
    mutating func redirect(_ id: TaskID, to directory: SpoolDirectory) {
        guard let last = waiting[id]?.last, case .place(let temp, let name, _)? = changes[last - base]?.change else { return }
        keep(id, name, in: directory)
        changes[last - base] = (id, .place(temp: temp, name: name, in: directory))
    }

    /// The temporary file of the last staged write of `name` into `directory`, if any.
    func temp(of name: FileName, in directory: SpoolDirectory, for id: TaskID) -> FileName? {
        for index in (waiting[id] ?? []).reversed() {
            if case .place(let temp, name, directory)? = changes[index - base]?.change { return temp }
        }
        return nil
    }

    /// Takes the task's waiting changes out, in order.
    mutating func take(_ id: TaskID) -> [Change] {
        guard let indexes = waiting.removeValue(forKey: id) else { return [] }
        return indexes.compactMap { index in
            defer { changes[index - base] = nil }
            return changes[index - base]?.change
        }
    }

    /// Everything staged so far goes with the sync about to start; returns
    /// the index below which that is.
    mutating func seal() -> Int {
        sealed = end
        return sealed
    }

    /// Takes out every waiting change below `boundary`, in order.
    mutating func take(through boundary: Int) -> [(id: TaskID, change: Change)] {
        let count = min(max(boundary - base, 0), changes.count)
        guard count > 0 else { return [] }
        var taken: [(id: TaskID, change: Change)] = []
        taken.reserveCapacity(count)
        for position in 0..<count { if let change = changes[position] { taken.append(change) } }
        for (id, _) in taken {
            guard var indexes = waiting[id], let first = indexes.first, first < boundary else { continue }
            indexes.removeAll { $0 < boundary }
            waiting[id] = indexes.isEmpty ? nil : indexes
        }
        if count == changes.count {
            changes.removeAll(keepingCapacity: changes.capacity <= 4096)
        } else {
            changes.removeFirst(count)
        }
        base += count
        return taken
    }

    /// Takes every waiting change out, in order.
    mutating func takeAll() -> [(id: TaskID, change: Change)] {
        take(through: end)
    }
}
