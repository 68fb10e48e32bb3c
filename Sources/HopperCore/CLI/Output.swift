import Glibc

/// What the CLI prints: buffered stdout, one-line errors on stderr, and
/// aligned tables.
struct Output {
    private var buffer: [UInt8] = []

    mutating func line(_ s: String = "") {
        buffer.append(contentsOf: s.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count > 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        try? FileDescriptor.standardOutput.writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// One JSON object on one line, from its fields in order.
    mutating func jsonLine(_ fields: [(String, JSONValue)]) {
        line(JSONValue.object(JSONObject(fields)).serialized())
    }

    /// `hopper: <message>` on stderr.
    static func error(_ message: String) {
        let line = "hopper: \(Logger.oneLine(message))\n"
        try? FileDescriptor.standardError.writeAll(Array(line.utf8))
    }

    static var stdoutIsTerminal: Bool { isatty(1) == 1 }

    /// Rows in columns as wide as their widest cell; the last column is not padded.
    mutating func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        for row in [header] + rows {
            var text = ""
            for (i, cell) in row.enumerated() {
                text += i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
            }
            line(text)
        }
    }

    /// A record or task file as `key  value` lines.
    mutating func keyValues(_ object: JSONObject) {
        let width = object.keys.map(\.count).max() ?? 0
        for (key, value) in object {
            let text: String = switch value {
            case .string(let s): s
            case .null: "-"
            default: value.serialized()
            }
            line(key + String(repeating: " ", count: width - key.count + 2) + Logger.oneLine(text))
        }
    }
}

/// Shortens `s` to `width` characters with an ellipsis, on one line.
func abbreviate(_ s: String, _ width: Int) -> String {
    let flat = Logger.oneLine(s)
    return flat.count <= width ? flat : String(flat.prefix(width - 1)) + "…"
}
