import Glibc

/// `hopper wait ID...`: blocks (on inotify, no polling) until every task is
/// finished; exit 0 only if all succeeded.
enum WaitCommand {
    static let command = HopperCLI.Command(
        name: "wait", summary: "wait until tasks finish; exit 0 only if all succeeded", usage: "ID... | --all [--timeout S] [--json]",
        help: """
        Waits for each task to reach a terminal state, then prints one line per
        task (id, state, message). Exit 0 if every task succeeded, 1 if any did
        not (or --timeout passed first), 2 if an id is unknown.

        --all waits for every task unfinished (pending, queued or running) at
        the moment of the call, besides any ID given. When standard error is a
        terminal and more than one task is awaited, a progress line there
        shows how many are done, failed and remaining, the rate and an ETA.

        example: id=$(hopper submit make test) && hopper wait "$id"
        """,
        spec: .init(valued: ["timeout"], flags: ["json", "all"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard !args.operands.isEmpty || args.has("all") else { throw HopperError(.usage, "expected at least one task id, or --all") }
        var ids: [TaskID] = []
        for text in args.operands {
            guard let id = TaskID(text) else { throw HopperError(.notFound, "cannot wait for \(text): not a valid task id") }
            ids.append(id)
        }
        let deadline = try args.number("timeout").map { MonotonicInstant.now().adding(seconds: $0) }
        let reader = try SpoolReader.open(args.spoolPath)
        if args.has("all") {
            var seen = Set(ids)
            // Twice, in the order tasks move, as SpoolReader.find does: a task
            // moving back from running/ to pending/ for a retry is met on the second pass.
            var found: [TaskID] = []
            for _ in 0..<2 {
                for directory in [SpoolDirectory.pending, .queued, .running] {
                    for id in reader.ids(in: directory) where seen.insert(id).inserted { found.append(id) }
                }
            }
            ids += found.sorted()
        }
        var progress = isatty(2) == 1 && ids.count > 1 ? Progress(total: ids.count) : nil
        let inotify: Inotify
        do {
            inotify = try Inotify()
            _ = try inotify.addWatch(reader.spool.path + "/done", mask: InotifyMask.movedTo | InotifyMask.closeWrite)
            _ = try inotify.addWatch(reader.spool.path + "/rejected", mask: InotifyMask.movedTo | InotifyMask.closeWrite)
            // A task's record is written before its task file is removed, and a
            // lookup meets the task file first: the removal is the wake-up that
            // lets the next lookup see the record.
            for directory in ["pending", "queued", "running"] {
                _ = try inotify.addWatch(reader.spool.path + "/" + directory, mask: InotifyMask.delete)
            }
        } catch {
            throw HopperError(.io, "cannot wait: \(error)", underlying: error)
        }
        defer { inotify.close() }
        var results: [TaskID: (TaskState, String)] = [:]
        while true {
            for id in ids where results[id] == nil {
                switch reader.locate(id) {
                case .found(let found):
                    if found.state.isTerminal { results[id] = (found.state, found.object["message"]?.stringValue ?? "") }
                case .submitted:
                    break
                case .rejected(let rejection):
                    results[id] = (.error, "rejected: " + (rejection["message"]?.stringValue ?? "see rejected/"))
                case .missing:
                    progress?.clear()
                    throw HopperError(.notFound, "cannot wait for \(id): no such task")
                }
            }
            progress?.show(done: results.count, failed: results.values.filter { $0.0 != .succeeded }.count)
            if results.count == ids.count { break }
            var timeoutMs: Int32 = -1
            if let deadline {
                let left = deadline - MonotonicInstant.now()
                if left <= 0 { break }
                timeoutMs = Int32(min(left * 1000 + 1, 86_400_000))
            }
            var pfd = pollfd(fd: inotify.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            // A bounded wait also covers a request still in incoming/ being rejected by a daemon
            // on another host's clock: re-check at least every few seconds.
            _ = poll(&pfd, 1, timeoutMs < 0 ? 5000 : min(timeoutMs, 5000))
            _ = try? inotify.readEvents()
        }
        progress?.clear()
        var out = Output()
        var allSucceeded = results.count == ids.count
        for id in ids {
            guard let (state, message) = results[id] else {
                out.line(args.has("json") ? "{\"id\":\(JSONValue.string(id.rawValue).serialized()),\"state\":null}" : "\(id)  unfinished  (timed out waiting)")
                continue
            }
            if state != .succeeded { allSucceeded = false }
            if args.has("json") {
                out.jsonLine([("id", .string(id.rawValue)), ("state", .string(state.rawValue)), ("message", .string(message))])
            } else {
                out.line("\(id)  \(state.rawValue)  \(Logger.oneLine(message))")
            }
        }
        out.flush()
        if results.count < ids.count { Output.error("wait: timed out with \(ids.count - results.count) task(s) unfinished") }
        return allSucceeded ? 0 : 1
    }
}

extension WaitCommand {
    /// The progress line on a terminal's standard error:
    /// `\r<done>/<total> done, <failed> failed, <remaining> remaining, <rate>/s, ETA <t>`.
    /// The rate counts the tasks that finished since the call began.
    struct Progress {
        let total: Int
        let started = MonotonicInstant.now()
        private var doneAtStart: Int?
        private var shown: String?

        init(total: Int) { self.total = total }

        mutating func show(done: Int, failed: Int) {
            let first = doneAtStart ?? done
            doneAtStart = first
            let elapsed = MonotonicInstant.now() - started
            let rate = elapsed > 0 ? Double(done - first) / elapsed : 0
            let remaining = total - done
            let eta = rate > 0 ? Progress.duration(Double(remaining) / rate) : "-"
            let text = "\(done)/\(total) done, \(failed) failed, \(remaining) remaining, \(Progress.decimal(rate))/s, ETA \(eta)"
            guard text != shown else { return }
            shown = text
            // Erase the rest of a longer previous line.
            try? FileDescriptor.standardError.writeAll(Array(("\r" + text + "\u{1B}[K").utf8))
        }

        /// Removes the line, so what follows starts on a clean one.
        func clear() {
            guard shown != nil else { return }
            try? FileDescriptor.standardError.writeAll(Array("\r\u{1B}[K".utf8))
        }

        /// One decimal: `0.0`, `12.5`.
        static func decimal(_ value: Double) -> String {
            let tenths = Int((value * 10).rounded())
            return "\(tenths / 10).\(tenths % 10)"
        }

        /// `42s`, `3m05s`, `2h07m`.
        static func duration(_ seconds: Double) -> String {
            guard seconds.isFinite, seconds < 360_000 else { return "-" }
            let s = Int(seconds.rounded(.up))
            func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
            if s < 60 { return "\(s)s" }
            if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
            return "\(s / 3600)h\(two(s / 60 % 60))m"
        }
    }
}
