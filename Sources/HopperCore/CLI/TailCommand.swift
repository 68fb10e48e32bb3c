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

// MARK: - Events

/// Follows events.jsonl across rotation and truncation.
struct EventFollower {
    let root: Directory
    let lines: Int
    let json: Bool
    private var fd: FileDescriptor?
    private var inode: UInt64 = 0
    /// Bytes read from `fd` so far; compared with the file's size to see truncation.
    private var offset: Int64 = 0
    /// A last line without its newline yet.
    private var partial: [UInt8] = []

    init(root: Directory, lines: Int, json: Bool) {
        self.root = root
        self.lines = lines
        self.json = json
    }

    mutating func run(spoolPath: String, follow: Bool) throws(HopperError) -> Int32 {
        // Watch first: whatever changes after this wakes the loop below.
        let watch = follow ? try TailCommand.Watch([(spoolPath, InotifyMask.modify | InotifyMask.create | InotifyMask.movedTo)], what: "events.jsonl") : nil
        defer { watch?.close() }
        if let opened = open() {
            fd = opened.fd
            inode = opened.inode
            offset = startOfLastLines(opened.fd, size: opened.size)
            _ = lseek(opened.fd.rawValue, off_t(offset), SEEK_SET)
            readOn()
        }
        guard let watch else {
            fd?.close()
            return 0
        }
        while true {
            watch.next()
            readOn()
            guard let current = try? root.status(EventLog.name) else { continue }
            if fd == nil || UInt64(current.st_ino) != inode {
                // Rotated (or created): finish the old file, then follow the new one from its start.
                readOn()
                let previous = fd == nil ? nil : inode
                fd?.close()
                fd = nil
                partial = []
                if let previous { readSkipped(previous: previous, current: UInt64(current.st_ino)) }
                guard let opened = open() else { continue }
                fd = opened.fd
                inode = opened.inode
                offset = 0
                readOn()
            } else if Int64(current.st_size) < offset, let fd {
                // Truncated in place: start again from the beginning.
                _ = lseek(fd.rawValue, 0, SEEK_SET)
                offset = 0
                partial = []
                readOn()
            }
        }
    }

    /// After two rotations between wake-ups, events.jsonl.1 is neither the
    /// file that was followed nor the current one: it is printed whole.
    private mutating func readSkipped(previous: UInt64, current: UInt64) {
        guard let opened = open(EventLog.rotated) else { return }
        if opened.inode != previous && opened.inode != current {
            fd = opened.fd
            readOn()
            partial = []
        }
        opened.fd.close()
        fd = nil
    }

    private func open(_ name: FileName = EventLog.name) -> (fd: FileDescriptor, inode: UInt64, size: Int64)? {
        guard let fd = try? root.openFile(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return nil }
        guard let st = try? fd.status() else {
            fd.close()
            return nil
        }
        return (fd, UInt64(st.st_ino), Int64(st.st_size))
    }

    /// Reads what was appended since the last call and prints its whole lines.
    private mutating func readOn() {
        guard let fd else { return }
        var out = Output()
        var buffer = partial
        offset += Int64(TailCommand.drain(fd) { buffer.append(contentsOf: $0) })
        var start = 0
        while let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
            out.line(render(buffer[start..<newline]))
            start = newline + 1
        }
        partial = Array(buffer[start...])
        out.flush()
    }

    /// The offset where the last `lines` lines of the file begin.
    private func startOfLastLines(_ fd: FileDescriptor, size: Int64) -> Int64 {
        guard lines > 0, size > 0 else { return size }
        var chunk = [UInt8](repeating: 0, count: 16384)
        var end = size
        var newlines = 0
        var first = true
        while end > 0 {
            let start = max(0, end - Int64(chunk.count))
            let n = chunk.withUnsafeMutableBytes { pread(fd.rawValue, $0.baseAddress, Int(end - start), off_t(start)) }
            guard n > 0 else { return 0 }
            var i = n - 1
            // The file's last newline ends its last line; it does not start one.
            if first && chunk[i] == UInt8(ascii: "\n") { i -= 1 }
            first = false
            while i >= 0 {
                if chunk[i] == UInt8(ascii: "\n") {
                    newlines += 1
                    if newlines == lines { return start + Int64(i) + 1 }
                }
                i -= 1
            }
            end = start
        }
        return 0
    }

    /// `TS EVENT key=value...`, or the line itself with --json or when it is
    /// not a JSON object.
    func render(_ line: ArraySlice<UInt8>) -> String {
        let text = String(decoding: line, as: UTF8.self)
        guard !json, let object = (try? JSONParser.parse(Array(line)))?.objectValue else { return text }
        var words = [object["ts"]?.stringValue ?? "-", object["event"]?.stringValue ?? "-"]
        for (key, value) in object where key != "ts" && key != "event" {
            words.append(key + "=" + EventFollower.word(value))
        }
        return words.joined(separator: " ")
    }

    /// A value as one word: a plain string as is, anything else (or a string
    /// with spaces, quotes or `=`) as JSON.
    static func word(_ value: JSONValue) -> String {
        if case .string(let s) = value, !s.isEmpty,
           !s.unicodeScalars.contains(where: { $0.value <= 0x20 || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value == 0x7F }) {
            return s
        }
        return value.serialized()
    }
}

// MARK: - A task's output
