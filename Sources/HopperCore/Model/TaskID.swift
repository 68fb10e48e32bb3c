/// A task's id: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, so it is always a safe
/// single path component.
public struct TaskID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: String

    /// Validates `rawValue`; nil when it does not match the id pattern.
    public init?(_ rawValue: String) {
        guard TaskID.isValid(rawValue.utf8) else { return nil }
        self.rawValue = rawValue
    }

    private init(unchecked: String) { rawValue = unchecked }

    public var description: String { rawValue }

    public static func < (a: TaskID, b: TaskID) -> Bool { a.rawValue < b.rawValue }

    public static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        guard let first = bytes.first, bytes.count <= 128, isAlphanumeric(first) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// A new id that starts with `stem` (sanitized to the id alphabet) and ends
    /// with a suffix unique to this process and instant.
    public static func generate(stem: String, suffix: String) -> TaskID {
        var bytes: [UInt8] = stem.utf8.prefix(100).map { b in
            isAlphanumeric(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") ? b : UInt8(ascii: "_")
        }
        if bytes.isEmpty || !isAlphanumeric(bytes[0]) { bytes.insert(UInt8(ascii: "t"), at: 0) }
        let text = String(decoding: bytes, as: UTF8.self) + "-" + suffix
        return TaskID(unchecked: String(text.utf8.prefix(128))!)
    }
}

/// Makes the unique suffixes of generated ids: base-32 of a strictly
/// increasing microsecond clock, so ids sort by creation time.
public struct IDSuffixGenerator: Sendable {
    private var last: UInt64 = 0
    private let salt: String

    /// `salt` is appended to every suffix (e.g. a few random characters for
    /// clients that run as separate processes).
    public init(salt: String = "") { self.salt = salt }

    public mutating func next(now: Timestamp = .now()) -> String {
        let micros = UInt64(max(0, now.nanoseconds / 1000))
        last = max(micros, last + 1)
        return IDSuffixGenerator.base32(last, width: 11) + salt
    }

    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    static func base32(_ value: UInt64, width: Int) -> String {
        var v = value
        var out = [UInt8](repeating: 0, count: width)
        for i in stride(from: width - 1, through: 0, by: -1) {
            out[i] = alphabet[Int(v & 31)]
            v >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `count` random base-32 characters: twelve per 64-bit draw, so a
    /// session frame's nonce costs two getrandom calls, not twenty.
    public static func random(_ count: Int) -> String {
        var g = SystemRandomNumberGenerator()
        var out = [UInt8]()
        out.reserveCapacity(count)
        var bits: UInt64 = 0
        for i in 0..<count {
            if i % 12 == 0 { bits = g.next() }
            out.append(alphabet[Int(bits & 31)])
            bits >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }
}
