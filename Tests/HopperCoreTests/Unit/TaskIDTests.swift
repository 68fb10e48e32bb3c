import Testing
@testable import HopperCore

/// Task ids are single safe path components: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
@Suite struct TaskIDTests {
    @Test(arguments: [
        "a", "Z", "0", "a1", "build-42", "x.y_z-w", "A.", "a..b", "9_",
        String(repeating: "a", count: 128),
        "a" + String(repeating: "-", count: 127),
    ])
    func acceptsValidIDs(text: String) throws {
        let id = try #require(TaskID(text))
        #expect(id.rawValue == text)
        #expect(id.description == text)
        #expect(TaskID.isValid(text.utf8))
    }

    @Test(arguments: [
        "", ".", "..", ".a", "-a", "_a", "../x", "a/b", "/a", "a\0b", "\0", "a b", " a", "a ", "a\n", "a\t",
        "а", // Cyrillic a, U+0430
        "tаsk", // Cyrillic a in the middle
        "é", "caf\u{E9}", "a\u{301}", "ｆｕｌｌ", "a:b", "a\\b", "a*", "a%2F",
        String(repeating: "a", count: 129),
        "a" + String(repeating: "-", count: 128),
    ])
    func rejectsInvalidIDs(text: String) {
        #expect(TaskID(text) == nil)
        #expect(!TaskID.isValid(text.utf8))
    }

    @Test func comparesByRawValue() throws {
        let a = try #require(TaskID("a-1")), b = try #require(TaskID("a-2"))
        #expect(a < b)
        #expect(a == TaskID("a-1"))
        #expect(Set([a, b, a]).count == 2)
    }

    @Test(arguments: [
        ("build", "build-"),
        ("my task", "my_task-"),
        ("héllo", "h__llo-"), // é is two UTF-8 bytes
        (".hidden", "t.hidden-"),
        ("-dash", "t-dash-"),
        ("_under", "t_under-"),
        ("", "t-"),
        ("../../etc/passwd", "t.._.._etc_passwd-"),
        ("a\nb\0c", "a_b_c-"),
        ("тест", "t________-"),
        ("🚀", "t____-"),
    ])
    func generateSanitizesTheStem(stem: String, prefix: String) throws {
        var suffixes = IDSuffixGenerator()
        let suffix = suffixes.next(now: Timestamp(nanoseconds: 1_700_000_000_000_000_000))
        let id = TaskID.generate(stem: stem, suffix: suffix)
        #expect(id.rawValue == prefix + suffix)
        #expect(TaskID(id.rawValue) != nil, "generated id \(id) must be valid")
    }

    @Test func generateStaysWithin128Bytes() throws {
        var suffixes = IDSuffixGenerator(salt: "abcd")
        for stem in [String(repeating: "x", count: 300), String(repeating: "é", count: 300), String(repeating: "🚀", count: 40), String(repeating: ".", count: 200)] {
            let id = TaskID.generate(stem: stem, suffix: suffixes.next(now: Timestamp(nanoseconds: 0)))
            #expect(id.rawValue.utf8.count <= 128)
            #expect(TaskID(id.rawValue) != nil, "generated id \(id) must be valid")
        }
        // Even a suffix that would overflow the limit is cut to a valid id.
        let long = TaskID.generate(stem: String(repeating: "s", count: 100), suffix: String(repeating: "0", count: 100))
        #expect(long.rawValue.utf8.count == 128)
        #expect(TaskID(long.rawValue) != nil)
    }

    @Test func suffixesStrictlyIncreaseForTheSameInstant() {
        var generator = IDSuffixGenerator()
        let now = Timestamp(nanoseconds: 1_750_000_000_123_456_789)
        var previous = generator.next(now: now)
        for _ in 0..<1000 {
            let next = generator.next(now: now)
            #expect(previous < next)
            #expect(next.utf8.count == 11)
            previous = next
        }
    }

    @Test func suffixesStrictlyIncreaseWhenTheClockStepsBack() {
        var generator = IDSuffixGenerator(salt: "q")
        let times: [Int64] = [2_000_000_000_000, 1_000_000_000_000, 2_000_000_000_000, 0, -5, 3_000_000_000_000, 2_999_999_999_999]
        var seen: [String] = []
        for t in times { seen.append(generator.next(now: Timestamp(nanoseconds: t))) }
        for (a, b) in zip(seen, seen.dropFirst()) { #expect(a < b) }
        #expect(seen.allSatisfy { $0.hasSuffix("q") && $0.utf8.count == 12 })
        #expect(seen.allSatisfy { TaskID($0) != nil })
    }

    @Test func suffixesSortByCreationTime() {
        var a = IDSuffixGenerator(), b = IDSuffixGenerator()
        let early = a.next(now: Timestamp(nanoseconds: 1_000_000_000))
        let late = b.next(now: Timestamp(nanoseconds: 1_000_001_000))
        #expect(early < late)
        #expect(IDSuffixGenerator.base32(0, width: 3) == "000")
        #expect(IDSuffixGenerator.base32(31, width: 2) == "0z")
        #expect(IDSuffixGenerator.base32(32, width: 2) == "10")
    }

    @Test func randomSuffixesUseTheIDAlphabet() {
        let r = IDSuffixGenerator.random(64)
        #expect(r.utf8.count == 64)
        #expect(r.utf8.allSatisfy { IDSuffixGenerator.alphabet.contains($0) })
    }
}

@Suite struct RandomSuffixTests {
    @Test func randomSuffixesHaveTheLengthAndAlphabetAsked() {
        for count in [0, 1, 11, 12, 13, 20, 40] {
            let s = IDSuffixGenerator.random(count)
            #expect(s.utf8.count == count)
            #expect(s.utf8.allSatisfy { IDSuffixGenerator.alphabet.contains($0) })
        }
        // Distinct draws (a collision among 1,000 20-character nonces would mean a broken generator).
        #expect(Set((0..<1000).map { _ in IDSuffixGenerator.random(20) }).count == 1000)
    }
}
