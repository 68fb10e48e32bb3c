import Glibc

/// Intake: files dropped into incoming/ and cancel requests in cancel/.
extension Daemon {
    /// Takes every file in incoming/, oldest first (modification time, then
    /// name), so a batch copied in before the daemon started keeps its order.
    func scanIncoming() {
        guard !shuttingDown else { return }
        do {
            let incoming = spool[.incoming]
            let dated = try incoming.entries().filter { !Intake.isIgnored($0) }.map { name -> (Int64, FileName) in
                let st = (try? incoming.status(name)) ?? nil
                return (st.map { Int64($0.st_mtim.tv_sec) * 1_000_000_000 + Int64($0.st_mtim.tv_nsec) } ?? 0, name)
            }
            // All at once, so the scheduler sees the whole batch (priorities)
            // before it starts any: what was written in place a moment ago is
            // taken as it is, as a file that overflowed the inotify queue is.
            for (_, name) in dated.sorted(by: { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1.bytes.lexicographicallyPrecedes($1.1.bytes) }) {
                settling.forget(name)
                take(name)
            }
        } catch {
            log.error("intake", "cannot list incoming/", [("error", "\(error)")])
        }
    }

    func scanCancel() {
        for name in (try? spool[.cancel].entries()) ?? [] { handleCancelFile(name) }
    }

    func handleInotify(_ batch: [InotifyEvent]) {
        let now = MonotonicInstant.now()
        for event in batch {
            if event.mask & InotifyMask.queueOverflow != 0 || event.watch == -1 {
                log.warning("intake", "inotify queue overflowed; rescanning")
                rescanIncoming = true
                continue
            }
            if event.name.isEmpty { continue }
            if event.watch == incomingWatch {
                guard !shuttingDown else { continue }
                let name = FileName(bytes: event.name)
                if Intake.isIgnored(name) { continue }
                carryOut(settling.saw(name, sighting(event, name), now: now), name)
            } else if event.watch == cancelWatch {
                handleCancelFile(FileName(bytes: event.name))
            }
        }
    }

    /// What an inotify event in incoming/ says of its file, for `DropSettling`.
    private func sighting(_ event: InotifyEvent, _ name: FileName) -> DropSettling.Sighting {
        if event.mask & InotifyMask.movedTo != 0 { return .renamedIn }
        if event.mask & InotifyMask.closeWrite != 0 { return .closedAfterWriting }
        if event.mask & InotifyMask.open != 0 { return .opened }
        guard let st = (try? spool[.incoming].status(name)) ?? nil else { return .gone }
        // Anything but a regular file is rejected at once: nobody writes into it.
        guard st.st_mode & S_IFMT == S_IFREG else { return .renamedIn }
        if event.mask & InotifyMask.create != 0 { return .created }
        return .attributesChanged
    }

    /// Carries out what `DropSettling` decided for `name`.
    private func carryOut(_ action: DropSettling.Action, _ name: FileName) {
        switch action {
        case .none: break
        case .take: take(name)
        case .wait(let until): schedule(at: until, .settle(name))
        }
    }

    /// A settle wait has come: the file is taken if nothing changed it since
    /// (its ctime says so, which catches writes inotify was not asked about).
    func settled(_ name: FileName) {
        guard !shuttingDown, settling.due(name, now: MonotonicInstant.now()) == .take else { return }
        guard let st = (try? spool[.incoming].status(name)) ?? nil else { return }
        let ago = Daemon.secondsSinceChange(st)
        if ago < settling.settle {
            return carryOut(settling.saw(name, .lastChanged(ago: ago), now: MonotonicInstant.now()), name)
        }
        take(name)
    }

    /// Seconds since a file's inode last changed (ctime: contents, links, attributes).
    static func secondsSinceChange(_ st: stat) -> Double {
        let changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        return Double(Timestamp.now().nanoseconds - changed) / 1e9
    }

    /// Claims a dropped file (rename into `.hopper/claimed/`) and examines it.
    func take(_ name: FileName) {
        if Intake.isIgnored(name) { return }
        do {
            try spool[.incoming].rename(name, to: spool.claimed, as: name, noReplace: true)
        } catch {
            if error.errno == .exists {
                // A file of that name is still being taken this turn: next turn.
                queue.post(.rescan)
            } else if error.errno != .noEntry {
                log.error("intake", "cannot claim a dropped file", [("file", name.escaped), ("error", "\(error)")])
            }
            return
        }
        examineClaimed(name)
    }

    func examineClaimed(_ name: FileName) {
        let now = Timestamp.now()
        switch intake.examine(name, in: spool.claimed) {
        case .ignored, .vanished:
            return
        case .busy(let error):
            // Backpressure: the file stays claimed and is tried again shortly.
            log.warning("intake", "out of resources; the file waits", [("file", name.escaped), ("error", "\(error.errno)")])
            retryClaimed(after: 0.1)
        case .rejected(let error):
            reject(name, error, now: now)
        case .accepted(let request, let origin, let stem, let uid):
            let id: TaskID
            if let given = request.id {
                guard !isKnown(given) else {
                    return reject(name, HopperError(.duplicateID, "a task with id \(given) already exists", field: "id"), now: now)
                }
                id = given
            } else {
                var candidate = TaskID.generate(stem: stem, suffix: idSuffixes.next(now: now))
                while isKnown(candidate) { candidate = TaskID.generate(stem: stem, suffix: idSuffixes.next(now: now)) }
                id = candidate
            }
            var task = SpooledTask(id: id, request: request, provider: request.provider ?? config.defaultProvider,
                                   source: name.escaped, submittedAt: now, seq: nextSeq)
            task.origin = origin
            task.owner = owner(uid)
            if scheduler.closesCycle(task) {
                return reject(name, HopperError(.invalidField, "field \"after\": waiting for these tasks would close a dependency cycle", field: "after"), now: now)
            }
            guard admitNew(task, now: now) else {
                log.error("intake", "cannot store an accepted task; the file stays claimed and is tried again", [("file", name.escaped)])
                retryClaimed(after: 1)
                return
            }
            nextSeq += 1
            stats.accepted += 1
            events.append("task.accepted") { w in
                w.field("id", id.rawValue)
                w.field("source", task.source)
                w.key("owner")
                task.owner!.write(to: &w)
            }
            acknowledged.append(name)
            tasksSinceTrim += 1
        }
    }

