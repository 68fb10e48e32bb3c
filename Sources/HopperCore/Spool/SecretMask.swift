/// Values that must never reach a file Hopper writes: every occurrence
/// becomes `***` (SPEC section 7, `secrets`).
///
/// Values shorter than `minimumLength` are not masked: a one-letter "secret"
/// would garble every output; the configuration docs say so.
public struct SecretMask: Sendable, Equatable {
    public static let minimumLength = 4
    static let replacement = Array("***".utf8)

    /// Longest first, so a value that contains another is masked whole.
    public private(set) var values: [[UInt8]] = []

    public init() {}

    public var isEmpty: Bool { values.isEmpty }
    var longest: Int { values.first?.count ?? 0 }

    public mutating func add(_ value: String) {
        let bytes = Array(value.utf8)
        guard bytes.count >= SecretMask.minimumLength, !values.contains(bytes) else { return }
        values.append(bytes)
        values.sort { $0.count > $1.count }
    }

    public func apply(_ bytes: [UInt8]) -> [UInt8] {
        guard !values.isEmpty else { return bytes }
        return scan(bytes, final: true).output
    }

    public func apply(_ text: String) -> String {
        guard !values.isEmpty else { return text }
        return String(decoding: apply(Array(text.utf8)), as: UTF8.self)
    }

    /// Masks a stream's buffered bytes. Unless `final`, bytes that could be
    /// the start of a value split across chunks are kept back: `consumed`
    /// says how many input bytes the output covers.
    func scan(_ bytes: [UInt8], final: Bool) -> (output: [UInt8], consumed: Int) {
        let safeEnd = final ? bytes.count : max(0, bytes.count - (longest - 1))
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        outer: while i < safeEnd {
            for v in values where i + v.count <= bytes.count && bytes[i] == v[0] && bytes[i..<i + v.count].elementsEqual(v) {
                out.append(contentsOf: SecretMask.replacement)
                i += v.count
                continue outer
            }
            out.append(bytes[i])
            i += 1
        }
        return (out, i)
    }
}
