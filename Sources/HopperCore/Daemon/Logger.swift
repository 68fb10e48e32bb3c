import Glibc

/// Log lines on stderr: `LEVEL subsystem: message key=value ...`, one line per
/// record with every value escaped onto that line.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    public var minimum: Level
    /// Secrets masked in every line.
    public var mask = SecretMask()

    public init(minimum: Level = .info) { self.minimum = minimum }

    public func log(_ level: Level, _ subsystem: String, _ message: String, _ fields: [(String, String)] = []) {
        guard level >= minimum else { return }
        var line = "\(Timestamp.now().rfc3339) \(level.name) \(subsystem): \(Logger.oneLine(message))"
        for (k, v) in fields { line += " \(k)=\(Logger.quote(v))" }
        line += "\n"
        var bytes = mask.apply(Array(line.utf8))
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    public func info(_ s: String, _ m: String, _ f: [(String, String)] = []) { log(.info, s, m, f) }
    public func warning(_ s: String, _ m: String, _ f: [(String, String)] = []) { log(.warning, s, m, f) }
    public func error(_ s: String, _ m: String, _ f: [(String, String)] = []) { log(.error, s, m, f) }
    public func debug(_ s: String, _ m: String, _ f: [(String, String)] = []) { log(.debug, s, m, f) }

    static func oneLine(_ s: String) -> String {
        s.contains(where: { $0.isNewline || $0 == "\u{1B}" }) ? FileName(s).escaped : s
    }

    static func quote(_ v: String) -> String {
        let flat = oneLine(v)
        return flat.isEmpty || flat.contains(" ") || flat.contains("\"") ? JSONValue.string(flat).serialized() : flat
    }
}