    /// The owner of a file owned by `uid`, named from the password database
    /// (through the daemon's one cache of it, `account`).
    func owner(_ uid: UInt32) -> TaskOwner { TaskOwner(uid: uid, user: account(uid)?.name) }

    private func reject(_ name: FileName, _ error: HopperError, now: Timestamp) {
        do {
            let owner = ((try? spool.claimed.status(name)) ?? nil).map { UInt32($0.st_uid) }
            let filed = try store.reject(name, from: spool.claimed, error: error, at: now, owner: owner)
            stats.rejected += 1
            events.append("task.rejected") { w in
                w.field("file", name.escaped)
                w.field("rejected_as", filed.escaped)
                w.field("error", error.code.rawValue)
                w.field("message", error.message)
            }
            log.warning("intake", "rejected a dropped file", [("file", name.escaped), ("error", error.code.rawValue), ("message", error.message)])
        } catch let failure {
            stopIfSyncFailed(failure)
            log.error("intake", "cannot move a rejected file; it stays claimed and is tried again", [("file", name.escaped), ("error", "\(failure)")])
            retryClaimed(after: 1)
        }
        published.changed = true
    }

    /// Any task, unfinished or with a record in done/.
    func isKnown(_ id: TaskID) -> Bool {
        scheduler[id] != nil || store.hasRecord(id)
    }

    /// The terminal states of `task`'s dependencies that have a record in done/.
    func endedDependencies(_ task: SpooledTask) -> [TaskID: TaskState] {
        var ended: [TaskID: TaskState] = [:]
        for id in scheduler.dependenciesToLookUp(task) {
            if let record = record(of: id) { ended[id] = record.state }
        }
        return ended
    }

    /// `id`'s record, staged this turn or in done/; nil when it has none or it cannot be read.
    func record(of id: TaskID) -> RecordSummary? {
        store.readRecord(id).flatMap { try? RecordSummary(bytes: $0) }
    }

    /// Enters a new task (`existing` nil) or a recovered one (found in
    /// `existing`) into the scheduler and puts its file where its state says.
    /// Returns false, leaving no trace in the scheduler, when a new task's
    /// file cannot be written.
    @discardableResult
    func place(_ task: SpooledTask, now: Timestamp, existing: SpoolDirectory?) -> Bool {
        let placement = scheduler.admit(task, now: now, ended: endedDependencies(task))
        let directory: SpoolDirectory
        switch placement {
        case .cancelled(let dep, let state):
            return finish(task, from: existing, state: .cancelled, reason: .dependency,
                          message: "Dependency \(dep) ended \(state.rawValue), so this task was not run.")
        case .pending: directory = .pending
        case .queued: directory = .queued
        }
        if let existing {
            if existing != directory {
                moveFile(task.id, from: existing, to: directory)
                // A task waiting for its retry keeps its last outputs beside its file.
                if task.attempts > 0 { store.moveOutputs(task.id, from: existing, to: directory) }
            }
        } else {
            guard write(task, to: directory) else {
                scheduler.withdraw(task.id)
                return false
            }
            events.append("task.state") { w in w.field("id", task.id.rawValue); w.field("from", "incoming"); w.field("to", directory.rawValue) }
        }
        if let start = scheduler[task.id]?.notBefore {
            schedule(after: max(0, start - now), .release(task.id))
        }
        let limit = task.request.queueTimeout ?? config.queueDefaultTimeout
        if limit > 0 && !task.started {
            schedule(after: max(0, task.submittedAt.adding(seconds: limit) - now), .expire(task.id))
        }
        published.changed = true
        return true
    }

    @discardableResult
    func write(_ task: SpooledTask, to directory: SpoolDirectory) -> Bool {
        do { try store.write(task, in: directory) } catch {
            stopIfSyncFailed(error)
            log.error("spool", "cannot write a task file", [("id", task.id.rawValue), ("error", "\(error)")])
            return false
        }
        return true
    }

    /// Arms one retry of the claimed files, however many of them failed: a
    /// retry per failure, each retrying them all, would multiply every round.
    func retryClaimed(after seconds: Double) {
        let at = MonotonicInstant.now().adding(seconds: seconds)
        if let armed = claimedRetryAt, armed <= at { return }
        claimedRetryAt = at
        schedule(at: at, .retryClaimed)
    }

    /// Files left in claimed/ by a failed write get another try.
    func retryClaimed() {
        claimedRetryAt = nil
        let pending = Set(acknowledged.map(\.bytes))
        for name in (try? spool.claimed.entries()) ?? [] where !pending.contains(name.bytes) && !store.awaitsAcknowledgement(name) { examineClaimed(name) }
    }

    func moveFile(_ id: TaskID, from: SpoolDirectory, to: SpoolDirectory) {
        do { try store.move(id, from: from, to: to) } catch {
            log.error("spool", "cannot move a task file", [("id", id.rawValue), ("from", from.rawValue), ("to", to.rawValue), ("error", "\(error)")])
        }
    }
}
