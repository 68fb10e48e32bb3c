/// Reads every record in done/ for `hopper report`, fast: one directory
/// listing, then per record an `openat`, `read`s into one reused buffer, a
/// parse straight from that buffer, and a `close`. No allocation per file
/// besides the parsed object. Records are never rewritten once in done/, so
/// reading them needs no lock against a running daemon; a record that
/// disappears meanwhile (retention) is skipped, and so is a file that does
/// not parse as a record.
struct RecordScan {
    private var buffer: UnsafeMutableRawBufferPointer

    init() { buffer = .allocate(byteCount: 1 << 16, alignment: 16) }

    func release() { buffer.deallocate() }

    /// Calls `body` with each record's entry; returns how many `*.json`
    /// files could not be read or were not records.
    mutating func scan(_ done: Directory, _ body: (ReportEntry) -> Void) -> Int {
        var skipped = 0
        for name in (try? done.entries()) ?? [] where name.hasSuffix(".json") && !name.hasPrefix(".") {
            guard let count = read(name, in: done) else {
                skipped += 1
                continue
            }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            // The quick path; the full parser for whatever it gives up on.
            if let entry = RecordFields.entry(bytes) ?? (try? JSONParser.parse(bytes))?.objectValue.flatMap(ReportEntry.init(record:)) {
                body(entry)
            } else {
                skipped += 1
            }
        }
        return skipped
    }

    /// The whole file into `buffer` (grown as needed, up to 64 MiB); its length.
    private mutating func read(_ name: FileName, in directory: Directory) -> Int? {
        guard let fd = try? directory.openFile(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY) else { return nil }
        defer { fd.close() }
        var count = 0
        while true {
            if count == buffer.count {
                guard buffer.count < 64 << 20 else { return nil }
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 4, alignment: 16)
                bigger.copyMemory(from: UnsafeRawBufferPointer(buffer))
                buffer.deallocate()
                buffer = bigger
            }
            guard let n = try? fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...])) else { return nil }
            if n == 0 { return count }
            count += n
        }
    }
}

import Glibc
