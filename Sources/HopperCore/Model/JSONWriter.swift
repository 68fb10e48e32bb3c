/// Appends compact JSON to a byte buffer; commas are inserted automatically.
///
/// Output is always one line with no insignificant spaces, so a record can be
/// framed by a newline. Strings are escaped so that any Swift `String` yields
/// valid JSON: `"` and `\` and all control characters (0x00–0x1F, 0x7F) are
/// escaped, as are U+2028 and U+2029, which JavaScript treats as line breaks.
///
/// - Important: the writer does not check structure; balancing `begin`/`end`
///   calls and putting a `key` before each object member is the caller's job.
public struct JSONWriter {
    public private(set) var bytes: [UInt8]
    /// Whether the next key or value needs a separating comma.
    private var needsComma = false

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// The output so far, as text.
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// Writes an object member's name; the next value written is its value.
    public mutating func key(_ key: String) {
        separate()
        Self.appendQuoted(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String) {
        separate()
        Self.appendQuoted(value, to: &bytes)
        needsComma = true
    }

    public mutating func int(_ value: Int64) { scalar(String(value)) }
    public mutating func int(_ value: Int) { scalar(String(value)) }

    /// Writes a finite double in a form that parses back to the same value;
    /// a non-finite one, which JSON cannot express, is written as `null`.
    public mutating func double(_ value: Double) {
        // Swift's shortest round-trip form ("5.0", "1e-05", "1e+16") is valid JSON.
        scalar(value.isFinite ? value.description : "null")
    }

    public mutating func bool(_ value: Bool) { scalar(value ? "true" : "false") }
    public mutating func null() { scalar("null") }

    /// Writes a whole value tree.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .int(let number): int(number)
        case .double(let number): double(number)
        case .string(let text): string(text)
        case .array(let elements):
            beginArray()
            for element in elements { self.value(element) }
            endArray()
        case .object(let object):
            beginObject()
            for member in object {
                key(member.key)
                self.value(member.value)
            }
            endObject()
        }
    }

    // Convenience: a key and its value, nil written as null.
    public mutating func field(_ key: String, _ value: String?) { field(key, value.map(JSONValue.string)) }
    public mutating func field(_ key: String, _ value: Int?) { field(key, value.map { .int(Int64($0)) }) }
    public mutating func field(_ key: String, _ value: Int64?) { field(key, value.map(JSONValue.int)) }
    public mutating func field(_ key: String, _ value: Double?) { field(key, value.map(JSONValue.double)) }
    public mutating func field(_ key: String, _ value: Bool?) { field(key, value.map(JSONValue.bool)) }

    public mutating func field(_ key: String, _ value: JSONValue?) {
        self.key(key)
        self.value(value ?? .null)
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        needsComma = false
    }

    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        needsComma = true
    }

    private mutating func scalar(_ text: String) {
        separate()
        bytes.append(contentsOf: text.utf8)
        needsComma = true
    }

    /// Appends `text` as a quoted, escaped JSON string.
    static func appendQuoted(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        // withUTF8 makes bridged or lazily decoded storage contiguous first.
        var text = text
        text.withUTF8 { appendEscaped($0, to: &bytes) }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        // Copy runs of safe bytes in one go; most strings contain no escapes at all.
        var runStart = utf8.startIndex
        var position = utf8.startIndex
        while position < utf8.endIndex {
            let byte = utf8[position]
            var escape: String?
            switch byte {
            case UInt8(ascii: "\""): escape = "\\\""
            case UInt8(ascii: "\\"): escape = "\\\\"
            case 0x0A: escape = "\\n"
            case 0x0D: escape = "\\r"
            case 0x09: escape = "\\t"
            case 0x08: escape = "\\b"
            case 0x0C: escape = "\\f"
            case 0x00..<0x20, 0x7F: escape = "\\u00" + hexByte(byte)
            case 0xE2 where position + 2 < utf8.endIndex && utf8[position + 1] == 0x80
                && (utf8[position + 2] == 0xA8 || utf8[position + 2] == 0xA9):
                escape = utf8[position + 2] == 0xA8 ? "\\u2028" : "\\u2029"
            default: break
            }
            guard let escape else {
                position += 1
                continue
            }
            bytes.append(contentsOf: utf8[runStart..<position])
            bytes.append(contentsOf: escape.utf8)
            position += byte == 0xE2 ? 3 : 1
            runStart = position
        }
        bytes.append(contentsOf: utf8[runStart..<position])
    }

    /// Appends `value` laid out over several lines, nested levels indented
    /// by two spaces; the layout behind `JSONValue.prettyPrinted()`.
    static func appendPretty(_ value: JSONValue, to bytes: inout [UInt8], indent: Int) {
        switch value {
        case .array(let elements) where !elements.isEmpty:
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                appendNewline(to: &bytes, indent: indent + 1)
                appendPretty(element, to: &bytes, indent: indent + 1)
            }
            appendNewline(to: &bytes, indent: indent)
            bytes.append(UInt8(ascii: "]"))
        case .object(let object) where object.count > 0:
            bytes.append(UInt8(ascii: "{"))
            for (index, member) in object.members.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                appendNewline(to: &bytes, indent: indent + 1)
                appendQuoted(member.key, to: &bytes)
                bytes.append(contentsOf: ": ".utf8)
                appendPretty(member.value, to: &bytes, indent: indent + 1)
            }
            appendNewline(to: &bytes, indent: indent)
            bytes.append(UInt8(ascii: "}"))
        default:
            // Scalars and empty containers look the same in both layouts.
            var writer = JSONWriter(capacity: 0)
            writer.value(value)
            bytes.append(contentsOf: writer.bytes)
        }
    }

    private static func appendNewline(to bytes: inout [UInt8], indent: Int) {
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * 2))
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
    }
}
