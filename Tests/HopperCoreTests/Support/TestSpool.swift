import Glibc
@testable import HopperCore

/// A temporary directory holding a spool and a configuration, removed at the
/// end. Every process a test starts through it carries a unique marker in its
/// environment, so the test can prove that none survived.
final class TestSpool {
    let base: String
    let marker: String
    var spool: String { base + "/spool" }
    var configPath: String { base + "/hopper.json" }

    /// Fast timeouts so tests finish quickly; the top-level keys in
    /// `overrides` (the inside of a JSON object) replace the defaults'.
    static func configuration(_ overrides: String = "") -> String {
        var base = JSONObject([
            ("workers", .int(2)),
            ("durability", .string("none")),
            ("shutdown_grace", .int(5)),
            ("timeouts", .object(JSONObject([("command", .object(JSONObject([
                ("default_timeout", .int(60)), ("max_timeout", .int(600)), ("kill_grace", .double(0.5)),
                ("retry_delay", .array([.double(0.05), .double(0.1)])),
            ])))]))),
        ])
        if !overrides.isEmpty, let extra = try! JSONParser.parse("{" + overrides + "}").objectValue {
            for (key, value) in extra { base[key] = value }
        }
        return JSONValue.object(base).prettyPrinted()
    }

    init(config: String? = TestSpool.configuration()) throws {
        var template = Array("/tmp/hopper-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: .current) }
        base = String(cString: p)
        marker = "HOPPER_TEST_MARKER=" + IDSuffixGenerator.random(12)
        if let config { try write(configPath, config) }
    }

    deinit {
        // HOPPER_TEST_KEEP=1 keeps spools and daemon logs for a post-mortem.
        if getenv("HOPPER_TEST_KEEP") == nil { _ = try? runProcess(["/bin/rm", "-rf", base]) }
    }

    func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open", path, errno: .current) }
        defer { close(fd) }
        try FileDescriptor(rawValue: fd).writeAll(Array(text.utf8))
    }

    func read(_ relative: String) -> String? {
        (try? AtomicFile.read(path: spool + "/" + relative)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Drops a request the safe way: written under a dot name, then renamed in.
    func drop(_ name: String, _ text: String) throws {
        let temp = spool + "/incoming/.\(name).part"
        try write(temp, text)
        guard rename(temp, spool + "/incoming/" + name) == 0 else { throw SystemError("rename", name, errno: .current) }
    }

    /// Names in a spool directory.
    func names(_ directory: String) -> [String] {
        guard let d = try? Directory.open(spool + "/" + directory) else { return [] }
        defer { d.close() }
        return ((try? d.entries()) ?? []).map(\.escaped).sorted()
    }

    /// The record of a finished task.
    func record(_ id: String) -> JSONObject? {
        guard let text = read("done/\(id).json"), let json = try? JSONParser.parse(text) else { return nil }
        return json.objectValue
    }

    /// Every record in done/, by id.
    func records() -> [String: JSONObject] {
        var result: [String: JSONObject] = [:]
        for name in names("done") where name.hasSuffix(".json") {
            let id = String(name.dropLast(5))
            if let r = record(id) { result[id] = r }
        }
        return result
    }

    /// The record of the task dropped as `source`, found by its `source` field.
    func record(source: String) -> JSONObject? {
        records().values.first { $0["source"]?.stringValue == source }
    }

    /// Every line of events.jsonl, parsed.
    func events() throws -> [JSONObject] {
        guard let text = read("events.jsonl") else { return [] }
        return try text.split(separator: "\n").map { line in
            guard let o = try JSONParser.parse(String(line)).objectValue else { throw TimedOut(what: "an event object") }
            return o
        }
    }

    /// Runs the `hopper` CLI on this spool and configuration.
    func hopper(_ args: [String], environment: [String] = []) throws -> ProcessOutput {
        // Right after the subcommand: `submit` takes every word after its first operand as the command.
        let argv = [TestSpool.hopperBinary] + args.prefix(1) + ["--spool", spool, "--config", configPath] + args.dropFirst()
        return try runProcess(argv, environment: environment + [marker])
    }

    /// Processes still alive that carry this test's marker.
    func survivors(excluding: Set<pid_t> = []) -> [ProcessID] {
        ProcessScan.processes(withEnvironment: marker).filter { !excluding.contains($0.rawValue) && !TestSpool.isZombie($0) }
    }

    /// Survivors whose command line contains `text` (a task's own process,
    /// as opposed to the session shell that ran it).
    func survivors(running text: String) -> [ProcessID] {
        survivors().filter { pid in (TestSpool.commandLine(pid) ?? []).joined(separator: " ").contains(text) }
    }

    /// A process's argv (empty words left out), from /proc; nil once it is gone.
    static func commandLine(_ pid: ProcessID) -> [String]? {
        guard let cmdline = try? AtomicFile.read(path: "/proc/\(pid.rawValue)/cmdline") else { return nil }
        return cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    static func isZombie(_ pid: ProcessID) -> Bool {
        guard let stat = try? AtomicFile.read(path: "/proc/\(pid.rawValue)/stat") else { return true }
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return false }
        return text[text.index(close, offsetBy: 2)] == "Z"
    }

    /// The `hopper` binary built next to the test bundle.
    static let hopperBinary: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = String(decoding: buffer[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var dir = exe.split(separator: "/").dropLast().joined(separator: "/")
        // The test bundle may sit inside a .xctest directory.
        if dir.hasSuffix(".xctest") { dir = dir.split(separator: "/").dropLast().joined(separator: "/") }
        return "/" + dir + "/hopper"
    }()
}

/// What a finished process printed.
struct ProcessOutput {
    var status: ExitStatus
    var stdout: String
    var stderr: String
    var exitCode: Int32 { if case .exited(let c) = status { return c }; return -1 }
}

/// Runs `argv` to completion with output captured through temporary files.
func runProcess(_ argv: [String], environment: [String] = [], stdin: String? = nil) throws -> ProcessOutput {
    Reaper.shared.start()
    var template = Array("/tmp/hopper-out-XXXXXX".utf8CString)
    let outFD = mkstemp(&template)
    let outPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var template2 = Array("/tmp/hopper-err-XXXXXX".utf8CString)
    let errFD = mkstemp(&template2)
    let errPath = String(decoding: template2.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    defer { unlink(outPath); unlink(errPath); close(outFD); close(errFD) }
    var request = SpawnRequest(executable: argv[0], arguments: argv, environment: inheritedEnvironment() + environment)
    request.stdout = .fd(FileDescriptor(rawValue: outFD))
    request.stderr = .fd(FileDescriptor(rawValue: errFD))
    request.newProcessGroup = false
    let process = try Spawner.spawn(request)
    let status = process.exit.wait()
    let out = (try? AtomicFile.read(path: outPath)) ?? []
    let err = (try? AtomicFile.read(path: errPath)) ?? []
    return ProcessOutput(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
}

/// The test process's environment as NAME=value strings, without Hopper's own variables.
func inheritedEnvironment() -> [String] {
    ProcessEnvironment.entries().filter { !$0.hasPrefix("HOPPER_") }
}
