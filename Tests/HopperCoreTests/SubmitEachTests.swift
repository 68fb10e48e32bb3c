import Glibc
import Testing
@testable import HopperCore

/// Many tasks in one `hopper submit`: `--each` (one task per line of
/// standard input, `{}` replaced by the line as one word) and `--file`
/// (request files); every request validated before any is written; and
/// the configuration read only for what validation needs.
@Suite(.serialized) struct SubmitEachTests {
    /// Lines a shell would mangle if they were not quoted, with empty lines between.
    static let trickyLines = [
        "plain", "two words", "  leading and trailing  ", "it's", #"say "hi""#, "$HOME and ${PATH}", "`id`; $(id)",
        #"back\slash \n"#, "*.json ?", "semi; colon & amp | pipe > out", "{}", "ünïcödé ✓", "-n",
    ]

    /// Runs `hopper ARGS` on the spool with `input` (bytes) as its standard input.
    func hopper(_ t: TestSpool, _ args: [String], input: [UInt8]) throws -> ProcessOutput {
        let path = t.base + "/stdin-" + IDSuffixGenerator.random(8)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open", path, errno: .current) }
        try FileDescriptor(rawValue: fd).writeAll(input)
        close(fd)
        let argv = [TestSpool.hopperBinary] + args.prefix(1) + ["--spool", t.spool, "--config", t.configPath] + args.dropFirst()
        return try runProcess(["/bin/sh", "-c", #"exec "$@" < "$0""#, path] + argv, environment: [t.marker])
    }

    func hopper(_ t: TestSpool, _ args: [String], input: String) throws -> ProcessOutput {
        try hopper(t, args, input: Array(input.utf8))
    }

    /// The request written for `id`, from incoming/.
    func request(_ t: TestSpool, _ id: String) throws -> JSONObject {
        try #require(try JSONParser.parse(t.read("incoming/\(id).json") ?? "").objectValue, "incoming/\(id).json")
    }

    // MARK: the template

    @Test func aOneWordTemplateQuotesTheLineAsOneShellWord() {
        let t = EachTemplate(["gzip -9 {} && echo {}"])
        #expect(t.command("a b") == "gzip -9 'a b' && echo 'a b'")
        #expect(t.command("it's") == #"gzip -9 'it'\''s' && echo 'it'\''s'"#)
        #expect(t.command("plain.log") == "gzip -9 plain.log && echo plain.log")
        #expect(EachTemplate(["gzip"]).command("a b") == "gzip 'a b'", "no {}: the line is the last word")
        #expect(EachTemplate([]).command("make -C src | tee log") == "make -C src | tee log", "no template: the line is the command")
    }

    @Test func severalTemplateWordsAreAnArgv() {
        let t = EachTemplate(["convert", "{}", "out/{}.png"])
        #expect(t.command("a b.jpg") == "convert 'a b.jpg' 'out/a b.jpg.png'")
        #expect(t.command("{}") == "convert '{}' 'out/{}.png'", "a {} in the line is not replaced again")
        #expect(EachTemplate(["rm", "--"]).command("-rf x") == "rm -- '-rf x'")
    }

    @Test func linesAreTakenExactlyAndEmptyOnesSkipped() throws {
        let lines = try EachInput.lines(Array("a\n\n b \r\n\nlast".utf8))
        #expect(lines.map(\.number) == [1, 3, 5])
        #expect(lines.map(\.text) == ["a", " b \r", "last"])
        #expect(try EachInput.lines([]).isEmpty)
        #expect(throws: HopperError.self) { try EachInput.lines([0x61, 0x0A, 0xFF, 0x0A]) }
    }

    // MARK: --each through the CLI

    @Test func eachWritesOneRequestPerLineInOrderAndTheyRunAsWritten() async throws {
        let t = try TestSpool()
        #expect(try t.hopper(["init"]).exitCode == 0)
        let input = SubmitEachTests.trickyLines.joined(separator: "\n\n") + "\n"
        let out = try hopper(t, ["submit", "--each", "--label", "batch=b1", "--priority", "4", "printf '%s\\n' {}"], input: input)
        #expect(out.exitCode == 0, "\(out.stderr)")
        let ids = out.stdout.split(separator: "\n").map(String.init)
        #expect(ids.count == SubmitEachTests.trickyLines.count)
        #expect(ids == ids.sorted(), "generated ids sort in input order")
        #expect(ids.allSatisfy { $0.hasPrefix("printf-") })
        #expect(t.names("incoming") == ids.map { $0 + ".json" }.sorted(), "no temporary file left behind")
        let first = try request(t, ids[0])
        #expect(first["labels"]?.objectValue?["batch"] == .string("b1"), "options apply to every task")
        #expect(first["priority"] == .int(4))
        #expect(try request(t, ids[3])["command"] == .string(#"printf '%s\n' 'it'\''s'"#))

        let daemon = try await DaemonProcess(t).ready()
        for (id, line) in zip(ids, SubmitEachTests.trickyLines) {
            let record = try await eventuallyValue("\(id)'s record") { t.record(id) }
            #expect(record["state"] == .string("succeeded"), "\(line)")
            #expect(t.read("done/\(id).out") == line + "\n", "the line reached printf as one argument: \(line)")
        }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func eachJSONNamesTheLineOfEveryTask() throws {
        let t = try TestSpool()
        _ = try t.hopper(["init"])
        let out = try hopper(t, ["submit", "--each", "--json", "--", "echo", "{}"], input: "x\n\ny z\n")
        #expect(out.exitCode == 0, "\(out.stderr)")
        let objects = try out.stdout.split(separator: "\n").map { try #require(try JSONParser.parse(String($0)).objectValue) }
        #expect(objects.map { $0["line"] } == [.int(1), .int(3)])
        let second = try #require(objects[1]["id"]?.stringValue)
        #expect(try request(t, second)["command"] == .string("echo 'y z'"))
    }

    @Test func aBadLineIsNamedAndNothingIsWritten() throws {
        let t = try TestSpool()
        _ = try t.hopper(["init"])
        let nul = try hopper(t, ["submit", "--each", "echo {}"], input: "one\ntwo\nth\u{0}ree\nfour\n")
        #expect(nul.exitCode == 2)
        #expect(nul.stderr.hasPrefix("hopper: cannot submit line 3: "), "\(nul.stderr)")
        #expect(nul.stderr.contains("NUL"))
        #expect(nul.stdout.isEmpty)
        let notUTF8 = try hopper(t, ["submit", "--each", "echo {}"], input: Array("one\n\n".utf8) + [0xC3, 0x28, 0x0A])
        #expect(notUTF8.exitCode == 2)
        #expect(notUTF8.stderr.contains("line 3: not valid UTF-8"), "\(notUTF8.stderr)")
        try t.write(t.configPath, TestSpool.configuration(#""limits": {"max_request_bytes": 200}"#))
        let long = try hopper(t, ["submit", "--each", "echo {}"], input: "short\n" + String(repeating: "x", count: 300) + "\n")
        #expect(long.exitCode == 2)
        #expect(long.stderr.contains("line 2: the request is"), "\(long.stderr)")
        #expect(t.names("incoming").isEmpty, "one bad line writes nothing")
    }

    @Test func eachRefusesWhatDoesNotFit() throws {
        let t = try TestSpool()
        _ = try t.hopper(["init"])
        let withID = try hopper(t, ["submit", "--each", "--id", "x", "echo {}"], input: "a\n")
        #expect(withID.exitCode == 2)
        #expect(withID.stderr.contains("--id names one task"))
        #expect(try hopper(t, ["submit", "--each", "--file", "a.json"], input: "a\n").exitCode == 2)
        let empty = try hopper(t, ["submit", "--each", "echo {}"], input: "\n\n")
        #expect(empty.exitCode == 0 && empty.stdout.isEmpty, "no lines, no tasks")
        let noSpool = try runProcess([TestSpool.hopperBinary, "submit", "--spool", t.base + "/none", "--each", "true"])
        #expect(noSpool.exitCode == 2)
        #expect(noSpool.stderr.contains("no spool"))
    }

    @Test func twentyThousandLinesInOneCall() throws {
        let t = try TestSpool()
        _ = try t.hopper(["init"])
        let n = 20_000
        let input = (1...n).map { "item \($0)" }.joined(separator: "\n")
        let start = MonotonicInstant.now()
        let out = try hopper(t, ["submit", "--each", "echo {}"], input: input)
        let seconds = Double(MonotonicInstant.now().nanoseconds - start.nanoseconds) / 1e9
        #expect(out.exitCode == 0, "\(out.stderr)")
        let ids = out.stdout.split(separator: "\n").map(String.init)
        #expect(ids.count == n)
        #expect(Set(ids).count == n)
        #expect(ids == ids.sorted())
        #expect(t.names("incoming").count == n)
        #expect(try request(t, ids[n - 1])["command"] == .string("echo 'item \(n)'"))
        // A debug build on a busy machine: generous, yet far from one process per task.
        #expect(seconds < 60, "\(seconds) s")
    }

    @Test func aReaderThatGoesAwayDoesNotStopTheSubmit() throws {
        let t = try TestSpool()
        _ = try t.hopper(["init"])
        let n = 5_000
        let input = t.base + "/lines"
        try t.write(input, String(repeating: "true\n", count: n))
        // `true` exits without reading: the ids (flushed every 64 KiB) meet a closed pipe.
        let argv = [TestSpool.hopperBinary, "submit", "--spool", t.spool, "--config", t.configPath, "--each"]
        let out = try runProcess(["/bin/sh", "-c", #""$@" < "$0" | true"#, input] + argv, environment: [t.marker])
        #expect(out.exitCode == 0)
        #expect(t.names("incoming").count == n, "every task written though nobody read the ids")
    }

    // MARK: --file

    @Test func severalRequestFilesInOneCall() async throws {
        let t = try TestSpool()
        _ = try t.hopper(["init"])
        let dir = t.base + "/batch"
        mkdir(dir, 0o755)
        try t.write(dir + "/build.json", #"{"command": "echo built", "env": {"A": "1"}, "after": []}"#)
        try t.write(dir + "/named.json", #"{"id": "named", "command": "echo named"}"#)
        try t.write(dir + "/script.sh", "echo from a script\n")
        let out = try t.hopper(["submit", "--env", "B=2", "--priority", "9", "--file", dir + "/build.json", dir + "/named.json", dir + "/script.sh"])
        #expect(out.exitCode == 0, "\(out.stderr)")
        let ids = out.stdout.split(separator: "\n").map(String.init)
        #expect(ids.count == 3)
        #expect(ids[0].hasPrefix("build-") && ids[1] == "named" && ids[2].hasPrefix("script-"))
        let build = try request(t, ids[0])
        #expect(build["env"]?.objectValue?["A"] == .string("1") && build["env"]?.objectValue?["B"] == .string("2"), "--env adds to the file's")
        #expect(build["priority"] == .int(9), "options replace the file's fields")
        #expect(try request(t, ids[2])["command"] == .string("echo from a script\n"))

        let again = try t.hopper(["submit", "--json", "--file", dir + "/named.json"])
        #expect(again.exitCode == 2, "a given id is checked against the spool")
        #expect(again.stderr.contains("named already exists"))
        let fromStdin = try hopper(t, ["submit", "--json", "--file", "-"], input: #"{"command": "echo piped"}"#)
        #expect(fromStdin.exitCode == 0, "\(fromStdin.stderr)")
        let piped = try #require(try JSONParser.parse(fromStdin.stdout.trimmedLine).objectValue)
        #expect(piped["file"] == .string("-"))

        let daemon = try await DaemonProcess(t).ready()
        for (id, text) in zip(ids, ["built", "named", "from a script"]) {
            _ = try await eventuallyValue("\(id)'s record") { t.record(id) }
            #expect(t.read("done/\(id).out") == text + "\n")
        }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func oneInvalidFileWritesNone() throws {
        let t = try TestSpool()
        _ = try t.hopper(["init"])
        try t.write(t.base + "/good.json", #"{"command": "true"}"#)
        try t.write(t.base + "/bad.json", #"{"command": "true", "priority": "high"}"#)
        try t.write(t.base + "/twin.json", #"{"id": "twin", "command": "true"}"#)
        let bad = try t.hopper(["submit", "--file", t.base + "/good.json", t.base + "/bad.json"])
        #expect(bad.exitCode == 2)
        #expect(bad.stderr.hasPrefix("hopper: cannot submit \(t.base)/bad.json: field \"priority\""), "\(bad.stderr)")
        let twice = try t.hopper(["submit", "--file", t.base + "/twin.json", t.base + "/twin.json"])
        #expect(twice.exitCode == 2, "the same id twice in one call")
        let missing = try t.hopper(["submit", "--file", t.base + "/good.json", t.base + "/missing.json"])
        #expect(missing.exitCode == 2)
        #expect(missing.stderr.contains("missing.json"))
        #expect(t.names("incoming").isEmpty)
        #expect(try t.hopper(["submit", "--id", "x", "--file", t.base + "/good.json", t.base + "/twin.json"]).exitCode == 2)
    }

    // MARK: what a call reads of the configuration

    @Test func theSubmitRulesAgreeWithTheConfiguration() throws {
        let defaults = Configuration()
        #expect(SubmitRules.defaults.providers == Set(defaults.providers.keys))
        #expect(SubmitRules.defaults.maxTimeout == defaults.commandMaxTimeout)
        #expect(SubmitRules.defaults.maxRequestBytes == defaults.maxRequestBytes)
        let documents = [
            "{}",
            #"{"limits": {"max_request_bytes": 2}, "timeouts": {"command": {"max_timeout": 0.5, "default_timeout": 0.25}}}"#,
            #"{"limits": {"max_request_bytes": 1073741824, "max_output_bytes": 0}, "timeouts": {"command": {"max_timeout": 1e9, "default_timeout": 1}}}"#,
            #"{"providers": {"fast": {"mode": "exec", "command": ["/bin/sh", "-c", "{command}"]}}, "default_provider": "fast"}"#,
            #"{"limits": {"max_request_bytes": 1}}"#,
            #"{"limits": {"max_request_bytes": 1073741825}}"#,
            #"{"limits": null, "timeouts": {"command": null}}"#,
            #"{"timeouts": {"command": {"max_timeout": 0}}}"#,
            #"{"timeouts": {"command": {"max_timeout": 1000000001}}}"#,
            #"{"timeouts": {"command": {"max_timeout": "10"}}}"#,
            #"{"limits": []}"#,
        ]
        for text in documents {
            let json = try JSONParser.parse(text)
            let full = Result(catching: { () throws(HopperError) -> Configuration in try Configuration(json: json) })
            let quick = Result(catching: { () throws(HopperError) -> SubmitRules? in try SubmitRules.read(json) })
            switch (full, quick) {
            case (.success(let config), .success(let rules?)):
                #expect(rules.request.providers == Set(config.providers.keys), "\(text)")
                #expect(rules.request.maxTimeout == config.commandMaxTimeout, "\(text)")
                #expect(rules.maxRequestBytes == config.maxRequestBytes, "\(text)")
            case (.failure(let a), .failure(let b)):
                #expect(a.message == b.message, "the same message: \(text)")
            default:
                Issue.record("the readers disagree on \(text): \(full) / \(quick)")
            }
        }
        // A provider name the quick reader cannot vouch for goes through the full decoder.
        #expect(try SubmitRules.read(JSONParser.parse(#"{"providers": {"bad name": {}}}"#)) == nil)
    }

    @Test func aBrokenConfigurationStillStopsASubmit() throws {
        let t = try TestSpool(config: #"{"timeouts": {"command": {"max_timeout": -1}}}"#)
        _ = try t.hopper(["init"])
        let out = try t.hopper(["submit", "true"])
        #expect(out.exitCode == 2)
        #expect(out.stderr.contains("timeouts.command.max_timeout"), "\(out.stderr)")
        try t.write(t.configPath, #"{"providers": {"x y": {}}}"#)
        let named = try t.hopper(["submit", "true"])
        #expect(named.exitCode == 2)
        #expect(named.stderr.contains("providers"), "\(named.stderr)")
        #expect(t.names("incoming").isEmpty)
    }

    @Test func everyCommandInTheTableIsTheOneItNames() {
        for entry in HopperCLI.table { #expect(entry.make().name == entry.name) }
        #expect(HopperCLI.command(named: "submit")?.name == "submit")
        #expect(HopperCLI.command(named: "nosuch") == nil)
    }
}
