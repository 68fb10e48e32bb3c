import Glibc

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
