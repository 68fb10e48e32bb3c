import Glibc

/// `hopper wait ID...`: blocks (on inotify, no polling) until every task is
/// finished; exit 0 only if all succeeded.
enum WaitCommand {
    static let command = HopperCLI.Command(
        name: "wait", summary: "wait until tasks finish; exit 0 only if all succeeded", usage: "ID... [--timeout S] [--json]",
        help: """
        Waits for each task to reach a terminal state, then prints one line per
        task (id, state, message). Exit 0 if every task succeeded, 1 if any did
        not (or --timeout passed first), 2 if an id is unknown.

        example: id=$(hopper submit make test) && hopper wait "$id"
        """,
        spec: .init(valued: ["timeout"], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard !args.operands.isEmpty else { throw HopperError(.usage, "expected at least one task id") }
        var ids: [TaskID] = []
        for text in args.operands {
            guard let id = TaskID(text) else { throw HopperError(.notFound, "cannot wait for \(text): not a valid task id") }
            ids.append(id)
        }
        let deadline = try args.number("timeout").map { MonotonicInstant.now().adding(seconds: $0) }
        let reader = try SpoolReader.open(args.spoolPath)
        let inotify: Inotify
        do {
            inotify = try Inotify()
            _ = try inotify.addWatch(reader.spool.path + "/done", mask: InotifyMask.movedTo | InotifyMask.closeWrite)
            _ = try inotify.addWatch(reader.spool.path + "/rejected", mask: InotifyMask.movedTo | InotifyMask.closeWrite)
        } catch {
            throw HopperError(.io, "cannot wait: \(error)", underlying: error)
        }
        defer { inotify.close() }
        var results: [TaskID: (TaskState, String)] = [:]
        while true {
            for id in ids where results[id] == nil {
                if let found = reader.find(id) {
                    if found.state.isTerminal { results[id] = (found.state, found.object["message"]?.stringValue ?? "") }
                } else if let rejection = reader.rejection(id), !reader.isSubmitted(id) {
                    results[id] = (.error, "rejected: " + (rejection["message"]?.stringValue ?? "see rejected/"))
                } else if !reader.isSubmitted(id) {
                    throw HopperError(.notFound, "cannot wait for \(id): no such task")
                }
            }
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
        var out = Output()
        var allSucceeded = results.count == ids.count
        for id in ids {
            guard let (state, message) = results[id] else {
                out.line(args.has("json") ? "{\"id\":\(JSONValue.string(id.rawValue).serialized()),\"state\":null}" : "\(id)  unfinished  (timed out waiting)")
                continue
            }
            if state != .succeeded { allSucceeded = false }
            if args.has("json") {
                var w = JSONWriter()
                w.beginObject()
                w.field("id", id.rawValue)
                w.field("state", state.rawValue)
                w.field("message", message)
                w.endObject()
                out.line(w.string)
            } else {
                out.line("\(id)  \(state.rawValue)  \(Logger.oneLine(message))")
            }
        }
        out.flush()
        if results.count < ids.count { Output.error("wait: timed out with \(ids.count - results.count) task(s) unfinished") }
        return allSucceeded ? 0 : 1
    }
}
