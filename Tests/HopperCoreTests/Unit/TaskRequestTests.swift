import Testing
@testable import HopperCore

/// A rejected request and what the rejection must say.
struct RequestRejection: Sendable, CustomTestStringConvertible {
    var json: String
    var code: HopperError.Code
    /// The field the error names; nil for document-level errors.
    var field: String?

    init(_ json: String, _ code: HopperError.Code, _ field: String?) {
        self.json = json
        self.code = code
        self.field = field
    }

    var testDescription: String { json }
}

/// Request validation (SPEC section 3): every field's type, range and
/// meaning, and an error that names the field.
@Suite struct TaskRequestTests {
    static let rules = TaskRequest.Rules(providers: ["sh", "exec"], maxTimeout: 1800)

    private func accepted(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) -> TaskRequest? {
        do {
            return try TaskRequest.parse(Array(json.utf8), rules: Self.rules)
        } catch {
            Issue.record("rejected \(json): \(error.code.rawValue) \(error.message)", sourceLocation: sourceLocation)
            return nil
        }
    }

    private func rejection(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) -> HopperError? {
        do {
            let request = try TaskRequest.parse(Array(json.utf8), rules: Self.rules)
            Issue.record("accepted \(json) as \(request)", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    @Test func decodesEveryField() throws {
        let json = """
        {"id": "build-1", "command": "make all", "provider": "exec", "stdin": "line\\n",
         "env": {"CC": "clang", "_X1": "y=z"}, "cwd": "/tmp/work", "timeout": 12.5,
         "priority": -7, "run_after": "2026-01-31T23:00:00.250Z", "after": ["dep-a", "dep.b", "dep-a"],
         "retries": 3, "queue_timeout": 0, "labels": {"team": "infra", "ticket": "OPS-1"}}
        """
        let r = try #require(accepted(json))
        #expect(r.id == TaskID("build-1"))
        #expect(r.command == "make all")
        #expect(r.provider == "exec")
        #expect(r.stdin == "line\n")
        #expect(r.env == [.init("CC", "clang"), .init("_X1", "y=z")])
        #expect(r.cwd == "/tmp/work")
        #expect(r.timeout == 12.5)
        #expect(r.priority == -7)
        #expect(r.runAfter == Timestamp(rfc3339: "2026-01-31T23:00:00.25Z"))
        #expect(r.runAfter != nil)
        #expect(r.after == [TaskID("dep-a"), TaskID("dep.b")].compactMap { $0 }, "duplicates collapse, order kept")
        #expect(r.retries == 3)
        #expect(r.queueTimeout == 0)
        #expect(r.labels == [.init("team", "infra"), .init("ticket", "OPS-1")])

        // What the request writes decodes to the same request.
        var w = JSONWriter()
        w.beginObject()
        r.write(to: &w)
        w.endObject()
        let again = try TaskRequest.parse(w.bytes, rules: Self.rules)
        #expect(again == r)
    }

    @Test func defaultsForAMinimalRequest() throws {
        let r = try #require(accepted(#"{"command": "true"}"#))
        #expect(r == TaskRequest(command: "true"))
        #expect(r.id == nil && r.provider == nil && r.stdin == nil && r.cwd == nil && r.timeout == nil)
        #expect(r.priority == 0 && r.retries == 0 && r.queueTimeout == nil && r.runAfter == nil)
        #expect(r.env.isEmpty && r.after.isEmpty && r.labels.isEmpty)
    }

    @Test func nullMeansAbsent() throws {
        let json = """
        {"command": "x", "id": null, "provider": null, "stdin": null, "env": null, "cwd": null, "timeout": null,
         "priority": null, "run_after": null, "after": null, "retries": null, "queue_timeout": null, "labels": null}
        """
        let r = try #require(accepted(json))
        #expect(r == TaskRequest(command: "x"))
        // A null command is a missing one.
        #expect(rejection(#"{"command": null}"#)?.code == .missingField)
    }

    @Test func acceptsBoundaryValues() throws {
        #expect(accepted(#"{"command": "x", "priority": 1000}"#)?.priority == 1000)
        #expect(accepted(#"{"command": "x", "priority": -1000}"#)?.priority == -1000)
        #expect(accepted(#"{"command": "x", "retries": 100}"#)?.retries == 100)
        #expect(accepted(#"{"command": "x", "retries": 0}"#)?.retries == 0)
        #expect(accepted(#"{"command": "x", "timeout": 1800}"#)?.timeout == 1800)
        #expect(accepted(#"{"command": "x", "timeout": 0.001}"#)?.timeout == 0.001)
        #expect(accepted(#"{"command": "x", "queue_timeout": 0.5}"#)?.queueTimeout == 0.5)
        #expect(accepted(#"{"command": "x", "id": "\#(String(repeating: "a", count: 128))"}"#)?.id?.rawValue.count == 128)
        #expect(accepted(#"{"command": "x", "env": {}, "labels": {}, "after": []}"#) == TaskRequest(command: "x"))
        #expect(accepted(#"{"command": " "}"#)?.command == " ")
    }

    @Test func numberSpellings() throws {
        #expect(accepted(#"{"command": "x", "priority": -0}"#)?.priority == 0)
        #expect(accepted(#"{"command": "x", "priority": -0.0}"#)?.priority == 0)
        #expect(accepted(#"{"command": "x", "priority": 5.0}"#)?.priority == 5)
        #expect(accepted(#"{"command": "x", "priority": 1e3}"#)?.priority == 1000)
        #expect(accepted(#"{"command": "x", "retries": 2E0}"#)?.retries == 2)
        #expect(accepted(#"{"command": "x", "timeout": 10}"#)?.timeout == 10)

        let fraction = try #require(rejection(#"{"command": "x", "priority": 5.5}"#))
        #expect(fraction.code == .invalidField && fraction.field == "priority")
        let huge = try #require(rejection(#"{"command": "x", "priority": 1e999}"#))
        #expect(huge.code == .numberOutOfRange)
        let hugeTimeout = try #require(rejection(#"{"command": "x", "timeout": -1e999}"#))
        #expect(hugeTimeout.code == .numberOutOfRange)
    }

    @Test func documentLevelErrors() throws {
        let duplicate = try #require(rejection(#"{"command": "x", "command": "y"}"#))
        #expect(duplicate.code == .duplicateKey)
        #expect(duplicate.message.contains("command"))
        #expect(rejection(#"{"command": "x", "env": {"A": "1", "A": "2"}}"#)?.code == .duplicateKey)
        #expect(rejection(#"{"command": "x",}"#)?.code == .invalidJSON)
        #expect(rejection("")?.code == .invalidJSON)
        #expect(rejection(#"["command"]"#)?.code == .invalidJSON, "not an object: not a request at all")
        #expect(rejection(#""command""#)?.code == .invalidJSON)
        #expect(rejection([UInt8](#"{"command": ""#.utf8) + [0xFF, 0x22, 0x7D])?.code == .notUTF8)
    }

    private func rejection(_ bytes: [UInt8]) -> HopperError? {
        do {
            _ = try TaskRequest.parse(bytes, rules: Self.rules)
            Issue.record("accepted \(bytes)")
            return nil
        } catch { return error }
    }

    static let rejections: [RequestRejection] = [
        // Unknown and missing fields.
        .init(#"{"command": "x", "colour": "red"}"#, .unknownField, "colour"),
        .init(#"{"command": "x", "Command": "y"}"#, .unknownField, "Command"),
        .init(#"{"command": "x", "interruptions": 0}"#, .unknownField, "interruptions"),
        .init(#"{}"#, .missingField, "command"),
        .init(#"{"id": "a"}"#, .missingField, "command"),
        .init(#"{"command": ""}"#, .invalidField, "command"),
        // Wrong types, one per field.
        .init(#"{"command": 5}"#, .invalidField, "command"),
        .init(#"{"command": ["ls"]}"#, .invalidField, "command"),
        .init(#"{"command": "x", "id": 5}"#, .invalidField, "id"),
        .init(#"{"command": "x", "provider": true}"#, .invalidField, "provider"),
        .init(#"{"command": "x", "stdin": 1}"#, .invalidField, "stdin"),
        .init(#"{"command": "x", "env": []}"#, .invalidField, "env"),
        .init(#"{"command": "x", "env": "A=1"}"#, .invalidField, "env"),
        .init(#"{"command": "x", "env": {"A": 1}}"#, .invalidField, "env.A"),
        .init(#"{"command": "x", "cwd": 1}"#, .invalidField, "cwd"),
        .init(#"{"command": "x", "timeout": "10"}"#, .invalidField, "timeout"),
        .init(#"{"command": "x", "timeout": true}"#, .invalidField, "timeout"),
        .init(#"{"command": "x", "priority": "5"}"#, .invalidField, "priority"),
        .init(#"{"command": "x", "priority": true}"#, .invalidField, "priority"),
        .init(#"{"command": "x", "run_after": 1700000000}"#, .invalidField, "run_after"),
        .init(#"{"command": "x", "after": "x"}"#, .invalidField, "after"),
        .init(#"{"command": "x", "after": [1]}"#, .invalidField, "after[0]"),
        .init(#"{"command": "x", "after": {"a": "b"}}"#, .invalidField, "after"),
        .init(#"{"command": "x", "retries": "1"}"#, .invalidField, "retries"),
        .init(#"{"command": "x", "queue_timeout": "0"}"#, .invalidField, "queue_timeout"),
        .init(#"{"command": "x", "labels": {"a": 1}}"#, .invalidField, "labels.a"),
        .init(#"{"command": "x", "labels": {"a": null}}"#, .invalidField, "labels.a"),
        .init(#"{"command": "x", "labels": ["a"]}"#, .invalidField, "labels"),
        // Out of range.
        .init(#"{"command": "x", "priority": 1001}"#, .invalidField, "priority"),
        .init(#"{"command": "x", "priority": -1001}"#, .invalidField, "priority"),
        .init(#"{"command": "x", "priority": 9223372036854775807}"#, .invalidField, "priority"),
        .init(#"{"command": "x", "priority": 5.5}"#, .invalidField, "priority"),
        .init(#"{"command": "x", "retries": 101}"#, .invalidField, "retries"),
        .init(#"{"command": "x", "retries": -1}"#, .invalidField, "retries"),
        .init(#"{"command": "x", "timeout": 0}"#, .invalidField, "timeout"),
        .init(#"{"command": "x", "timeout": -1}"#, .invalidField, "timeout"),
        .init(#"{"command": "x", "timeout": 1801}"#, .invalidField, "timeout"),
        .init(#"{"command": "x", "timeout": 1800.5}"#, .invalidField, "timeout"),
        .init(#"{"command": "x", "queue_timeout": -1}"#, .invalidField, "queue_timeout"),
        .init(#"{"command": "x", "queue_timeout": -0.001}"#, .invalidField, "queue_timeout"),
        // Meaning.
        .init(#"{"command": "x", "provider": "agent"}"#, .invalidField, "provider"),
        .init(#"{"command": "x", "provider": "SH"}"#, .invalidField, "provider"),
        .init(#"{"command": "x", "provider": ""}"#, .invalidField, "provider"),
        .init(#"{"command": "x", "env": {"1X": "y"}}"#, .invalidField, "env"),
        .init(#"{"command": "x", "env": {"A-B": "y"}}"#, .invalidField, "env"),
        .init(#"{"command": "x", "env": {"": "y"}}"#, .invalidField, "env"),
        .init(#"{"command": "x", "env": {"A B": "y"}}"#, .invalidField, "env"),
        .init(#"{"command": "x", "cwd": "tmp"}"#, .invalidField, "cwd"),
        .init(#"{"command": "x", "cwd": "./tmp"}"#, .invalidField, "cwd"),
        .init(#"{"command": "x", "cwd": ""}"#, .invalidField, "cwd"),
        .init(#"{"command": "x", "run_after": "tomorrow"}"#, .invalidField, "run_after"),
        .init(#"{"command": "x", "run_after": "2026-02-30T00:00:00Z"}"#, .invalidField, "run_after"),
        .init(#"{"command": "x", "run_after": "2026-01-31 23:00:00"}"#, .invalidField, "run_after"),
        .init(#"{"command": "x", "run_after": ""}"#, .invalidField, "run_after"),
        .init(#"{"command": "x", "id": "../x"}"#, .invalidField, "id"),
        .init(#"{"command": "x", "id": ""}"#, .invalidField, "id"),
        .init(#"{"command": "x", "id": ".hidden"}"#, .invalidField, "id"),
        .init(#"{"command": "x", "id": "a/b"}"#, .invalidField, "id"),
        .init(#"{"command": "x", "id": "t\u0430sk"}"#, .invalidField, "id"),
        .init(#"{"command": "x", "id": "a\u0000"}"#, .invalidField, "id"),
        .init(#"{"command": "x", "id": "\#(String(repeating: "a", count: 129))"}"#, .invalidField, "id"),
        .init(#"{"command": "x", "after": ["../x"]}"#, .invalidField, "after"),
        .init(#"{"command": "x", "after": [""]}"#, .invalidField, "after"),
        .init(#"{"id": "a", "command": "x", "after": ["b", "a"]}"#, .invalidField, "after"),
    ]

    @Test func aRunAfterPastTheYearsHopperHoldsSaysSo() throws {
        let error = try #require(rejection(#"{"command": "x", "run_after": "2999-01-01T00:00:00Z"}"#))
        #expect(error.code == .invalidField && error.field == "run_after")
        #expect(error.message == #"field "run_after": "2999-01-01T00:00:00Z" is outside the times Hopper can hold (years 1678 to 2261)"#)
    }

    @Test(arguments: rejections)
    func rejectsNamingTheField(_ c: RequestRejection) throws {
        let error = try #require(rejection(c.json))
        #expect(error.code == c.code, "\(error.message)")
        #expect(error.field == c.field, "\(error.message)")
        if let field = c.field {
            #expect(error.message.contains("\"\(field)\""), "message does not name \(field): \(error.message)")
        }
        #expect(!error.message.contains("\n"))
    }

    @Test func rulesComeFromTheConfiguration() throws {
        var config = Configuration()
        config.commandMaxTimeout = 60
        let rules = TaskRequest.Rules(config)
        #expect(rules.providers == ["sh", "exec"])
        #expect(rules.maxTimeout == 60)
        #expect(throws: HopperError.self) { try TaskRequest.parse(Array(#"{"command": "x", "timeout": 61}"#.utf8), rules: rules) }
        #expect(try TaskRequest.parse(Array(#"{"command": "x", "timeout": 60}"#.utf8), rules: rules).timeout == 60)
    }

    @Test func environmentNames() {
        for good in ["A", "_", "_1", "PATH", "a_b_C9"] { #expect(isEnvironmentName(good), "\(good)") }
        for bad in ["", "1X", "9", "A-B", "A B", "A=B", "É", "A\0"] { #expect(!isEnvironmentName(bad), "\(bad)") }
    }

    /// `FieldReader.int` checks the range in Double before converting: 2^63 is
    /// "≤ Double(Int.max)" (which rounds to 2^63) and `Int(2^63)` traps. Task
    /// files in the spool read seq/attempts/inode with `in: Int.min...Int.max`.
    /// Double(Int.max) rounds up to 2^63; that value must be rejected, not trap.
    /// (Not an exit test: Swift Testing's exit-test monitor waits on every
    /// child, which fights the process-wide reaper the other tests use.)
    @Test func integerAtTwoToThe63IsRejectedNotATrap() throws {
        var reader = try FieldReader(.object(JSONObject([("n", .double(0x1p63))])))
        #expect(throws: HopperError.self) { try reader.int("n", in: Int.min...Int.max) }
    }
}
