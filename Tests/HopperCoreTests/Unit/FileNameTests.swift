import Testing
@testable import HopperCore

/// Kernel-given names: raw bytes, rendered safely for logs and JSON.
@Suite struct FileNameTests {
    @Test(arguments: ["task.json", "build 42.sh", "héllo wörld.json", "🚀.json", "日本語", "a'b\"c", ".hidden", ""])
    func plainNamesAreUnchanged(name: String) {
        let file = FileName(name)
        #expect(file.escaped == name)
        #expect(file.description == name)
        #expect(file.string == name)
    }

    @Test func escapesControlCharacters() {
        #expect(FileName("a\nb.json").escaped == "a\\nb.json")
        #expect(FileName("a\tb").escaped == "a\\tb")
        #expect(FileName("a\u{1B}[31mred").escaped == "a\\x1b[31mred")
        #expect(FileName("\r").escaped == "\\x0d")
        #expect(FileName("del\u{7F}").escaped == "del\\x7f")
        #expect(FileName("nul\0").escaped == "nul\\x00")
    }

    @Test func escapesTheEscapeCharacterItself() {
        // Otherwise a name spelled `a\nb` would render like one holding a newline.
        #expect(FileName("a\\nb").escaped == "a\\\\nb")
        #expect(FileName("a\\nb").escaped != FileName("a\nb").escaped)
    }

    @Test func escapesInvalidUTF8BytesAsHex() {
        #expect(FileName(bytes: [0x61, 0xFF, 0x62]).escaped == "a\\xffb")
        #expect(FileName(bytes: [0x61, 0xFF, 0x62]).string == nil)
        #expect(FileName(bytes: [0xC3]).escaped == "\\xc3") // truncated sequence
        #expect(FileName(bytes: [0xC0, 0xAF]).escaped == "\\xc0\\xaf") // overlong '/'
        #expect(FileName(bytes: [0xED, 0xA0, 0x80]).escaped == "\\xed\\xa0\\x80") // encoded surrogate
        #expect(FileName(bytes: [0x80, 0x61]).escaped == "\\x80a") // stray continuation byte
        // Valid sequences around an invalid byte survive intact.
        #expect(FileName(bytes: Array("é".utf8) + [0xFE] + Array("\n.sh".utf8)).escaped == "é\\xfe\\n.sh")
    }

    @Test func everySingleByteNameRendersPrintableAndDistinct() {
        var renderings: Set<String> = []
        for byte in UInt8.min...UInt8.max {
            let escaped = FileName(bytes: [byte]).escaped
            #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "byte \(byte) rendered as \(escaped)")
            renderings.insert(escaped)
        }
        #expect(renderings.count == 256)
    }

    /// Unicode controls above U+007F are valid UTF-8 but still escaped; the
    /// rendering must not be confused with another name's.
    @Test func escapedUnicodeControlsStayUnambiguous() {
        // U+0085 (NEL) is the two bytes C2 85; a lone 85 byte is invalid UTF-8.
        let nextLine = FileName("a\u{85}b"), loneByte = FileName(bytes: [0x61, 0x85, 0x62])
        #expect(nextLine.escaped != loneByte.escaped, "both render as \(nextLine.escaped)")
        // U+2028 must not render as "\x28", which reads as the byte of "(".
        let separator = FileName("a\u{2028}b").escaped
        #expect(!separator.contains("\\x28"), "U+2028 rendered as \(separator)")
        #expect(!separator.unicodeScalars.contains { $0 == "\u{2028}" || $0 == "\u{2029}" })
    }

    @Test func suffixes() {
        #expect(FileName("task.json").hasSuffix(".json"))
        #expect(FileName(".json").hasSuffix(".json"))
        #expect(FileName("x.sh").hasSuffix(".sh"))
        #expect(FileName("x").hasSuffix(""))
        #expect(!FileName("json").hasSuffix(".json"))
        #expect(!FileName("task.json.tmp").hasSuffix(".json"))
        #expect(!FileName("task.JSON").hasSuffix(".json"))
        #expect(!FileName("").hasSuffix(".sh"))
        #expect(FileName(bytes: [0xFF, 0x2E, 0x73, 0x68]).hasSuffix(".sh"))
        #expect(FileName(".tmp").hasPrefix("."))
        #expect(!FileName("a.tmp").hasPrefix("."))
    }

    @Test func droppingASuffix() {
        #expect(FileName("task.json").dropping(suffix: ".json") == Array("task".utf8))
        #expect(FileName(".json").dropping(suffix: ".json") == [])
        #expect(FileName("a.b.sh").dropping(suffix: ".sh") == Array("a.b".utf8))
        #expect(FileName(bytes: [0xFF, 0x2E, 0x73, 0x68]).dropping(suffix: ".sh") == [0xFF])
        #expect(FileName("x").dropping(suffix: "") == Array("x".utf8))
    }

    @Test func equalityIsByteEquality() {
        #expect(FileName("é") == FileName(bytes: [0xC3, 0xA9]))
        // NFC and NFD spell different directory entries.
        #expect(FileName("\u{E9}") != FileName("e\u{301}"))
    }
}
