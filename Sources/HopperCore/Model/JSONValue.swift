import Glibc

/// A JSON document as a value: what `JSONParser` produces and `JSONWriter` writes.
///
/// Numbers keep the distinction the source made: a literal without fraction or
/// exponent that fits `Int64` is `.int`, every other number is `.double`, and a
/// `.double` is always finite.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

extension JSONValue {
    /// The JSON Schema name of the value's type, for messages such as
    /// "expected string, found integer".
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    public var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    public var intValue: Int64? { if case .int(let value) = self { value } else { nil } }

    /// The value of either kind of number; an `.int` converts, rounding if it
    /// needs more than 53 bits.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    public var boolValue: Bool? { if case .bool(let value) = self { value } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let value) = self { value } else { nil } }
    public var objectValue: JSONObject? { if case .object(let value) = self { value } else { nil } }

    /// Compact one-line JSON, as `JSONWriter` writes it.
    public func serialized() -> String {
        var writer = JSONWriter()
        writer.value(self)
        return writer.string
    }

    /// Multi-line JSON indented by two spaces, object keys in stored order,
    /// with no trailing newline. Empty containers print as `[]` and `{}`.
    public func prettyPrinted() -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        JSONWriter.appendPretty(self, to: &bytes, indent: 0)
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension JSONValue {
    /// The value a JSON number literal denotes: `.int` when it has no fraction
    /// or exponent and fits `Int64`, otherwise `.double`; nil when that double
    /// would not be finite.
    ///
    /// - Important: `literal` must already match the RFC 8259 number grammar.
    init?(numberLiteral literal: UnsafeBufferPointer<UInt8>, isInteger: Bool) {
        if isInteger, let value = Self.int64(literal) {
            self = .int(value)
            return
        }
        let value = Self.strtod(literal)
        guard value.isFinite else { return nil }
        self = .double(value)
    }

    /// The value of an integer literal, or nil when it does not fit `Int64`.
    private static func int64(_ literal: UnsafeBufferPointer<UInt8>) -> Int64? {
        let isNegative = literal.first == UInt8(ascii: "-")
        var result: Int64 = 0
        for byte in literal.dropFirst(isNegative ? 1 : 0) {
            let digit = Int64(byte - UInt8(ascii: "0"))
            // Accumulating negatives reaches Int64.min, which has no positive twin.
            let (scaled, overflowA) = result.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = isNegative
                ? scaled.subtractingReportingOverflow(digit) : scaled.addingReportingOverflow(digit)
            if overflowA || overflowB { return nil }
            result = next
        }
        return result
    }

    /// Converts a validated number literal with the C library, which rounds
    /// correctly. strtod honours LC_NUMERIC; Hopper never calls setlocale, so
    /// the C locale's "." applies.
    private static func strtod(_ literal: UnsafeBufferPointer<UInt8>) -> Double {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: literal.count + 1) { buffer in
            for (index, byte) in literal.enumerated() { buffer[index] = CChar(bitPattern: byte) }
            buffer[literal.count] = 0
            return Glibc.strtod(buffer.baseAddress!, nil)
        }
    }
}

/// A JSON object that remembers the order its keys were first inserted.
///
/// Lookups scan the members while the object is small and use a hash index
/// once it grows, so parsing an object with many keys stays linear.
/// Equality ignores order, as JSON does: two objects are equal when they hold
/// the same keys with equal values.
public struct JSONObject: Sendable, Equatable, Sequence {
    public typealias Element = (key: String, value: JSONValue)

    /// Above this many members a scan costs more than hashing the key.
    private static let indexThreshold = 16

    public private(set) var members: [Element] = []
    /// Key → position in `members`; nil while the object is small.
    private var index: [String: Int]?

    public init() {}

