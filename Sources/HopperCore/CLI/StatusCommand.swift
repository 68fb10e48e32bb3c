import Glibc

/// `hopper status`: the daemon, its workers and providers, counts per state.
enum StatusCommand {
    static let command = HopperCLI.Command(
        name: "status", summary: "show the daemon, workers, providers and counts per state", usage: "[--json] [--watch [--interval S]]",
        help: """
        Reads status.json when a daemon runs on the spool; otherwise counts the
        spool's directories. --json prints the status object.

        --watch clears the screen and redraws the status whenever status.json
        is rewritten, and at least every --interval S seconds (default 1),
        until interrupted. It only does so when standard output is a
        terminal; otherwise the status is printed once.

        example: hopper status --spool /var/spool/hopper --watch
        """,
        spec: .init(valued: ["interval"], flags: ["json", "watch"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        let interval = try args.number("interval") ?? 1
        guard interval > 0 else { throw HopperError(.usage, "option --interval expects seconds > 0, got \(interval)") }
        let reader = try SpoolReader.open(args.spoolPath)
        guard args.has("watch") && Output.stdoutIsTerminal else {
            var out = Output()
            render(reader, json: args.has("json"), into: &out)
            out.flush()
            return 0
        }
        // A wake-up when the daemon renames a new status.json into place; the
        // interval bounds the wait so file counts and a dead daemon show too.
        let inotify: Inotify
        do {
            inotify = try Inotify()
            _ = try inotify.addWatch(reader.spool.path, mask: InotifyMask.movedTo | InotifyMask.closeWrite)
        } catch {
            throw HopperError(.io, "cannot watch \(reader.spool.path)/status.json: \(error)", underlying: error)
        }
        defer { inotify.close() }
        while true {
            var out = Output()
            // Home, then clear to the end of the screen.
            try? FileDescriptor.standardOutput.writeAll(Array("\u{1B}[H\u{1B}[2J".utf8))
            render(reader, json: args.has("json"), into: &out)
            out.flush()
            var pfd = pollfd(fd: inotify.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, Int32(max(1, min(interval * 1000, 86_400_000))))
            _ = try? inotify.readEvents()
        }
    }

    /// The status as `hopper status` prints it, once.
    static func render(_ reader: SpoolReader, json: Bool, into out: inout Output) {
        let running = Spool.isDaemonRunning(reader.spool.path)
        if running { requestFreshStatus(reader.spool.path) }
        var status = JSONObject()
        if running, let bytes = try? AtomicFile.read(FileName("status.json"), in: reader.spool.root), let o = (try? JSONParser.parse(bytes))?.objectValue {
            status = o
        } else {
            status["state"] = .string("stopped")
            status["spool"] = .string(reader.spool.path)
        }
        var counts = JSONObject()
        for d in [SpoolDirectory.pending, .queued, .running, .done, .rejected] {
            let names = (try? reader.spool[d].entries()) ?? []
            // rejected/ holds each file beside its NAME.error.json: count the explanations.
            let n = d == .rejected ? names.filter { $0.hasSuffix(".error.json") }.count : names.filter { $0.hasSuffix(".json") }.count
            counts[d.rawValue] = .int(Int64(n))
        }
        status["files"] = .object(counts)
        // The files are the pause, daemon or not: read them rather than the last status.json.
        let paused = PauseSwitch(names: PauseFiles.list(reader.spool.path))
        status["paused"] = .array(paused.sorted.map(JSONValue.string))
        if json {
            out.line(JSONValue.object(status).serialized())
        } else {
            let state = status["state"]?.stringValue ?? "?"
            out.line("daemon    \(state)\(status["pid"]?.intValue.map { " (pid \($0))" } ?? "")")
            out.line("spool     \(reader.spool.path)")
            if let updated = status["updated_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) {
                out.line("updated   \(StatusCommand.age(max(0, Timestamp.now() - updated))) ago")
            }
            if let w = status["workers"]?.objectValue {
                out.line("workers   \(w["busy"]?.intValue ?? 0) busy of \(w["total"]?.intValue ?? 0)")
            }
            if !paused.names.isEmpty {
                out.line("paused    " + (paused.isAllPaused ? "ALL (no task starts)" : paused.sorted.joined(separator: ", ")))
            }
            out.line("tasks     " + ["pending", "queued", "running", "done", "rejected"].map { "\($0) \(counts[$0]?.intValue ?? 0)" }.joined(separator: ", "))
            if let oldest = StatusCommand.oldestQueued(reader) {
                out.line("oldest    \(oldest.id) queued \(StatusCommand.age(Timestamp.now() - oldest.since)) ago")
            }
            if let f = status["finished_since_start"]?.objectValue {
                out.line("finished  " + f.map { "\($0.key) \($0.value.intValue ?? 0)" }.joined(separator: ", ") + " (since start)")
            }
            if let providers = status["providers"]?.objectValue {
                out.line("")
                out.table(["PROVIDER", "MODE", "RUNNING", "PAUSED", "SESSIONS", "CIRCUIT", "LAST AUTH ERROR"], providers.map { p in
                    let o = p.value.objectValue ?? JSONObject()
                    return [p.key, o["mode"]?.stringValue ?? "", String(o["running"]?.intValue ?? 0), paused.holds(p.key) ? "yes" : "no",
                            String(o["sessions"]?.intValue ?? 0),
                            o["circuit"]?.stringValue ?? "", Logger.oneLine(o["last_auth_error"]?.stringValue ?? "-")]
                })
            }
            // Agent providers: a rate-limit or budget window, and today's spend against the budget.
            let agents = (status["providers"]?.objectValue ?? JSONObject()).filter { $0.value.objectValue?["spent_today_usd"] != nil }
            if !agents.isEmpty {
                out.line("")
                out.table(["AGENT PROVIDER", "LIMITED UNTIL", "WHY", "SPENT TODAY (USD)", "BUDGET (USD/DAY)"], agents.map { p in
                    let o = p.value.objectValue ?? JSONObject()
                    return [p.key, o["limited_until"]?.stringValue ?? "-", o["limit_reason"]?.stringValue ?? "-",
                            FieldReader.format(o["spent_today_usd"]?.doubleValue ?? 0),
                            o["budget_usd_per_day"]?.doubleValue.map(FieldReader.format) ?? "-"]
                })
            }
            if let sessions = status["sessions"]?.arrayValue, !sessions.isEmpty {
                out.line("")
                out.table(["SESSION", "PROVIDER", "OWNER", "STATE", "PID", "TASK", "TASKS RUN"], sessions.map { s in
                    let o = s.objectValue ?? JSONObject()
                    let state = (o["state"]?.stringValue ?? "") + (o["idle_warning"] == .bool(true) ? " (idle warning)" : "")
                    return [o["id"]?.stringValue ?? "", o["provider"]?.stringValue ?? "", TaskOwner.label(in: o), state,
                            o["pid"]?.intValue.map { String($0) } ?? "-", o["task"]?.stringValue ?? "-", String(o["tasks_run"]?.intValue ?? 0)]
                })
            }
        }
    }

    /// Asks the daemon holding the spool's lock for a fresh status.json
    /// (SIGUSR1) and waits up to half a second for it. The pid is the one
    /// /proc/locks shows holding the lock and the daemon recorded in it; a
    /// user who may not signal the daemon reads the last snapshot, whose age
    /// the text output shows.
    static func requestFreshStatus(_ spool: String) {
        let lockPath = Spool.lockPath(spool)
        guard let holder = FileLock.holder(lockPath), Spool.recordedLockHolder(spool) == holder.rawValue else { return }
        // status.json is renamed into place: a new inode is a new snapshot.
        func inode() -> UInt64? {
            var st = stat()
            return stat(spool + "/status.json", &st) == 0 ? UInt64(st.st_ino) : nil
        }
        let before = inode()
        guard ProcessGroup.signalProcess(holder, .user1) else { return }
        let deadline = MonotonicInstant.now().adding(seconds: 0.5)
        while MonotonicInstant.now() < deadline, inode() == before { usleep(2_000) }
    }

    /// The task that has waited longest in queued/, by its file's modification
    /// time (set when it was accepted or requeued): one stat per queued task.
    static func oldestQueued(_ reader: SpoolReader) -> (id: String, since: Timestamp)? {
        let queued = reader.spool[.queued]
        var best: (id: String, since: Timestamp)?
        for name in (try? queued.entries()) ?? [] where name.hasSuffix(".json") {
            guard let st = (try? queued.status(name)) ?? nil else { continue }
            let since = Timestamp(nanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
            if best == nil || since < best!.since { best = (String(decoding: name.dropping(suffix: ".json"), as: UTF8.self), since) }
        }
        return best
    }

    /// "42 s", "7 min", "3.5 h".
    static func age(_ seconds: Double) -> String {
        if seconds < 120 { return "\(Int(seconds.rounded())) s" }
        if seconds < 7200 { return "\(Int((seconds / 60).rounded())) min" }
        return "\((seconds / 360).rounded() / 10) h"
    }
}
