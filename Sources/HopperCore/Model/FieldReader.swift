/// Strict, field-naming reads from a JSON object: every getter names the
/// field's full path in its error, and `finish()` rejects keys nobody read.
///
/// Shared by task requests and the configuration so both speak the same way:
/// `field "timeout": expected a number > 0, got "5"`.
public struct FieldReader {
    public let object: JSONObject
    public let path: String
    /// Keys asked for, in order (an object has a few dozen at most: a scan
    /// in `finish` is cheaper than hashing every key as it is read).
    private var seen: [String] = []

    public init(_ value: JSONValue, path: String = "") throws(HopperError) {
        guard case .object(let object) = value else {
            // The document itself is not an object: not a request (or configuration) at all.
            if path.isEmpty { throw HopperError(.invalidJSON, "expected a JSON object, got \(value.typeName == "array" ? "an array" : value.typeName)") }
            throw HopperError(.invalidField, "field \(FieldReader.quote(path)): expected an object, got \(value.typeName)", field: path)
        }
        self.object = object
        self.path = path
    }

    public func name(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// A field name as messages show it: quoted and escaped, so a key with a
    /// newline or an escape sequence cannot break a one-line message.
    public static func quote(_ name: String) -> String { JSONValue.string(name).serialized() }

    /// The raw value of `key`, marking it read; nil when absent. JSON `null`
    /// counts as absent so optional fields may be written out as null.
    public mutating func value(_ key: String) -> JSONValue? {
        seen.append(key)
        guard let v = object[key], v != .null else { return nil }
        return v
    }

    func invalid(_ key: String, _ expectation: String, _ got: JSONValue) -> HopperError {
        HopperError(.invalidField, "field \(FieldReader.quote(name(key))): expected \(expectation), got \(FieldReader.describe(got))", field: name(key))
    }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return s.count <= 40 ? JSONValue.string(s).serialized() : "a string"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        default: return v.typeName == "array" ? "an array" : v.typeName == "object" ? "an object" : v.typeName
        }
    }

    public mutating func required<T>(_ key: String, _ read: (inout FieldReader, String) throws(HopperError) -> T?) throws(HopperError) -> T {
        guard let v = try read(&self, key) else {
            throw HopperError(.missingField, "field \(FieldReader.quote(name(key))) is required", field: name(key))
        }
        return v
    }

    public mutating func string(_ key: String, nonEmpty: Bool = false) throws(HopperError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw invalid(key, "a string", v) }
        if nonEmpty && s.isEmpty { throw HopperError(.invalidField, "field \(FieldReader.quote(name(key))) must not be empty", field: name(key)) }
        return s
    }

    public mutating func int(_ key: String, in range: ClosedRange<Int>) throws(HopperError) -> Int? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i) where i >= range.lowerBound && i <= range.upperBound: return Int(i)
        // Int(exactly:) rather than a comparison: Double(Int.max) rounds up to 2^63.
        case .double(let d): if let i = Int(exactly: d), range.contains(i) { return i }
        default: break
        }
        throw invalid(key, "an integer from \(range.lowerBound) to \(range.upperBound)", v)
    }

    /// A number of seconds; `minimum` is exclusive when `exclusive` is set.
    public mutating func seconds(_ key: String, minimum: Double = 0, exclusive: Bool = false, maximum: Double = 1e9) throws(HopperError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue, exclusive ? d > minimum : d >= minimum else {
            throw invalid(key, "a number of seconds \(exclusive ? ">" : "≥") \(FieldReader.format(minimum))", v)
        }
        guard d <= maximum else { throw invalid(key, "at most \(FieldReader.format(maximum)) seconds", v) }
        // -0.0 is zero: never written back as "-0.0".
        return d == 0 ? 0 : d
    }

    public mutating func bool(_ key: String) throws(HopperError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw invalid(key, "true or false", v) }
        return b
    }

    public mutating func stringArray(_ key: String, nonEmpty: Bool = false) throws(HopperError) -> [String]? {
        guard let v = value(key) else { return nil }
        guard case .array(let items) = v else { throw invalid(key, "an array of strings", v) }
        if nonEmpty && items.isEmpty { throw HopperError(.invalidField, "field \(FieldReader.quote(name(key))) must not be empty", field: name(key)) }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else { throw invalid("\(key)[\(i)]", "a string", item) }
            out.append(s)
        }
        return out
    }

    /// An object of string → string, in the order written.
    public mutating func stringMap(_ key: String, keyPattern: ((String) -> Bool)? = nil, keyDescription: String = "") throws(HopperError) -> [(String, String)]? {
        guard let v = value(key) else { return nil }
        guard case .object(let o) = v else { throw invalid(key, "an object of strings", v) }
        var out: [(String, String)] = []
        for (k, item) in o {
            if let keyPattern, !keyPattern(k) {
                throw HopperError(.invalidField, "field \(FieldReader.quote(name(key))): name \(JSONValue.string(k).serialized()) is not \(keyDescription)", field: name(key))
            }
            guard case .string(let s) = item else { throw invalid("\(key).\(k)", "a string", item) }
            out.append((k, s))
        }
        return out
    }

    public mutating func delays(_ key: String) throws(HopperError) -> [Double]? {
        guard let v = value(key) else { return nil }
        guard case .array(let items) = v, !items.isEmpty else { throw invalid(key, "a non-empty array of seconds", v) }
        var out: [Double] = []
        for (i, item) in items.enumerated() {
            guard let d = item.doubleValue, d >= 0 else { throw invalid("\(key)[\(i)]", "a number of seconds ≥ 0", item) }
            out.append(d)
        }
        return out
    }

    /// A nested object, read by `body` with its own reader (whose unknown keys
    /// are rejected too).
    public mutating func nested<T>(_ key: String, _ body: (inout FieldReader) throws(HopperError) -> T) throws(HopperError) -> T? {
        guard let v = value(key) else { return nil }
        var reader = try FieldReader(v, path: name(key))
        let result = try body(&reader)
        try reader.finish()
        return result
    }

    /// Rejects the first key that no getter asked for.
    public func finish() throws(HopperError) {
        for key in object.keys where !seen.contains(key) {
            throw HopperError(.unknownField, "unknown field \(FieldReader.quote(name(key)))", field: name(key))
        }
    }

    static func format(_ d: Double) -> String { d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : String(d) }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: an environment variable name.
public func isEnvironmentName(_ s: String) -> Bool {
    let b = Array(s.utf8)
    guard let first = b.first, first == UInt8(ascii: "_") || (TaskID.isAlphanumeric(first) && !(first >= 0x30 && first <= 0x39)) else { return false }
    return b.allSatisfy { $0 == UInt8(ascii: "_") || TaskID.isAlphanumeric($0) }
}
