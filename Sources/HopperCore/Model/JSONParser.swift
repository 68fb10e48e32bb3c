/// A strict RFC 8259 parser over raw bytes.
///
/// Accepts one value of any type, optionally surrounded by JSON whitespace and
/// preceded by a UTF-8 byte-order mark. The whole input must be well-formed
/// UTF-8. Rejects everything RFC 8259 does not allow (comments, trailing
/// commas, NaN, leading zeros, lone surrogate escapes, ...) and, beyond the
/// RFC, duplicate keys and numbers too large for a finite `Double`.
public enum JSONParser {
    /// Parses `bytes` as one JSON document.
    ///
    /// - Parameter maxDepth: how many arrays and objects may nest; the outermost
    ///   one is depth 1.
    /// - Important: the parser recurses once per nesting level, so `maxDepth`
    ///   also bounds its stack use; keep it in the tens or hundreds.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        var reader = Cursor(bytes.assumingMemoryBound(to: UInt8.self), maxDepth: maxDepth)
        return try reader.document()
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        // Result carries the typed error across withUnsafeBytes, which only rethrows.
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONError) in try parse(buffer, maxDepth: maxDepth) }
        }.get()
    }

    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        var text = text
        return try text.withUTF8 { utf8 in
            Result { () throws(JSONError) in try parse(UnsafeRawBufferPointer(utf8), maxDepth: maxDepth) }
        }.get()
    }
}

extension JSONParser {
    /// A cursor over one document: recursive descent, one method per grammar rule.
    /// Nested so its name cannot collide with anything else in the module.
    fileprivate struct Cursor {
        private let bytes: UnsafeBufferPointer<UInt8>
        private let maxDepth: Int
        /// Where line 1 starts: after the byte-order mark, which no editor shows.
        private let textStart: Int
        private var position: Int

        init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
            textStart = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
            position = textStart
        }

        private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func document() throws(JSONError) -> JSONValue {
            // Validating up front lets every later step copy non-ASCII bytes blindly.
            if let bad = Self.firstInvalidUTF8(bytes) {
                throw JSONError(.notUTF8, message: "invalid UTF-8 at byte \(bad)", offset: bad)
            }
            let result = try value(depth: 0)
            skipWhitespace()
            guard position == bytes.count else { throw unexpected(context: " after the top-level value") }
            return result
        }

