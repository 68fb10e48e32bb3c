import Glibc

/// `hopper tail [ID]`: follows events.jsonl, or one task's output.
///
/// Both modes wait on inotify, never on a timer, and read each file through
/// one open descriptor, so a file that is renamed while it is read (events.jsonl
/// rotated to events.jsonl.1, running/ID.out moved to done/) is finished
/// from that descriptor with nothing read twice and nothing skipped:
///
/// - Events: the spool root is watched (IN_MODIFY, IN_CREATE, IN_MOVED_TO).
///   After each wake-up the open file is read to its end; then, if
///   `events.jsonl` is another inode (rotated), the old descriptor is read
///   once more (a batch may have landed between the two) and the new file is
///   followed from its start; if it is shorter than what was read, it was
///   truncated and is read again from its start.
/// - A task's output: running/, pending/, queued/, done/, incoming/ and
///   rejected/ are watched. While the task runs, running/ID.out is read as it
///   grows; when an attempt starts anew (a retry), its new file is followed
///   from its start. When the record appears, the daemon has already moved
///   the output into done/ (it moves outputs first, writes the record
///   second), so the open descriptor is read to its end and the command
///   exits by the task's state. A task that finished before the call has
///   its done/ output printed whole.
enum TailCommand {
    static let command = HopperCLI.Command(
        name: "tail", summary: "follow events, or one task's output", usage: "[ID] [--no-follow] [--lines N] [--stderr] [--json]",
        help: """
        Without ID: prints the last --lines N (default 10) events of
        events.jsonl as `TS EVENT key=value...` (--json: the raw lines), then
        follows the file, across rotations, until interrupted.

        With ID: prints the task's standard output (--stderr: its standard
        error) from the start and follows it while the task runs, waiting
        first if the task has not started. It stops when the task ends: exit
        0 if the task succeeded, 1 otherwise, 2 if the id is unknown.

        Following (--follow, -f) is the default; --no-follow prints what is
        there now and exits (0 for a task that has not finished).

        example: id=$(hopper submit make test) && hopper tail "$id"
        """,
        spec: .init(valued: ["lines"], flags: ["json", "follow", "f", "no-follow", "stderr"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.count <= 1 else { throw HopperError(.usage, "expected at most one task id") }
        if args.has("no-follow") && (args.has("follow") || args.has("f")) {
            throw HopperError(.usage, "--follow and --no-follow exclude each other")
        }
        let follow = !args.has("no-follow")
        let reader = try SpoolReader.open(args.spoolPath)
        defer { reader.spool.close() }
        guard let text = args.operands.first else {
            guard !args.has("stderr") else { throw HopperError(.usage, "--stderr needs a task id") }
            let lines = try args.integer("lines") ?? 10
            guard lines >= 0 else { throw HopperError(.usage, "option --lines expects a count ≥ 0, got \(lines)") }
            var events = EventFollower(root: reader.spool.root, lines: lines, json: args.has("json"))
            return try events.run(spoolPath: reader.spool.path, follow: follow)
        }
        guard !args.has("json") && args.value("lines") == nil else { throw HopperError(.usage, "--json and --lines apply to events, not to a task's output") }
        guard let id = TaskID(text) else { throw HopperError(.notFound, "cannot tail \(text): not a valid task id") }
        var output = OutputFollower(reader: reader, id: id, name: args.has("stderr") ? Spool.errorFile(id) : Spool.outputFile(id))
        return try output.run(follow: follow)
    }

    /// An inotify instance watching `paths`, and a blocking wait on it.
    struct Watch {
        let inotify: Inotify

        init(_ paths: [(String, UInt32)], what: String) throws(HopperError) {
            do {
                inotify = try Inotify()
                for (path, mask) in paths { _ = try inotify.addWatch(path, mask: mask) }
            } catch {
                throw HopperError(.io, "cannot tail \(what): \(error)", underlying: error)
            }
        }

        /// Blocks until something changed; an overflow or a read error just
        /// means "look again", which the caller does after every wake-up.
        func next() {
            var pfd = pollfd(fd: inotify.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            while poll(&pfd, 1, -1) < 0 && errno == EINTR {}
            _ = try? inotify.readEvents()
        }

        func close() { inotify.close() }
    }

    /// Reads `fd` from its offset to end of file, handing each chunk to `consume`.
    /// Returns the number of bytes read.
    @discardableResult
    static func drain(_ fd: FileDescriptor, _ consume: (ArraySlice<UInt8>) -> Void) -> Int {
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { b in Glibc.read(fd.rawValue, b.baseAddress, b.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return total }
            total += n
            consume(chunk[0..<n])
        }
    }

    /// Writes raw bytes to stdout at once; a closed stdout ends the process by SIGPIPE.
    static func write(_ bytes: ArraySlice<UInt8>) {
        try? FileDescriptor.standardOutput.writeAll(Array(bytes))
    }
}
