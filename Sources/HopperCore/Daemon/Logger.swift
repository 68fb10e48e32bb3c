import Glibc

/// Log records on stderr, one line each, in one of two formats:
///
/// - text: `TIMESTAMP LEVEL subsystem: message key=value ...`, every value
///   escaped onto that line;
/// - json: `{"ts":...,"level":...,"subsystem":...,"message":...,key:value,...}`,
///   one object a line, every field value a string. A field named like one
///   of the four leading keys is written as `fields.NAME` (as logrus does), so
///   no object has a key twice.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    public enum Format: String, Sendable {
        case text, json
    }

    public var minimum: Level
    public var format: Format
    /// Secrets masked in every line.
    public var mask = SecretMask()

    static let reservedKeys: Set<String> = ["ts", "level", "subsystem", "message"]

    public init(minimum: Level = .info, format: Format = .text) {
        self.minimum = minimum
        self.format = format
    }

    public func log(_ level: Level, _ subsystem: String, _ message: String, _ fields: [(String, String)] = []) {
        guard level >= minimum else { return }
        var bytes = format == .json ? jsonLine(level, subsystem, message, fields) : textLine(level, subsystem, message, fields)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    public func info(_ s: String, _ m: String, _ f: [(String, String)] = []) { log(.info, s, m, f) }
    public func warning(_ s: String, _ m: String, _ f: [(String, String)] = []) { log(.warning, s, m, f) }
    public func error(_ s: String, _ m: String, _ f: [(String, String)] = []) { log(.error, s, m, f) }
    public func debug(_ s: String, _ m: String, _ f: [(String, String)] = []) { log(.debug, s, m, f) }

    func textLine(_ level: Level, _ subsystem: String, _ message: String, _ fields: [(String, String)]) -> [UInt8] {
        var line = "\(Timestamp.now().rfc3339) \(level.name) \(subsystem): \(Logger.oneLine(message))"
        for (k, v) in fields { line += " \(k)=\(Logger.quote(v))" }
        line += "\n"
        return mask.apply(Array(line.utf8))
    }

    func jsonLine(_ level: Level, _ subsystem: String, _ message: String, _ fields: [(String, String)]) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("ts", Timestamp.now().rfc3339)
        w.field("level", level.name)
        w.field("subsystem", subsystem)
        // Masked before escaping, so a secret containing `"` or `\` is still found.
        w.field("message", mask.apply(message))
        for (k, v) in fields { w.field(Logger.reservedKeys.contains(k) ? "fields." + k : k, mask.apply(v)) }
        w.endObject()
        return w.line
    }

    static func oneLine(_ s: String) -> String {
        s.contains(where: { $0.isNewline || $0 == "\u{1B}" }) ? FileName(s).escaped : s
    }

    static func quote(_ v: String) -> String {
        let flat = oneLine(v)
        return flat.isEmpty || flat.contains(" ") || flat.contains("\"") ? JSONValue.string(flat).serialized() : flat
    }
}
