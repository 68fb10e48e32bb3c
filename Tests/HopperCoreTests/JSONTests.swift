import Testing
@testable import HopperCore

/// Parser, writer and value tests: round trips, every rejection class, escaping.
@Suite struct JSONTests {
    /// The error `text` is rejected with; fails the test if it parses.
    private func rejection(_ text: String, maxDepth: Int = 64) -> JSONError? {
        rejection(Array(text.utf8), maxDepth: maxDepth)
    }

    private func rejection(_ bytes: [UInt8], maxDepth: Int = 64) -> JSONError? {
        do {
            let value = try JSONParser.parse(bytes, maxDepth: maxDepth)
            Issue.record("expected a rejection, parsed \(value)")
            return nil
        } catch {
            return error
        }
    }

    private let sample: JSONValue = .object(JSONObject([
        ("id", .string("t-1")),
        ("argv", .array([.string("echo"), .string("héllo \"wörld\"\n"), .string("🚀")])),
        ("priority", .int(-7)),
        ("timeout", .double(2.5)),
        ("tiny", .double(1e-5)),
        ("flags", .object(JSONObject([("dry", .bool(false)), ("loud", .bool(true)), ("none", .null)]))),
        ("empty", .array([])),
        ("nothing", .object(JSONObject())),
        ("nested", .array([.array([.array([.int(Int64.min), .int(Int64.max)])])])),
    ]))

    @Test func roundTripsNestedValues() throws {
        let text = sample.serialized()
        #expect(!text.contains("\n") && !text.contains(" \""))
        #expect(try JSONParser.parse(text) == sample)
        #expect(try JSONParser.parse(sample.prettyPrinted()) == sample)
    }

    @Test func parsesEveryScalarAtTopLevel() throws {
        #expect(try JSONParser.parse(" \t\r\n null \n") == .null)
        #expect(try JSONParser.parse("true") == .bool(true))
        #expect(try JSONParser.parse("\"x\"") == .string("x"))
        #expect(try JSONParser.parse("42") == .int(42))
        #expect(try JSONParser.parse("-0") == .int(0))
        #expect(try JSONParser.parse("-0.0") == .double(-0.0))
        #expect(try JSONParser.parse("1E+2") == .double(100))
        #expect(try JSONParser.parse("1e-999") == .double(0))
        #expect(try JSONParser.parse("9223372036854775807") == .int(Int64.max))
        #expect(try JSONParser.parse("-9223372036854775808") == .int(Int64.min))
        #expect(try JSONParser.parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try JSONParser.parse("-9223372036854775809") == .double(-0x1p63))
        #expect(try JSONParser.parse("0.1") == .double(0.1))
        #expect(try JSONParser.parse([0xEF, 0xBB, 0xBF, 0x5B, 0x5D]) == .array([]))
    }

