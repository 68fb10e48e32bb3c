import Glibc
import Testing
@testable import HopperCore

/// Hostile drops that RejectionTests does not cover, all into one daemon:
/// each is either run (once) or rejected with its explanation and kept, the
/// daemon stays up with flat descriptors and memory, and the next task runs.
@Suite(.serialized) struct HostileFileTests {
    /// What a drop must come to.
    enum Expected {
        /// Rejected with one of these codes (and naming `field`, when given).
        case rejected([String], field: String?)
        /// Run once, ending in this state.
        case ran(String)
    }

    /// Content of the requests in the table, by file name.
    static let requests: [(name: String, text: String, expected: Expected)] = [
        // Ids: the contract's grammar is ASCII [A-Za-z0-9][A-Za-z0-9._-]{0,127}, nothing else.
        ("id-slash.json", #"{"id": "a/b", "command": "true"}"#, .rejected(["invalid_field"], field: "id")),
        ("id-nul.json", #"{"id": "a\u0000b", "command": "true"}"#, .rejected(["invalid_field"], field: "id")),
        ("id-300.json", #"{"id": "\#(String(repeating: "x", count: 300))", "command": "true"}"#, .rejected(["invalid_field"], field: "id")),
        ("id-128.json", #"{"id": "\#(String(repeating: "y", count: 128))", "command": "true"}"#, .ran("succeeded")),
        // "tаsk" with a Cyrillic а (U+0430): looks like an id, is not one.
        ("id-cyrillic.json", #"{"id": "t\#u{0430}sk", "command": "true"}"#, .rejected(["invalid_field"], field: "id")),
        ("id-dotdot.json", #"{"id": "..", "command": "true"}"#, .rejected(["invalid_field"], field: "id")),
        // -0 is zero: accepted where zero is allowed, rejected where it is not.
        ("zero-priority.json", #"{"id": "zero-priority", "command": "true", "priority": -0}"#, .ran("succeeded")),
        ("zero-priority-float.json", #"{"id": "zero-priority-float", "command": "true", "priority": -0.0}"#, .ran("succeeded")),
        ("zero-retries.json", #"{"id": "zero-retries", "command": "exit 3", "retries": -0}"#, .ran("failed")),
        ("zero-queue-timeout.json", #"{"id": "zero-queue-timeout", "command": "true", "queue_timeout": -0.0}"#, .ran("succeeded")),
        ("zero-timeout.json", #"{"id": "zero-timeout", "command": "true", "timeout": -0}"#, .rejected(["invalid_field"], field: "timeout")),
        ("zero-timeout-float.json", #"{"id": "zero-timeout-float", "command": "true", "timeout": -0.0}"#, .rejected(["invalid_field"], field: "timeout")),
        ("tiny-timeout.json", #"{"id": "tiny-timeout", "command": "true", "timeout": 1e-999}"#, .rejected(["invalid_field"], field: "timeout")),
        // NUL inside a command is text JSON allows but no shell can take.
        ("nul-command.json", #"{"id": "nul-command", "command": "echo a\u0000b"}"#, .rejected(["invalid_field"], field: "command")),
        ("nul-env.json", #"{"id": "nul-env", "command": "true", "env": {"A": "x\u0000y"}}"#, .rejected(["invalid_field"], field: "env.A")),
        ("nul-cwd.json", #"{"id": "nul-cwd", "command": "true", "cwd": "/tmp\u0000/x"}"#, .rejected(["invalid_field"], field: "cwd")),
        // Names: spaces and non-ASCII are fine, and the record's source is the name as dropped.
        ("with space.json", #"{"command": "echo spaced"}"#, .ran("succeeded")),
        ("naïve – ünïcødé.sh", "echo accented\n", .ran("succeeded")),
        ("日本語.json", #"{"command": "echo kanji"}"#, .ran("succeeded")),
        ("tаsk.json", #"{"command": "echo cyrillic name"}"#, .ran("succeeded")),
    ]

    @Test func aHostileSetIsSortedOutAndNothingIsLost() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""default_provider": "exec""#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("warm.json", #"{"id": "warm", "command": "true"}"#)
        _ = try await eventuallyValue("the warm-up task") { t.record("warm") }
        let before = try FaultProbes.usage(daemon)

        var expected: [String: Expected] = [:]
        for (name, text, outcome) in Self.requests {
            try t.drop(name, text)
            expected[name] = outcome
        }
        // Random bytes, under both suffixes.
        try FaultProbes.drop(t, "random.json", FaultProbes.randomBytes(4096, seed: 0x5DEECE66D))
        try FaultProbes.drop(t, "random.sh", FaultProbes.randomBytes(4096, seed: 0x2545F4914F6CDD1D))
        expected["random.json"] = .rejected(["not_utf8", "invalid_json"], field: nil)
        expected["random.sh"] = .rejected(["not_utf8"], field: nil)
        // A socket bound right in incoming/.
        try FaultProbes.bindSocket(at: t.spool + "/incoming/socket.json")
        expected["socket.json"] = .rejected(["not_regular_file"], field: nil)
        // 100 MB (sparse): refused by its size, never read.
        let hugeTemp = t.spool + "/incoming/.huge.part"
        try FaultProbes.write(hugeTemp, Array(#"{"command": ""#.utf8))
        #expect(truncate(hugeTemp, 100_000_000) == 0)
        #expect(rename(hugeTemp, t.spool + "/incoming/huge.json") == 0)
        expected["huge.json"] = .rejected(["too_large"], field: nil)

        // Every drop settles one way or the other; then each is judged.
        try await eventually("every drop rejected or run", timeout: 30) {
            let sources = Set(t.records().values.compactMap { $0["source"]?.stringValue })
            return expected.keys.allSatisfy { sources.contains($0) || t.read("rejected/\($0).error.json") != nil }
        }
        var ranSources: Set<String> = []
        for (name, outcome) in expected.sorted(by: { $0.key < $1.key }) {
            let record = t.record(source: name)
            let r = t.read("rejected/\(name).error.json").flatMap { try? JSONParser.parse($0).objectValue }
            switch outcome {
            case .rejected(let codes, let field):
                #expect(record == nil, "\(name) must not run: \(String(describing: record))")
                guard let r else { continue }
                #expect(codes.contains(r["error"]?.stringValue ?? ""), "\(name): \(r)")
                #expect(r["file"] == .string(name))
                #expect(r["message"]?.stringValue?.isEmpty == false)
                if let field {
                    #expect(r["field"] == .string(field), "\(name): \(r)")
                    #expect(r["message"]?.stringValue?.contains(field) == true, "\(name): \(r)")
                }
                #expect(access(t.spool + "/rejected/" + name, F_OK) == 0, "\(name) itself is kept")
            case .ran(let state):
                #expect(r == nil, "\(name) must not be rejected: \(String(describing: r))")
                guard let record else { continue }
                #expect(record["state"] == .string(state), "\(name): \(record)")
                ranSources.insert(name)
            }
        }
        // The names as dropped, and what their commands printed.
        let out = { (name: String) in t.record(source: name)?["id"]?.stringValue.flatMap { t.read("done/\($0).out") } }
        #expect(out("with space.json") == "spaced\n")
        #expect(out("naïve – ünïcødé.sh") == "accented\n")
        #expect(out("日本語.json") == "kanji\n")
        #expect(out("tаsk.json") == "cyrillic name\n")
        #expect(t.record(source: "with space.json")?["id"]?.stringValue?.hasPrefix("with_space-") == true)
        #expect(t.record(source: "tаsk.json")?["id"]?.stringValue?.hasPrefix("t__sk-") == true, "the look-alike is sanitized out of the generated id")
        // -0 is written back as zero.
        #expect(t.record("zero-retries")?["attempts"] == .int(1), "retries -0 means no retry")
        // Exactly one record per task that ran, and nothing else in done/.
        let records = t.records()
        #expect(records.count == ranSources.count + 1, "records: \(records.keys.sorted())")
        #expect(Set(records.values.compactMap { $0["source"]?.stringValue }) == ranSources.union(["warm.json"]))
        #expect(t.names("incoming").isEmpty)

        // The daemon is up, the next task runs, and it did not pay for the drops.
        try t.drop("next.json", #"{"id": "next", "command": "echo next"}"#)
        #expect(try await eventuallyValue("the next task") { t.record("next") }["state"] == .string("succeeded"))
        let after = try FaultProbes.usage(daemon)
        #expect(after.rssKiB - before.rssKiB < 16 * 1024, "RSS: \(before.rssKiB) KiB before, \(after.rssKiB) KiB after")
        try await FaultProbes.descriptorsSettle(daemon, at: before.fds)
        #expect(daemon.exitStatus == nil)
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }

    @Test func writtenBackZeroIsNotNegative() async throws {
        // What Hopper writes of a -0 it accepted: the task file holds zero, not -0.
        let request = try TaskRequest.parse(Array(#"{"command": "x", "priority": -0.0, "queue_timeout": -0.0, "retries": -0}"#.utf8),
                                            rules: .init(providers: nil, maxTimeout: 10))
        var w = JSONWriter()
        w.beginObject()
        request.write(to: &w)
        w.endObject()
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(!text.contains("-0"), "\(text)")
        #expect(request.queueTimeout == 0 && request.queueTimeout?.sign == .plus)
    }

    @Test func runAfterReadsBackAsWritten() throws {
        // Found by the fuzzer at 10 million inputs: a leap second (59.999999999) came back as 59.999999.
        for time in ["2026-01-01T00:00:60Z", "2026-01-01T00:00:00.123456789Z", "1969-12-31T23:59:59.9999999Z"] {
            let rules = TaskRequest.Rules(providers: nil, maxTimeout: 10)
            let request = try TaskRequest.parse(Array(#"{"command": "x", "run_after": "\#(time)"}"#.utf8), rules: rules)
            var w = JSONWriter()
            w.beginObject()
            request.write(to: &w)
            w.endObject()
            #expect(try TaskRequest.parse(w.bytes, rules: rules) == request, "\(time)")
        }
    }

    @Test func twoFilesWithTheSameIdAtOnceRunOnce() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""default_provider": "exec""#))
        // Pairs present at start are taken in one scan; pairs dropped live, in one instant, by inotify.
        try Spool.create(at: t.spool)
        func stage(_ round: String, first: String, second: String) throws -> (String, String) {
            let a = "\(round)-\(first).json", b = "\(round)-\(second).json"
            try t.write(t.spool + "/incoming/.\(a).part", #"{"id": "\#(round)", "command": "echo \#(first)"}"#)
            try t.write(t.spool + "/incoming/.\(b).part", #"{"id": "\#(round)", "command": "echo \#(second)"}"#)
            return (a, b)
        }
        func release(_ pair: (String, String)) {
            rename(t.spool + "/incoming/.\(pair.0).part", t.spool + "/incoming/" + pair.0)
            rename(t.spool + "/incoming/.\(pair.1).part", t.spool + "/incoming/" + pair.1)
        }
        var rounds = [("early", try stage("early", first: "a", second: "b"))]
        release(rounds[0].1)
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<6 {
            // Alternate which of the two lands first.
            let round = "twin\(i)"
            let pair = try i % 2 == 0 ? stage(round, first: "a", second: "b") : stage(round, first: "b", second: "a")
            release(pair)
            rounds.append((round, pair))
        }
        for (id, pair) in rounds {
            let record = try await eventuallyValue("\(id)'s record") { t.record(id) }
            let source = try #require(record["source"]?.stringValue)
            #expect(source == pair.0 || source == pair.1)
            let loser = source == pair.0 ? pair.1 : pair.0
            let r = try await FaultProbes.rejection(t, loser)
            #expect(r["error"] == .string("duplicate_id"), "\(loser): \(r)")
            #expect(r["field"] == .string("id"))
            // The record is the winner's: its own command ran.
            let winner = source.dropFirst(id.count + 1).prefix(1)
            #expect(t.read("done/\(id).out") == "\(winner)\n")
            #expect(access(t.spool + "/rejected/" + source, F_OK) != 0, "the winner was not also rejected")
        }
        #expect(t.records().count == rounds.count)
        #expect(t.names("rejected").count == rounds.count * 2)
        let accepted = try t.events().filter { $0["event"] == .string("task.accepted") }.count
        #expect(accepted == rounds.count, "one acceptance per id")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }
}

/// A client that writes a request in place under its final name instead of
/// write-then-rename (SPEC section 2: "taken when it is closed after
/// writing"). Whatever it does, nothing is lost: the task runs the whole
/// text, or the file is rejected and kept, never half-run.
@Suite(.serialized) struct CarelessWriterTests {
    /// A descriptor a test writes through in pieces.
    final class Writer {
        let fd: Int32
        init(_ path: String, append: Bool = false) throws {
            fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
            guard fd >= 0 else { throw SystemError("open", path, errno: .current) }
        }
        func write(_ text: String) throws { try FileDescriptor(rawValue: fd).writeAll(Array(text.utf8)) }
        func close() { Glibc.close(fd) }
    }

    static func halves(_ text: String) -> (String, String) {
        let middle = text.index(text.startIndex, offsetBy: text.count / 2)
        return (String(text[..<middle]), String(text[middle...]))
    }

    @Test func halfWrittenFilesRunWholeOrAreRejectedAndKept() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""default_provider": "exec""#))
        try Spool.create(at: t.spool)
        let incoming = t.spool + "/incoming/"
        // Half-written when the daemon starts: the start scan takes it as it is.
        let earlyText = #"{"id": "early", "command": "echo early"}"#
        let early = try Writer(incoming + "early.json")
        try early.write(Self.halves(earlyText).0)
        let daemon = try await DaemonProcess(t).ready()
        let daemonBefore = try FaultProbes.usage(daemon)

        // One open, two writes with a pause: waited for until the close.
        let heldText = #"{"id": "held", "command": "echo held whole"}"#
        let held = try Writer(incoming + "held.json")
        try held.write(Self.halves(heldText).0)
        try t.drop("marker1.json", #"{"id": "marker1", "command": "true"}"#)
        _ = try await eventuallyValue("a task dropped after the half") { t.record("marker1") }
        #expect(t.names("incoming").contains("held.json"), "not taken while open for writing")
        #expect(t.record("held") == nil)
        try held.write(Self.halves(heldText).1)
        held.close()
        let record = try await eventuallyValue("held's record") { t.record("held") }
        #expect(record["state"] == .string("succeeded"))
        #expect(t.read("done/held.out") == "held whole\n")

        // Two opens: the first close hands over half a request, which is rejected and kept;
        // the second open makes a new file of the rest, rejected and kept too.
        let twiceText = #"{"id": "twice", "command": "echo twice"}"#
        let first = try Writer(incoming + "twice.json")
        try first.write(Self.halves(twiceText).0)
        first.close()
        #expect(try await FaultProbes.rejection(t, "twice.json")["error"] == .string("invalid_json"))
        let second = try Writer(incoming + "twice.json", append: true)
        try second.write(Self.halves(twiceText).1)
        second.close()
        try await eventually("the rest filed apart") { t.read("rejected/twice.json.1.error.json") != nil }
        #expect((t.read("rejected/twice.json") ?? "") + (t.read("rejected/twice.json.1") ?? "") == twiceText, "every byte kept")
        #expect(t.record("twice") == nil, "half a request never runs")

        // The early one was rejected half-written; its writer finishes into the kept file.
        #expect(try await FaultProbes.rejection(t, "early.json")["error"] == .string("invalid_json"))
        try early.write(Self.halves(earlyText).1)
        early.close()
        #expect(t.read("rejected/early.json") == earlyText)
        #expect(t.record("early") == nil)

        try t.drop("next.json", #"{"id": "next", "command": "true"}"#)
        _ = try await eventuallyValue("the next task") { t.record("next") }
        #expect(t.records().count == 3, "marker1, held, next: \(t.records().keys.sorted())")
        try await FaultProbes.descriptorsSettle(daemon, at: daemonBefore.fds)
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }
}
