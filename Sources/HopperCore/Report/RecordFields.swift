/// Picks the fields `hopper report` needs out of a record's bytes without
/// building the whole object: the top-level members are walked, the wanted
/// ones (`provider`, `state`, `reason`, `message`, `finished_at`,
/// `duration_ms`, `cost_usd`) decoded, every other value skipped by its
/// brackets. A record parsed this way costs a fraction of a full parse,
/// which is most of what makes 100,000 records a second's work.
///
/// Anything unusual (a wanted string with an escape, a malformed file) makes
/// it give up; the caller then parses the record in full with `JSONParser`,
/// so the result is always the same as `ReportEntry(record:)`.
enum RecordFields {
    static func entry(_ bytes: UnsafeRawBufferPointer) -> ReportEntry? {
        let b = bytes.bindMemory(to: UInt8.self)
        var i = 0
        let n = b.count
        func space() { while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        /// A plain string (no escapes) at i; nil otherwise. Leaves i after the closing quote.
        func plainString() -> Range<Int>? {
            guard i < n, b[i] == UInt8(ascii: "\"") else { return nil }
            let start = i + 1
            var j = start
            while j < n, b[j] != UInt8(ascii: "\"") {
                if b[j] == UInt8(ascii: "\\") { return nil }
                j += 1
            }
            guard j < n else { return nil }
            i = j + 1
            return start..<j
        }
        /// Skips any value at i; false when it is malformed.
        func skip() -> Bool {
            guard i < n else { return false }
            var depth = 0
            repeat {
                guard i < n else { return false }
                switch b[i] {
                case UInt8(ascii: "\""):
                    i += 1
                    while i < n, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                    i += 1
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    i += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    i += 1
                default:
                    if depth > 0 {
                        i += 1 // a separator, or part of a number or literal inside a container
                    } else {
                        // A top-level number or literal ends at the member's delimiter.
                        while i < n, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}") { i += 1 }
                    }
                }
            } while depth > 0
            return depth == 0
        }
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self) }
        func scalarText() -> String? {
            let start = i
            guard skip() else { return nil }
            var end = i
            while end > start, b[end - 1] == 0x20 || b[end - 1] == 0x0A || b[end - 1] == 0x09 || b[end - 1] == 0x0D { end -= 1 }
            return text(start..<end)
        }

        var provider = "?", state: TaskState?, reason = "?", message = "", finished: Timestamp?
        var duration: Int64?, cost: Double?
        space()
        guard i < n, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while true {
            space()
            guard let key = plainString() else { return nil }
            space()
            guard i < n, b[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            space()
            let isString = i < n && b[i] == UInt8(ascii: "\"")
            switch text(key) {
            case "provider" where isString: guard let r = plainString() else { return nil }; provider = text(r)
            case "state" where isString:
                guard let r = plainString(), let s = TaskState(name: text(r)), s.isTerminal else { return nil }
                state = s
            case "reason" where isString: guard let r = plainString() else { return nil }; reason = text(r)
            case "message" where isString: guard let r = plainString() else { return nil }; message = text(r)
            case "finished_at" where isString:
                guard let r = plainString(), let t = Timestamp(rfc3339: text(r)) else { return nil }
                finished = t
            case "duration_ms" where !isString:
                guard let t = scalarText() else { return nil }
                if t != "null" { guard let d = Double(t), d.isFinite else { return nil }; duration = Int64(max(0, d)) }
            case "cost_usd" where !isString:
                guard let t = scalarText() else { return nil }
                if t != "null" { guard let d = Double(t), d.isFinite else { return nil }; cost = d }
            case "provider", "state", "reason", "message", "finished_at", "duration_ms", "cost_usd":
                return nil // an unexpected type: let the full parser decide
            default:
                guard skip() else { return nil }
            }
            space()
            guard i < n else { return nil }
            if b[i] == UInt8(ascii: "}") { break }
            guard b[i] == UInt8(ascii: ",") else { return nil }
            i += 1
        }
        guard let state, let finished else { return nil }
        return ReportEntry(provider: provider, state: state, reason: reason, message: message, finishedAt: finished,
                           durationMs: duration, costUSD: cost)
    }
}
