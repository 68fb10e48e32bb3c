/// Reading agent CLIs' JSON lines: tolerant where the CLIs vary (a line
/// that is not JSON is noise, not an error; unknown event types are skipped,
/// as the Claude Agent SDK's parser does) and strict about nothing else.
enum AgentJSON {
    /// The object on a line, or nil when the line is not a JSON object.
    static func object(_ line: String) -> JSONObject? {
        guard line.utf8.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) == UInt8(ascii: "{") else { return nil }
        return (try? JSONParser.parse(line))?.objectValue
    }

    /// The value at a dotted path (`rate_limit_info.resetsAt`).
    static func value(_ object: JSONObject, _ path: String) -> JSONValue? {
        var current: JSONValue = .object(object)
        for key in path.split(separator: ".") {
            guard let next = current.objectValue?[String(key)] else { return nil }
            current = next
        }
        return current
    }

    static func string(_ object: JSONObject, _ path: String) -> String? { value(object, path)?.stringValue }

    /// The text of a message's `content`: a plain string, or the `text` of
    /// each `{"type":"text"}` block of an array, joined.
    static func text(ofContent content: JSONValue?) -> String? {
        switch content {
        case .string(let s)?:
            return s
        case .array(let blocks)?:
            let texts = blocks.compactMap { block -> String? in
                guard let o = block.objectValue, o["type"]?.stringValue == "text" else { return nil }
                return o["text"]?.stringValue
            }
            return texts.isEmpty ? nil : texts.joined()
        default:
            return nil
        }
    }
}
