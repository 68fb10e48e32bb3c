import Testing
@testable import HopperCore

/// Property-based fuzzing of request and configuration parsing: every input,
/// however mangled, either decodes or is refused with a wire code, and a
/// refusal about a field names that field. Nothing traps.
///
/// Bounded for CI; `HOPPER_FUZZ_ITERATIONS=10000000 swift test --filter ParserFuzzTests`
/// runs the full campaign.
@Suite struct ParserFuzzTests {
    static var iterations: Int {
        Environment.get("HOPPER_FUZZ_ITERATIONS").flatMap(Int.init) ?? 20_000
    }

    /// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    static let requestSeeds = [
        #"{"id": "a1", "command": "echo hi", "priority": 5, "timeout": 10, "env": {"A": "1"}, "labels": {"k": "v"}, "after": ["b"], "retries": 2, "queue_timeout": 3, "run_after": "2026-01-01T00:00:00Z", "stdin": "x", "cwd": "/tmp", "provider": "sh"}"#,
        #"{"command": "true"}"#,
        #"{"command": "x", "env": {"_B": "2"}, "labels": {}}"#,
    ]
    static let configSeeds = [
        InitCommand.sampleConfiguration,
        #"{"workers": 2, "providers": {"a": {"mode": "session", "protocol": "jsonl", "command": ["x"], "auth": {"command": ["y"], "retryable_exit_codes": [75]}}}}"#,
    ]
    /// Tokens a mutation may splice in: JSON syntax, hostile numbers, odd strings.
    static let tokens: [String] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "null", "true", "false", "-0", "1e999", "-1e999", "1e-999",
        "9223372036854775808", "-9223372036854775809", "0.5", "1.0", "NaN", "\u{0}", "\u{1B}[31m", "../", "\u{2028}",
        "\"id\"", "\"command\"", "\"priority\"", "\"timeout\"", "\"env\"", "\"after\"", "\"workers\"", "\"providers\"",
        "\"\u{0430}\"", String(repeating: "[", count: 80), String(repeating: "9", count: 400), "\u{FEFF}", "\u{FFFF}",
    ]

    static func mutate(_ seed: String, _ rng: inout Rng) -> [UInt8] {
        var bytes = Array(seed.utf8)
        for _ in 0...rng.below(4) {
            switch rng.below(5) {
            case 0 where !bytes.isEmpty: bytes.remove(at: rng.below(bytes.count))
            case 1: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: rng.below(bytes.count + 1))
            case 2 where !bytes.isEmpty: bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 3: bytes.insert(contentsOf: Array(tokens[rng.below(tokens.count)].utf8), at: rng.below(bytes.count + 1))
            default:
                // Duplicate or cut a span.
                guard bytes.count > 2 else { continue }
                let a = rng.below(bytes.count), b = min(bytes.count, a + rng.below(16))
                if rng.below(2) == 0 { bytes.insert(contentsOf: bytes[a..<b], at: a) } else { bytes.removeSubrange(a..<b) }
            }
        }
        return bytes
    }

    /// Codes that are about a field must name it.
    static let fieldCodes: Set<HopperError.Code> = [.missingField, .unknownField, .invalidField]

    @Test func requestsDecodeOrNameTheirField() {
        var rng = Rng(state: 0x9E3779B97F4A7C15)
        let rules = TaskRequest.Rules(providers: ["sh", "exec"], maxTimeout: 1800)
        var accepted = 0, refused = 0
        for i in 0..<Self.iterations {
            let input = Self.mutate(Self.requestSeeds[i % Self.requestSeeds.count], &rng)
            do {
                let request = try TaskRequest.parse(input, rules: rules)
                // What decodes must survive its own encoding.
                var w = JSONWriter()
                w.beginObject()
                request.write(to: &w)
                w.endObject()
                let again = try TaskRequest.parse(w.bytes, rules: rules)
                #expect(again == request, "round trip, input \(i)")
                accepted += 1
            } catch {
                refused += 1
                if Self.fieldCodes.contains(error.code) {
                    // The field's own name (its last path component, before any [index]) is in the message.
                    let leaf = error.field.map { String($0.split(separator: ".").last?.split(separator: "[").first ?? "") } ?? "?"
                    #expect(error.field != nil && (leaf.isEmpty || error.message.contains(leaf) || error.message.contains(FieldReader.quote(leaf).dropFirst().dropLast())),
                            "input \(i): \(error.message)")
                }
                #expect(!error.message.isEmpty && !error.message.contains("\n"), "input \(i): one line")
            }
        }
        #expect(accepted > 0 && refused > 0, "the mutations reach both outcomes (\(accepted) accepted, \(refused) refused)")
    }

    @Test func configurationsDecodeOrNameTheirKey() {
        var rng = Rng(state: 0xD1B54A32D192ED03)
        var refused = 0
        for i in 0..<Self.iterations / 4 {
            let input = Self.mutate(Self.configSeeds[i % Self.configSeeds.count], &rng)
            do {
                let json = try JSONParser.parse(input)
                _ = try Configuration(json: json)
            } catch let error as HopperError {
                refused += 1
                if Self.fieldCodes.contains(error.code) { #expect(error.field != nil, "input \(i): \(error.message)") }
            } catch let error as JSONError {
                refused += 1
                #expect(!error.message.isEmpty)
            } catch {
                Issue.record("input \(i): unexpected error type \(error)")
            }
        }
        #expect(refused > 0)
    }
}