    @Test func decodesEscapes() throws {
        let parsed = try JSONParser.parse(#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude80\u0000""#)
        #expect(parsed == .string("a\"b\\c/d\u{8}\u{C}\n\r\tAé€🚀\u{0}"))
        #expect(try JSONParser.parse(#"{"k\u0065y":1}"#).objectValue?["key"] == .int(1))
    }

    @Test(arguments: [
        "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{1:2}", "// c\n1", "/* c */ 1", "[1] // c",
        "01", "-01", "+1", ".5", "5.", "1e", "1e+", "-", "--1", "0x10", "NaN", "Infinity", "-Infinity",
        "'a'", "tru", "nul", "True", "\"abc", "\"\\x\"", "\"\\u12G4\"", "\"\\u12\"", "[", "{", "]",
        "\"a\nb\"", "\"tab\there\"", "", "   ", "\n\t", "1 2", "{} {}", "[]]", "\u{FEFF}\u{FEFF}1",
    ])
    func rejectsSyntaxErrors(text: String) {
        #expect(rejection(text)?.code == .syntax)
    }

    @Test func rejectsLoneSurrogateEscapes() {
        for text in [#""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#, #""\ude80\ud83d""#] {
            #expect(rejection(text)?.code == .syntax, "\(text)")
        }
    }

    @Test func messagesNameWhatAndWhere() {
        #expect(rejection("{\n  \"a\": 1,\n    }")?.message == "unexpected character '}' at line 3, column 5")
        #expect(rejection("[1,]")?.offset == 3)
        #expect(rejection("")?.message == "unexpected end of input at line 1, column 1")
        #expect(rejection("01")?.message == "leading zero in number at line 1, column 1")
        #expect(rejection("\"é\u{1}\"")?.message == "unescaped control character U+0001 in string at line 1, column 3")
        #expect(rejection("[1] x")?.message == "unexpected character 'x' after the top-level value at line 1, column 5")
    }

    @Test func rejectsDuplicateKeysNamingTheKey() {
        let error = rejection(#"{"id": 1, "x": {}, "id": 2}"#)
        #expect(error?.code == .duplicateKey)
        #expect(error?.message == #"duplicate key "id" at line 1, column 20"#)
        #expect(error?.offset == 19)
        // Past the size where lookups switch to a hash index.
        let many = (0..<100).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        #expect(rejection("{\(many),\"k42\":0}")?.code == .duplicateKey)
        // The same key in different objects is not a duplicate.
        #expect((try? JSONParser.parse(#"{"a":{"a":1},"b":{"a":2}}"#)) != nil)
    }

    @Test func rejectsNumbersOutOfRange() {
        for text in ["1e999", "-1e999", "[1.8e308]", String(repeating: "9", count: 400)] {
            #expect(rejection(text)?.code == .numberOutOfRange, "\(text)")
        }
    }

    @Test func limitsDepthWithoutRecursingPastIt() throws {
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        let error = rejection(deep)
        #expect(error?.code == .tooDeep)
        #expect(error?.message == "nesting deeper than 64 levels at line 1, column 65")
        let atLimit = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(try JSONParser.parse(atLimit) != .null)
        #expect(rejection("[" + atLimit + "]")?.code == .tooDeep)
        #expect(rejection(#"{"a":{"b":[]}}"#, maxDepth: 2)?.code == .tooDeep)
        #expect(try JSONParser.parse("1", maxDepth: 0) == .int(1))
    }

    @Test func rejectsInvalidUTF8EverywhereWithItsOffset() {
        let cases: [([UInt8], Int)] = [
            ([0x22, 0x61, 0xFF, 0x22], 2),               // stray byte inside a string
            ([0x5B, 0x31, 0x2C, 0xFE, 0x5D], 3),         // outside a string
            ([0x22, 0xC0, 0xAF, 0x22], 1),               // overlong "/"
            ([0x22, 0xE0, 0x80, 0xAF, 0x22], 1),         // overlong three-byte form
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),         // surrogate U+D800 encoded directly
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),   // above U+10FFFF
            ([0x22, 0x61, 0xE2, 0x82], 2),               // truncated at end of input
            ([0x22, 0xE2, 0x82, 0x22], 1),               // truncated before the quote
            ([0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x80, 0x31], 9), // after a fast-path word
        ]
        for (bytes, offset) in cases {
            let error = rejection(bytes)
            #expect(error?.code == .notUTF8, "\(bytes)")
            #expect(error?.offset == offset, "\(bytes)")
        }
        #expect(rejection([0x22, 0xFF, 0x22])?.message == "invalid UTF-8 at byte 1")
        // Well-formed multi-byte text anywhere in a string is kept intact.
        let wide = "\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}"
        #expect(try! JSONParser.parse("\"" + wide + "\"") == .string(wide))
    }

    @Test func writerEscapesControlCharactersAndQuotes() throws {
        var writer = JSONWriter()
        let text = "q\"b\\n\nr\rt\tb\u{8}f\u{C}z\u{0}d\u{7F}l\u{2028}p\u{2029}é"
        writer.string(text)
        #expect(writer.string == #""q\"b\\n\nr\rt\tb\bf\fz\u0000d\u007fl\u2028p\u2029é""#)
        #expect(try JSONParser.parse(writer.bytes) == .string(text))
    }

    @Test func writerRoundTripsEveryASCIIByte() throws {
        let everything = String(decoding: (0...0x7F).map { UInt8($0) }, as: UTF8.self)
        var writer = JSONWriter()
        writer.string(everything)
        #expect(!writer.bytes.contains { $0 < 0x20 || $0 == 0x7F })
        #expect(try JSONParser.parse(writer.bytes) == .string(everything))
    }

