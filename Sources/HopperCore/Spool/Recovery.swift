/// Start-up recovery (SPEC section 9): reads what a previous daemon left and
/// makes every accepted task whole again.
///
/// - temporary files in `.hopper/tmp` are removed (they were never renamed
///   into place, so nothing refers to them);
/// - a task file whose id already has a record in done/ is stale (the crash
///   came between writing the record and removing the file) and is removed,
///   once the record is durable; its `origin` is kept, so that a claimed
///   file the crash left unacknowledged is not taken again;
/// - a task found in running/ was interrupted: its interruption count goes up
///   and it returns to queued/, or ends `error`/`interrupted` at the third;
/// - a task in running/ that carries a Slurm attempt stays there: its job
///   may still run, and the daemon follows it by its job id;
/// - what this changed is committed (`TaskStore.commit`);
/// - output files parted from their task file by a crash follow it;
/// - files claimed from incoming/ but not yet accepted go back to intake.
public struct Recovery {
    public static let maxInterruptions = 3

    /// What the spool holds after recovery.
    public struct Loaded {
        public var tasks: [(SpooledTask, SpoolDirectory)] = []
        /// Origins of stale task files: tasks that have a record, whose
        /// claimed files may still be there if a crash came between their
        /// record and the turn's acknowledgement.
        public var finishedOrigins: [SpooledTask.Origin: TaskID] = [:]
        public var doneIDs: Set<TaskID> = []
        public var interrupted: [SpooledTask] = []
        public var requeued: [TaskID] = []
        /// Tasks in running/ whose Slurm job may still run: left there, to be followed.
        public var following: [SpooledTask] = []
        /// Task files that cannot be decoded: id, where, and why.
        public var unreadable: [(TaskID, SpoolDirectory, HopperError)] = []
        public var nextSeq: UInt64 = 1
        public var removedTemp = 0
        /// A failed sync, or a staged rename the file system refused: recovery
        /// stopped there, and so must the daemon.
        public var syncFailure: SystemError?
    }

    public static func run(store: TaskStore, log: Logger) -> Loaded {
        let spool = store.spool
        var loaded = Loaded()
        for name in (try? spool.tmp.entries()) ?? [] {
            try? spool.tmp.remove(name)
            loaded.removedTemp += 1
        }
        for name in (try? spool[.done].entries()) ?? [] where name.hasSuffix(".json") {
            if let id = TaskID(String(decoding: name.dropping(suffix: ".json"), as: UTF8.self)) { loaded.doneIDs.insert(id) }
        }
        var seen: Set<TaskID> = []
        // Listed before anything moves: requeued tasks must not be met again in queued/.
        let listings = [SpoolDirectory.running, .queued, .pending].map { d in (d, (try? spool[d].entries()) ?? []) }
        for (directory, names) in listings {
            let dir = spool[directory]
            for name in names {
                guard name.hasSuffix(".json"), let id = TaskID(String(decoding: name.dropping(suffix: ".json"), as: UTF8.self)) else { continue }
                if loaded.doneIDs.contains(id) || seen.contains(id) {
                    log.warning("recovery", "removing a stale task file", [("file", "\(directory.rawValue)/\(name.escaped)")])
                    if let bytes = (try? AtomicFile.read(name, in: dir)) ?? nil, let origin = (try? SpooledTask.decode(bytes))?.origin {
                        loaded.finishedOrigins[origin] = id
                    }
                    if directory == .running { store.moveOutputs(id, from: .running, to: .done) }
                    store.removeTaskFile(id, from: directory)
                    continue
                }
                seen.insert(id)
                let task: SpooledTask
                do {
                    guard let bytes = try AtomicFile.read(name, in: dir) else { continue }
                    task = try SpooledTask.decode(bytes)
                    guard task.id == id else { throw HopperError(.invalidField, "its id is \(task.id), not \(id)", field: "id") }
                } catch let e as HopperError {
                    loaded.unreadable.append((id, directory, e))
                    continue
                } catch {
                    loaded.unreadable.append((id, directory, HopperError(.unreadable, "\(error)")))
                    continue
                }
                loaded.nextSeq = max(loaded.nextSeq, task.seq + 1)
                if directory == .running && task.slurmAttempt != nil {
                    loaded.following.append(task)
                } else if directory == .running {
                    var t = task
                    t.interruptions += 1
                    t.started = true
                    if t.interruptions >= maxInterruptions {
                        loaded.interrupted.append(t)
                        continue
                    }
                    do {
                        try store.write(t, in: .running)
                        try store.move(id, from: .running, to: .queued)
                        store.removeOutputs(id, in: .running)
                        loaded.requeued.append(id)
                        loaded.tasks.append((t, .queued))
                    } catch {
                        log.error("recovery", "cannot requeue an interrupted task", [("id", id.rawValue), ("error", "\(error)")])
                        loaded.interrupted.append(t)
                    }
                } else {
                    loaded.tasks.append((task, directory))
                }
            }
        }
        // The requeued files are where they belong, the stale ones gone, before outputs are matched to them.
        do { try store.commit() } catch {
            loaded.syncFailure = error
            return loaded
        }
        // Output files belong beside their task file, or beside its record.
        // A crash between moving a task file and moving its outputs (a retry
        // going to pending/, a release to queued/, a record to done/) parts
        // them: they follow the task. Outputs of no known task are debris
        // of an interrupted attempt.
        var home: [TaskID: SpoolDirectory] = [:]
        for id in loaded.doneIDs { home[id] = .done }
        for (task, directory) in loaded.tasks { home[task.id] = directory }
        for task in loaded.interrupted { home[task.id] = .running }
        for task in loaded.following { home[task.id] = .running }
        // The daemon ends these with a record and moves their outputs itself.
        for (id, directory, _) in loaded.unreadable { home[id] = directory }
        for directory in [SpoolDirectory.running, .queued, .pending] {
            let dir = spool[directory]
            for name in (try? dir.entries()) ?? [] where name.hasSuffix(".out") || name.hasSuffix(".err") {
                let id = TaskID(String(decoding: name.dropping(suffix: ".out"), as: UTF8.self))
                guard let target = id.flatMap({ home[$0] }) else {
                    try? dir.remove(name)
                    continue
                }
                if target == directory { continue }
                if spool[target].exists(name) { try? dir.remove(name) } else { try? dir.rename(name, to: spool[target], as: name) }
            }
        }
        loaded.tasks.sort { ($0.0.seq, $0.0.id) < ($1.0.seq, $1.0.id) }
        return loaded
    }
}
