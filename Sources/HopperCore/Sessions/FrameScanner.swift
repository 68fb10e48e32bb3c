import Glibc

/// Finds the end-of-task frame in a session's output stream.
///
/// Shell protocol: after each task the session shell prints `\n<nonce> <status>\n`
/// on stdout and `\n<nonce>\n` on stderr, where the nonce is random per task.
/// Everything before the frame's leading newline is the task's own output, so
/// output that does not end in a newline survives unchanged. Bytes that might
/// be the start of a frame are held back until the next chunk decides.
struct FrameScanner {
    let marker: [UInt8]          // "\n" + nonce
    let expectsStatus: Bool
    private var held: [UInt8] = []
    private(set) var finished = false
    private(set) var status: Int32?

    init(nonce: String, expectsStatus: Bool) {
        marker = [UInt8(ascii: "\n")] + Array(nonce.utf8)
        self.expectsStatus = expectsStatus
    }

    /// Feeds a chunk; returns the bytes that certainly belong to the task.
    mutating func feed(_ chunk: UnsafeRawBufferPointer) -> [UInt8] {
        guard !finished else { return [] }
        held.append(contentsOf: chunk)
        if let start = FrameScanner.find(marker, in: held) {
            // The frame: marker, then " <digits>\n" (stdout) or "\n" (stderr).
            var i = start + marker.count
            var digits: [UInt8] = []
            if expectsStatus {
                guard i < held.count else { return flushSafe(before: start) }
                guard held[i] == UInt8(ascii: " ") else { return skipFalseMatch(at: start) }
                i += 1
                while i < held.count, held[i] >= 0x30, held[i] <= 0x39 { digits.append(held[i]); i += 1 }
            }
            guard i < held.count else { return flushSafe(before: start) }
            guard held[i] == UInt8(ascii: "\n"), !expectsStatus || !digits.isEmpty else { return skipFalseMatch(at: start) }
            status = expectsStatus ? Int32(String(decoding: digits, as: UTF8.self)) : nil
            finished = true
            let output = Array(held[..<start])
            held.removeAll()
            return output
        }
        // Keep a tail that could be the beginning of the marker.
        let keep = min(held.count, marker.count - 1)
        var cut = held.count - keep
        while cut < held.count, !marker.starts(with: held[cut...].prefix(marker.count)) { cut += 1 }
        let output = Array(held[..<cut])
        held.removeFirst(cut)
        return output
    }

    /// The stream ended without a frame (the session died): what was held back is the task's.
    mutating func remainder() -> [UInt8] {
        defer { held.removeAll() }
        return finished ? [] : held
    }

    private mutating func flushSafe(before start: Int) -> [UInt8] {
        let output = Array(held[..<start])
        held.removeFirst(start)
        return output
    }

    /// The nonce appeared without a well-formed frame after it: task output after all.
    private mutating func skipFalseMatch(at start: Int) -> [UInt8] {
        let output = Array(held[...start])
        held.removeFirst(start + 1)
        var rest: [UInt8] = []
        let remainder = held
        held.removeAll()
        remainder.withUnsafeBytes { rest = feed($0) }
        return output + rest
    }

    /// The first index of `needle` in `haystack`. memchr(3) looks for the
    /// marker's leading newline, so a flood of output is scanned at memory
    /// speed (a byte-by-byte loop let one chatty task hold the poller thread
    /// that every task's I/O shares: 1 GB took 26 s in a debug build).
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        return haystack.withUnsafeBytes { hay in
            needle.withUnsafeBytes { pattern in
                let base = hay.baseAddress!
                let last = hay.count - needle.count
                var i = 0
                while i <= last {
                    guard let hit = memchr(base + i, Int32(first), last - i + 1) else { return nil }
                    let at = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + at, pattern.baseAddress!, needle.count) == 0 { return at }
                    i = at + 1
                }
                return nil
            }
        }
    }
}

/// Shell-quoting for text placed in a session script.
enum ShellQuote {
    /// `'text'` with every `'` written as `'\''`: safe for any bytes but NUL.
    static func quote(_ text: String) -> String {
        "'" + text.replacingEvery("'", with: "'\\''") + "'"
    }
}