        private mutating func value(depth: Int) throws(JSONError) -> JSONValue {
            skipWhitespace()
            guard let byte = current else { throw unexpected() }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw unexpected()
            }
        }

        private mutating func array(depth: Int) throws(JSONError) -> JSONValue {
            // Checked before descending, so hostile nesting fails instead of exhausting the stack.
            guard depth <= maxDepth else { throw failure(.tooDeep, "nesting deeper than \(maxDepth) levels") }
            position += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { position += 1; return .array(elements) }
            while true {
                elements.append(try value(depth: depth))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return .array(elements)
                default: throw unexpected()
                }
            }
        }

        private mutating func object(depth: Int) throws(JSONError) -> JSONValue {
            guard depth <= maxDepth else { throw failure(.tooDeep, "nesting deeper than \(maxDepth) levels") }
            position += 1
            var object = JSONObject()
            skipWhitespace()
            if current == UInt8(ascii: "}") { position += 1; return .object(object) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw unexpected() }
                let keyOffset = position
                let key = try string()
                guard object.position(of: key) == nil else {
                    throw failure(.duplicateKey, "duplicate key \(JSONError.quoted(key))", at: keyOffset)
                }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw unexpected() }
                position += 1
                object.appendNew(key, try value(depth: depth))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"): position += 1; return .object(object)
                default: throw unexpected()
                }
            }
        }

        /// Reads a string from its opening quote. Unescaped runs are copied as
        /// whole slices; a buffer is allocated only once an escape appears.
        private mutating func string() throws(JSONError) -> String {
            let open = position
            position += 1
            var runStart = position
            var unescaped: [UInt8]?
            while let byte = current {
                if byte == UInt8(ascii: "\"") {
                    let run = UnsafeBufferPointer(rebasing: bytes[runStart..<position])
                    position += 1
                    guard var unescaped else { return String(decoding: run, as: UTF8.self) }
                    unescaped.append(contentsOf: run)
                    return String(decoding: unescaped, as: UTF8.self)
                } else if byte == UInt8(ascii: "\\") {
                    if unescaped == nil { unescaped = []; unescaped!.reserveCapacity(position - open + 32) }
                    unescaped!.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<position]))
                    try escape(into: &unescaped!)
                    runStart = position
                } else if byte < 0x20 {
                    throw failure(.syntax, "unescaped control character \(JSONError.codePoint(UInt32(byte))) in string")
                } else {
                    position += 1
                }
            }
            throw failure(.syntax, "unterminated string", at: open)
        }

        /// Decodes one escape sequence, starting at its backslash, into `utf8`.
        private mutating func escape(into utf8: inout [UInt8]) throws(JSONError) {
            let start = position
            position += 1
            guard let letter = current else { throw unexpected() }
            position += 1
            if let index = Self.escapeLetters.firstIndex(of: letter) {
                utf8.append(Self.escapedBytes[index])
                return
            }
            guard letter == UInt8(ascii: "u") else { throw failure(.syntax, "invalid escape sequence", at: start) }
            var scalar = try hexQuad(escapeAt: start)
            // A high surrogate means something only when an escaped low one follows.
            if (0xD800...0xDBFF).contains(scalar), bytes[position...].starts(with: "\\u".utf8) {
                position += 2
                let low = try hexQuad(escapeAt: start)
                if (0xDC00...0xDFFF).contains(low) { scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00) }
            }
            // Only an unpaired surrogate is not a scalar; four hex digits cannot exceed U+10FFFF.
            guard let decoded = Unicode.Scalar(scalar) else {
                throw failure(.syntax, "unpaired surrogate escape", at: start)
            }
            UTF8.encode(decoded) { utf8.append($0) }
        }

        private static let escapeLetters = Array(#""\/bfnrt"#.utf8)
        private static let escapedBytes: [UInt8] = [0x22, 0x5C, 0x2F, 0x08, 0x0C, 0x0A, 0x0D, 0x09]

        private mutating func hexQuad(escapeAt start: Int) throws(JSONError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                switch current {
                case let byte? where Self.isDigit(byte): value = value << 4 | UInt32(byte - UInt8(ascii: "0"))
                case let byte? where (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20):
                    value = value << 4 | UInt32((byte | 0x20) - UInt8(ascii: "a") + 10)
                default: throw failure(.syntax, "invalid \\u escape", at: start)
                }
                position += 1
            }
            return value
        }

        private mutating func number() throws(JSONError) -> JSONValue {
            let start = position
            if current == UInt8(ascii: "-") { position += 1 }
            if current == UInt8(ascii: "0") {
                position += 1
                if let next = current, Self.isDigit(next) {
                    throw failure(.syntax, "leading zero in number", at: start)
                }
            } else {
                try digits()
            }
            let integerEnd = position
            if current == UInt8(ascii: ".") {
                position += 1
                try digits()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                try digits()
            }
            let literal = UnsafeBufferPointer(rebasing: bytes[start..<position])
            guard let value = JSONValue(numberLiteral: literal, isInteger: position == integerEnd) else {
                throw failure(.numberOutOfRange, "number out of range", at: start)
            }
            return value
        }

        /// Skips one or more decimal digits.
        private mutating func digits() throws(JSONError) {
            guard let first = current, Self.isDigit(first) else { throw unexpected(context: " in number") }
            repeat { position += 1 } while current.map(Self.isDigit) == true
        }

        private mutating func literal(_ word: String, _ result: JSONValue) throws(JSONError) -> JSONValue {
            guard bytes[position...].starts(with: word.utf8) else {
                throw failure(.syntax, "invalid literal, expected '\(word)'")
            }
            position += word.utf8.count
            return result
        }

        private mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                position += 1
            }
        }

        private func unexpected(context: String = "") -> JSONError {
            failure(.syntax, "unexpected \(JSONError.describe(position, in: bytes))\(context)")
        }

        private func failure(_ code: JSONError.Code, _ what: String, at offset: Int? = nil) -> JSONError {
            JSONError(code, what, at: offset ?? position, in: bytes, textStart: textStart)
        }

        private static func isDigit(_ byte: UInt8) -> Bool {
            byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        }

        /// The offset of the first byte of the first ill-formed UTF-8 sequence, or
        /// nil; follows Unicode table 3-7, so overlong forms, encoded surrogates and
        /// scalars above U+10FFFF are all ill-formed.
        private static func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
            var index = 0
            while index < bytes.count {
                let lead = bytes[index]
                if lead < 0x80 { index += 1; continue }
                // Length of the sequence and the allowed range of its second byte.
                let (length, second): (Int, ClosedRange<UInt8>) = switch lead {
                case 0xC2...0xDF: (2, 0x80...0xBF)
                case 0xE0: (3, 0xA0...0xBF)
                case 0xED: (3, 0x80...0x9F)
                case 0xE1...0xEF: (3, 0x80...0xBF)
                case 0xF0: (4, 0x90...0xBF)
                case 0xF1...0xF3: (4, 0x80...0xBF)
                case 0xF4: (4, 0x80...0x8F)
                default: (0, 0...0)
                }
                guard length > 0, index + length <= bytes.count, second.contains(bytes[index + 1]),
                      bytes[index + 2..<index + length].allSatisfy({ $0 & 0xC0 == 0x80 }) else { return index }
                index += length
            }
            return nil
        }
    }
}
