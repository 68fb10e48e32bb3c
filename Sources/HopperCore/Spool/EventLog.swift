import Glibc

/// `events.jsonl`: one JSON object a line, appended with O_APPEND.
///
/// Events of one loop turn are buffered and written with a single write(2)
/// once the turn's changes are carried out (after the background sync that
/// covers them: `flush(through:)`), so every line lands whole and none tells
/// of a change that a crash could still take back. Past `maxBytes` the file is
/// renamed to `events.jsonl.1` (replacing the previous one) and a new file is
/// started. A line torn by a crash is cut off when the log is opened again.
/// Events are best effort: a write that fails (a full disk) loses that
/// turn's lines, and is logged.
public final class EventLog {
    private let root: Directory
    private var fd: FileDescriptor
    private var size: Int
    private var buffer: [UInt8] = []
    /// Bytes appended so far, written or not: a mark for `flush(through:)`.
    public private(set) var appended = 0
    /// Bytes written (or lost to a failed write) so far: `appended` less the buffer.
    private var flushed = 0
    public var maxBytes: Int
    /// Secrets masked in every event.
    public var mask = SecretMask()
    /// How often a failed write or rotation is logged while it keeps failing.
    private var failures = RepeatedFailure()

    static let name = FileName("events.jsonl")
    static let rotated = FileName("events.jsonl.1")

    public init(root: Directory, maxBytes: Int) throws(SystemError) {
        self.root = root
        self.maxBytes = maxBytes
        fd = try root.openFile(EventLog.name, O_WRONLY | O_APPEND | O_CREAT)
        size = Int(try fd.status().st_size)
        try repairTornLine()
    }

    deinit { fd.close() }

    /// Truncates a last line that a crash left without its newline.
    private func repairTornLine() throws(SystemError) {
        guard size > 0 else { return }
        let readFD = try root.openFile(EventLog.name, O_RDONLY)
        defer { readFD.close() }
        var last: UInt8 = 0
        guard pread(readFD.rawValue, &last, 1, off_t(size - 1)) == 1, last != UInt8(ascii: "\n") else { return }
        // Walk back to the previous newline in 4 KiB steps.
        var end = size - 1
        var chunk = [UInt8](repeating: 0, count: 4096)
        var cut = 0
        search: while end > 0 {
            let start = max(0, end - chunk.count)
            let n = chunk.withUnsafeMutableBytes { pread(readFD.rawValue, $0.baseAddress, end - start, off_t(start)) }
            guard n > 0 else { break }
            for i in stride(from: n - 1, through: 0, by: -1) where chunk[i] == UInt8(ascii: "\n") {
                cut = start + i + 1
                break search
            }
            end = start
        }
        _ = try retryingInterrupts("ftruncate", "events.jsonl") { ftruncate(fd.rawValue, off_t(cut)) }
        size = cut
    }

    /// Buffers one event: `ts`, `event`, then the fields `body` writes.
    public func append(_ event: String, _ body: (inout JSONWriter) -> Void = { _ in }) {
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        w.field("ts", Timestamp.now().rfc3339)
        w.field("event", event)
        body(&w)
        w.endObject()
        buffer.append(contentsOf: w.bytes)
        buffer.append(UInt8(ascii: "\n"))
        appended += w.bytes.count + 1
    }

    /// Writes buffered events, rotating first when they would cross `maxBytes`.
    /// A failure is logged to `log`: at once, then at a falling rate while it
    /// lasts, and once when writing works again.
    public func flush(reportingTo log: Logger) {
        flush(through: appended, reportingTo: log)
    }

    /// Writes the buffered events appended before `mark` (a value of
    /// `appended`, taken between two events), as `flush` does; the later
    /// ones stay buffered.
    public func flush(through mark: Int, reportingTo log: Logger) {
        let count = min(mark - flushed, buffer.count)
        guard count > 0 else { return }
        var part = count == buffer.count ? buffer : Array(buffer[..<count])
        if !mask.isEmpty { part = mask.apply(part) }
        var failure: SystemError?
        if size > 0 && size + part.count > maxBytes { failure = rotate() }
        do {
            try fd.writeAll(part, subject: "events.jsonl")
            size += part.count
        } catch {
            failure = error
            // A full disk can take part of the buffer: cut it, so the next
            // lines are not appended to a torn one.
            _ = ftruncate(fd.rawValue, off_t(size))
        }
        if count == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
        } else {
            buffer.removeFirst(count)
        }
        flushed += count
        report(failure, lost: failure == nil ? 0 : part.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }, to: log)
    }

    private func report(_ failure: SystemError?, lost lines: Int, to log: Logger) {
        guard let failure else {
            if case .recovered(let failed) = failures.succeeded() {
                log.info("events", "events.jsonl is written again", [("failed_flushes", "\(failed)")])
            }
            return
        }
        let rotating = failure.call != "write"
        let message = rotating ? "cannot rotate events.jsonl; it grows past its limit" : "cannot write events.jsonl; events are lost"
        var fields = [("error", "\(failure)")]
        if !rotating { fields.append(("events", "\(lines)")) }
        if case .log(let unlogged) = failures.failed(now: MonotonicInstant.now()) {
            log.error("events", message, fields + (unlogged > 0 ? [("not_logged_since", "\(unlogged)")] : []))
        } else {
            log.debug("events", message, fields)
        }
    }

    /// Renames the log to `events.jsonl.1` and starts a new one; the error if that failed.
    private func rotate() -> SystemError? {
        do {
            try root.rename(EventLog.name, to: root, as: EventLog.rotated)
            let fresh = try root.openFile(EventLog.name, O_WRONLY | O_APPEND | O_CREAT)
            fd.close()
            fd = fresh
            size = 0
            return nil
        } catch {
            return error
        }
    }
}
