import Glibc

/// Every change a task's files go through, as renames within the spool
/// (SPEC sections 1 and 9).
///
/// The protocol: a task file is only ever in one of pending/, queued/,
/// running/; it is rewritten in place (write to `.hopper/tmp`, rename over)
/// and moved by rename(2). Its end is: record written to done/ (temp +
/// rename), then the task file removed. A crash between the two leaves a
/// record and a stale task file; recovery keeps the record. With durability
/// `fsync`, each written file is fdatasync'ed before its rename and every
/// directory a turn changed is fsync'ed once in `commit()`, before anything
/// is acknowledged (group commit).
public final class TaskStore {
    public let spool: Spool
    public var durable: Bool
    /// Secrets masked in every record.
    public var mask = SecretMask()
    private var dirty: Set<SpoolDirectory> = []
    private var rootDirty = false

    public init(spool: Spool, durable: Bool) {
        self.spool = spool
        self.durable = durable
    }

    /// Writes `task`'s file into `directory`, replacing any previous version.
    public func write(_ task: SpooledTask, in directory: SpoolDirectory) throws(SystemError) {
        try AtomicFile.write(task.encoded(), to: Spool.taskFile(task.id), in: spool[directory], scratch: spool.tmp, sync: durable)
        dirty.insert(directory)
    }

    /// Moves a task file from one state directory to another.
    public func move(_ id: TaskID, from: SpoolDirectory, to: SpoolDirectory) throws(SystemError) {
        let name = Spool.taskFile(id)
        try spool[from].rename(name, to: spool[to], as: name)
        dirty.insert(from)
        dirty.insert(to)
    }

    /// Moves `.out` and `.err` along; missing ones are skipped.
    public func moveOutputs(_ id: TaskID, from: SpoolDirectory, to: SpoolDirectory) {
        for name in [Spool.outputFile(id), Spool.errorFile(id)] {
            try? spool[from].rename(name, to: spool[to], as: name)
        }
        dirty.insert(to)
    }

    public func removeOutputs(_ id: TaskID, in directory: SpoolDirectory) {
        try? spool[directory].remove(Spool.outputFile(id))
        try? spool[directory].remove(Spool.errorFile(id))
    }

    /// Writes the task's record into done/.
    public func writeRecord(_ record: TaskRecord) throws(SystemError) {
        try AtomicFile.write(mask.apply(record.encoded()), to: Spool.taskFile(record.task.id), in: spool[.done], scratch: spool.tmp, sync: durable,
                             private: FileAccess(owner: record.task.owner?.uid))
        dirty.insert(.done)
    }

    public func removeTaskFile(_ id: TaskID, from directory: SpoolDirectory) throws(SystemError) {
        try spool[directory].remove(Spool.taskFile(id))
        dirty.insert(directory)
    }

    /// Moves a dropped file to rejected/ beside `<name>.error.json`. The name
    /// gets a `.N` suffix when rejected/ already holds one like it, so no
    /// earlier rejection is overwritten. Returns the name it was filed under.
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
            dirty.insert(.rejected)
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

    /// Writes a spool-level file (status.json, metrics.prom) atomically; never fsync'ed.
    public func writeRootFile(_ bytes: [UInt8], as name: String) throws(SystemError) {
        try AtomicFile.write(mask.apply(bytes), to: FileName(name), in: spool.root, scratch: spool.tmp, sync: false)
    }

    /// Whether a commit has something to make durable.
    public var needsCommit: Bool { durable && !dirty.isEmpty }

    /// Makes this turn's renames durable: one fsync per changed directory.
    public func commit() throws(SystemError) {
        defer { dirty.removeAll(keepingCapacity: true) }
        guard durable else { return }
        for d in dirty { try spool[d].sync() }
    }
}