    @Test func writerRoundTripsEveryBMPScalarAndSomeAstralOnes() throws {
        let scalars = (0..<0x11_0000).lazy.filter { $0 < 0x1_0000 || $0 % 997 == 0 }.compactMap(Unicode.Scalar.init)
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars)
        #expect(try JSONParser.parse(JSONValue.string(text).serialized()) == .string(text))
        #expect(try JSONParser.parse(JSONValue.object(JSONObject([(text, .null)])).prettyPrinted())
            .objectValue?.keys == [text])
    }

    @Test func writerInsertsCommasAndWritesFields() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("s", "x")
        writer.field("missing", nil as String?)
        writer.field("i", 3)
        writer.field("big", Int64.max)
        writer.field("d", 0.5)
        writer.field("b", true)
        writer.field("v", JSONValue.array([.int(1), .null]))
        writer.key("list")
        writer.beginArray()
        writer.int(1)
        writer.beginObject()
        writer.endObject()
        writer.beginArray()
        writer.endArray()
        writer.double(.infinity)
        writer.endArray()
        writer.endObject()
        #expect(writer.string == #"{"s":"x","missing":null,"i":3,"big":9223372036854775807,"d":0.5,"b":true,"#
            + #""v":[1,null],"list":[1,{},[],null]}"#)
    }

    @Test func doublesRoundTripExactly() throws {
        let numbers = [0.1, -2.5, 5.0, 1e-5, 1e16, .greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 1234.125]
        for number in numbers {
            let text = JSONValue.double(number).serialized()
            #expect(try JSONParser.parse(text) == .double(number), "\(text)")
        }
    }

    @Test func objectKeepsInsertionOrder() {
        var object = JSONObject([("b", .int(1)), ("a", .int(2)), ("c", .int(3))])
        #expect(object.keys == ["b", "a", "c"])
        object["a"] = .string("new")
        #expect(object.keys == ["b", "a", "c"])
        #expect(object["a"] == .string("new"))
        object["d"] = .null
        object["b"] = nil
        #expect(object.keys == ["a", "c", "d"])
        #expect(object.count == 3 && object["b"] == nil && object["d"] == .null)
        #expect(object.map(\.key) == ["a", "c", "d"])
        #expect(JSONObject([("x", .int(1)), ("x", .int(2))]).members.count == 1)
        #expect(JSONObject([("a", .int(1)), ("b", .int(2))]) == JSONObject([("b", .int(2)), ("a", .int(1))]))
        #expect(JSONObject([("a", .int(1))]) != JSONObject([("a", .int(2))]))
    }

    @Test func largeObjectStaysConsistentThroughEdits() {
        var object = JSONObject()
        for number in 0..<40 { object["k\(number)"] = .int(Int64(number)) }
        object["k3"] = nil
        object["k39"] = .string("last")
        #expect(object.count == 39 && object["k3"] == nil && object["k4"] == .int(4))
        #expect(object.keys.last == "k39" && object["k39"] == .string("last"))
        object["k3"] = .int(3)
        #expect(object.keys.last == "k3")
    }

    @Test func prettyPrintsWithTwoSpaceIndent() throws {
        let list: JSONValue = .array([.int(1), .object(JSONObject())])
        let value: JSONValue = .object(JSONObject([("a", list), ("b", .string("x"))]))
        #expect(value.prettyPrinted() == "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"x\"\n}")
        #expect(try JSONParser.parse(value.prettyPrinted()) == value)
        #expect(JSONValue.array([]).prettyPrinted() == "[]")
    }

    @Test func accessorsAndTypeNames() {
        #expect(JSONValue.int(3).doubleValue == 3 && JSONValue.double(2.5).intValue == nil)
        #expect(JSONValue.string("s").stringValue == "s" && JSONValue.bool(true).boolValue == true)
        #expect([JSONValue.null, .bool(true), .int(1), .double(1), .string(""), .array([]), .object(JSONObject())]
            .map(\.typeName) == ["null", "boolean", "integer", "number", "string", "array", "object"])
    }

    @Test func parsesFromRawBuffer() throws {
        let bytes = Array(#"{"a":[1,2,3]}"#.utf8)
        let value = try bytes.withUnsafeBytes { try JSONParser.parse($0) }
        #expect(value.objectValue?["a"]?.arrayValue?.count == 3)
        #expect(throws: JSONError.self) { try JSONParser.parse(UnsafeRawBufferPointer(start: nil, count: 0)) }
    }
}
