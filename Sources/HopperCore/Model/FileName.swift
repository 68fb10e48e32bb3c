/// A directory entry's name as the kernel gives it: raw bytes, which need not
/// be UTF-8 and may hold newlines or escape characters.
public struct FileName: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { bytes = Array(string.utf8) }

    /// The name as a String when it is valid UTF-8.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// A printable, one-line rendering: invalid UTF-8 bytes as `\xNN`, control
    /// characters as `\n`, `\t` or `\xNN`. Safe for logs and JSON.
    public var escaped: String {
        if let s = string, !s.unicodeScalars.contains(where: FileName.needsEscape) { return s }
        var out = ""
        var i = 0
        while i < bytes.count {
            let len = FileName.utf8SequenceLength(bytes, at: i)
            if len == 0 {
                out += "\\x" + FileName.hex(bytes[i])
                i += 1
                continue
            }
            let scalar = String(decoding: bytes[i..<i + len], as: UTF8.self).unicodeScalars.first!
            if scalar == "\n" { out += "\\n" } else if scalar == "\t" { out += "\\t" } else if scalar == "\\" { out += "\\\\" } else if FileName.needsEscape(scalar) {
                // Every byte of the character, so \xNN always means one byte.
                for b in bytes[i..<i + len] { out += "\\x" + FileName.hex(b) }
            } else { out.unicodeScalars.append(scalar) }
            i += len
        }
        return out
    }

    public var description: String { escaped }

    public func hasPrefix(_ prefix: String) -> Bool { bytes.starts(with: prefix.utf8) }

    public func hasSuffix(_ suffix: String) -> Bool {
        let s = Array(suffix.utf8)
        return bytes.count >= s.count && Array(bytes[(bytes.count - s.count)...]) == s
    }

    /// The name without `suffix` (which must be present).
    public func dropping(suffix: String) -> [UInt8] { Array(bytes.dropLast(suffix.utf8.count)) }

    static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || s.value == 0x7F || (s.value >= 0x80 && s.value < 0xA0) || s == "\\" || s == "\u{2028}" || s == "\u{2029}"
    }

    static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(b >> 4)], digits[Int(b & 15)]], as: UTF8.self)
    }

    /// Length of the valid UTF-8 sequence starting at `i`, or 0 when invalid.
    static func utf8SequenceLength(_ b: [UInt8], at i: Int) -> Int {
        let c = b[i]
        let (len, min): (Int, UInt32) = c < 0x80 ? (1, 0) : c >= 0xC2 && c < 0xE0 ? (2, 0x80) : c >= 0xE0 && c < 0xF0 ? (3, 0x800) : c >= 0xF0 && c < 0xF5 ? (4, 0x10000) : (0, 0)
        guard len > 0, i + len <= b.count else { return 0 }
        var v = UInt32(c) & (len == 1 ? 0x7F : len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07)
        for k in 1..<len {
            guard b[i + k] & 0xC0 == 0x80 else { return 0 }
            v = v << 6 | UInt32(b[i + k] & 0x3F)
        }
        guard v >= min, v <= 0x10FFFF, !(0xD800...0xDFFF).contains(v) else { return 0 }
        return len
    }
}