    /// An object with `members` in order; a repeated key replaces the earlier
    /// value and keeps the earlier position, like assigning through the subscript.
    public init(_ members: [(String, JSONValue)]) {
        self.members.reserveCapacity(members.count)
        for (key, value) in members { self[key] = value }
    }

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }

    /// The value stored under `key`. Setting a new key appends it, setting an
    /// existing key replaces its value in place, and setting nil removes it.
    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { members[$0].value } }
        set {
            switch (position(of: key), newValue) {
            case (let position?, let value?):
                members[position].value = value
            case (let position?, nil):
                members.remove(at: position)
                if index != nil { rebuildIndex() }
            case (nil, let value?):
                appendNew(key, value)
            case (nil, nil):
                break
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[Element]> {
        members.makeIterator()
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.members.allSatisfy { rhs[$0.key] == $0.value }
    }

    /// The position of `key` in `members`, if present.
    func position(of key: String) -> Int? {
        if let index { return index[key] }
        return members.firstIndex { $0.key == key }
    }

    /// Appends a member whose key the caller knows is absent.
    mutating func appendNew(_ key: String, _ value: JSONValue) {
        members.append((key, value))
        if index != nil {
            index![key] = members.count - 1
        } else if members.count > Self.indexThreshold {
            rebuildIndex()
        }
    }

    private mutating func rebuildIndex() {
        var rebuilt: [String: Int] = [:]
        rebuilt.reserveCapacity(members.count)
        for (position, member) in members.enumerated() { rebuilt[member.key] = position }
        index = rebuilt
    }
}

/// Why a document is not acceptable JSON, and where.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The failure class; raw values are the wire codes used in rejections.
    public enum Code: String, Sendable {
        case notUTF8 = "not_utf8"
        case syntax = "invalid_json"
        case tooDeep = "too_deep"
        case duplicateKey = "duplicate_key"
        case numberOutOfRange = "number_out_of_range"
    }

    public var code: Code
    /// A lowercase sentence fragment naming what went wrong and where, e.g.
    /// `unexpected character '}' at line 3, column 5`.
    public var message: String
    /// Byte offset of the problem from the start of the input.
    public var offset: Int

    public var description: String { message }

    init(_ code: Code, message: String, offset: Int) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    /// An error about the byte at `offset` in `text` whose message ends with its
    /// 1-based line and column. Columns count characters, not bytes, and line 1
    /// starts at `textStart`, after any byte-order mark.
    ///
    /// - Important: `text` must be valid UTF-8 up to `offset`.
    init(_ code: Code, _ what: String, at offset: Int, in text: UnsafeBufferPointer<UInt8>, textStart: Int) {
        var line = 1
        var lineStart = textStart
        for index in textStart..<offset where text[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        let column = 1 + text[lineStart..<offset].count { $0 & 0xC0 != 0x80 }
        self.init(code, message: "\(what) at line \(line), column \(column)", offset: offset)
    }

    /// Names the input at `offset` for a message: `character '}'`,
    /// `character U+00E9` or `end of input`.
    static func describe(_ offset: Int, in text: UnsafeBufferPointer<UInt8>) -> String {
        guard offset < text.count else { return "end of input" }
        let byte = text[offset]
        if (0x20..<0x7F).contains(byte) { return "character '\(Character(Unicode.Scalar(byte)))'" }
        let length = byte < 0x80 ? 1 : byte < 0xE0 ? 2 : byte < 0xF0 ? 3 : 4
        let slice = UnsafeBufferPointer(rebasing: text[offset..<min(offset + length, text.count)])
        return "character " + codePoint(String(decoding: slice, as: UTF8.self).unicodeScalars.first!.value)
    }

    /// `U+000A` for 10: how messages name characters that do not print.
    static func codePoint(_ value: UInt32) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// A key as JSON spells it, shortened so a huge key cannot bloat the message.
    static func quoted(_ key: String) -> String {
        var bytes: [UInt8] = []
        JSONWriter.appendQuoted(key.count > 64 ? key.prefix(64) + "..." : key, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
