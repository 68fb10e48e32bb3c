import Glibc
import Testing
@testable import HopperCore

/// The tools people submit with, run for real against a running daemon:
/// rsync (renamed in from its hidden temporary file, `--inplace`, and
/// `--delay-updates` through a hidden directory), cp, tar -x and mv from
/// another filesystem (written in place), sed -i on a hidden staged file,
/// and promtool reading the metrics.
/// Each file is taken once and whole; nothing is rejected, nothing is left in
/// incoming/.
///
/// `HOPPER_REQUIRE_CLIENT_TOOLS=1` (CI) makes a missing tool a failure;
/// elsewhere the test is skipped with a message naming it. promtool is taken
/// from `HOPPER_TEST_PROMTOOL`, else the PATH.
@Suite struct ClientToolTests {
    static var isRequired: Bool { Environment.get("HOPPER_REQUIRE_CLIENT_TOOLS") == "1" }

    /// Tools that a variable may point at, where the PATH has none (CI unpacks promtool into .build/).
    static let given = ["promtool": "HOPPER_TEST_PROMTOOL"]

    static func tool(_ name: String) -> String? {
        given[name].flatMap(Environment.get).flatMap { access($0, X_OK) == 0 ? $0 : nil } ?? ExamplesTests.onPath(name)
    }

    static func available(_ name: String) -> Bool { tool(name) != nil || isRequired }

    static func require(_ name: String) throws -> String {
        try #require(tool(name), "HOPPER_REQUIRE_CLIENT_TOOLS=1 but \(name) is not installed")
    }

    /// A spool with a running daemon and a batch in `src/`: `count` requests
    /// (`r<i>.json`, one of them over half a MiB), and a script `s.sh`.
    func batch(count: Int = 30) async throws -> (TestSpool, DaemonProcess, src: String) {
        let t = try TestSpool(config: TestSpool.configuration(#""default_provider": "exec", "intake": {"settle": 0.25}"#))
        try Spool.create(at: t.spool)
        let src = t.base + "/src"
        mkdir(src, 0o755)
        for i in 0..<count {
            // The first carries a large stdin, so the tool writes it in many pieces.
            let stdin = i == 0 ? #", "stdin": "\#(String(repeating: "x", count: 600_000))""# : ""
            let command = i == 0 ? "wc -c" : "echo got \(i)"
            try t.write("\(src)/r\(i).json", #"{"id": "r\#(i)", "command": "\#(command)"\#(stdin)}"#)
        }
        try t.write(src + "/s.sh", "echo from a script\n")
        return (t, try await DaemonProcess(t).ready(), src)
    }

    /// Every file of `batch` ran once, with its own output, and nothing else happened.
    func expectEachTakenOnce(_ t: TestSpool, count: Int = 30, _ tool: String) async throws {
        try await eventually("\(tool): \(count + 1) records", timeout: 30) { t.records().count == count + 1 }
        try await eventually("\(tool): incoming/ empty") { t.names("incoming").isEmpty }
        #expect(t.names("rejected").isEmpty, "\(tool): \(t.names("rejected"))")
        #expect(t.records().count == count + 1, "\(tool): nothing taken twice")
        #expect(t.read("done/r0.out") == "600000\n", "\(tool): the large request was read whole")
        for i in 1..<count {
            #expect(t.record("r\(i)")?["state"] == .string("succeeded"), "\(tool): r\(i)")
            #expect(t.read("done/r\(i).out") == "got \(i)\n", "\(tool): r\(i)")
        }
        let script = try #require(t.record(source: "s.sh"), "\(tool): the script's record")
        let id = try #require(script["id"]?.stringValue)
        #expect(t.read("done/\(id).out") == "from a script\n", "\(tool)")
    }

    @Test(.enabled(if: available("rsync"), "rsync is not installed (HOPPER_REQUIRE_CLIENT_TOOLS=1 makes this a failure)"),
          arguments: [["-a"], ["-a", "--inplace"], ["-a", "--delay-updates"]])
    func rsyncTakesEachFileOnce(options: [String]) async throws {
        let rsync = try Self.require("rsync")
        let (t, daemon, src) = try await batch()
        let run = try runProcess([rsync] + options + [src + "/", t.spool + "/incoming/"])
        #expect(run.exitCode == 0, "rsync \(options): \(run.stderr)")
        try await expectEachTakenOnce(t, "rsync \(options.joined(separator: " "))")
        #expect(try await daemon.stop() == .exited(0))
    }

    @Test func cpTakesEachFileOnce() async throws {
        let (t, daemon, src) = try await batch()
        let run = try runProcess(["/bin/sh", "-c", "cp \"$0\"/*.json \"$0\"/*.sh \"$1\"", src, t.spool + "/incoming/"])
        #expect(run.exitCode == 0, "cp: \(run.stderr)")
        try await expectEachTakenOnce(t, "cp")
        #expect(try await daemon.stop() == .exited(0))
    }

    @Test func tarExtractTakesEachMemberOnce() async throws {
        let (t, daemon, src) = try await batch()
        let archive = t.base + "/batch.tar"
        // Members named one by one: a "./" entry would also reset incoming/'s own mode and times.
        let pack = try runProcess(["/bin/sh", "-c", "cd \"$0\" && tar -cf \"$1\" *.json *.sh", src, archive])
        #expect(pack.exitCode == 0, "tar -c: \(pack.stderr)")
        let run = try runProcess(["tar", "-xf", archive, "-C", t.spool + "/incoming"])
        #expect(run.exitCode == 0, "tar -x: \(run.stderr)")
        try await expectEachTakenOnce(t, "tar -x")
        #expect(try await daemon.stop() == .exited(0))
    }

    /// `mv` from another filesystem (a cron job staging in /dev/shm) cannot
    /// rename: it copies each file into incoming/ under its final name, sets
    /// its times and mode, then removes the source.
    @Test func mvFromAnotherFilesystemTakesEachFileOnce() async throws {
        let (t, daemon, src) = try await batch()
        var shm = stat(), spool = stat()
        let staging = "/dev/shm/hopper-mv-\(IDSuffixGenerator.random(8))"
        // Another device, so mv cannot rename (where /dev/shm shares the spool's, nothing to test).
        guard stat("/dev/shm", &shm) == 0, stat(t.spool, &spool) == 0, shm.st_dev != spool.st_dev, mkdir(staging, 0o755) == 0 else {
            #expect(try await daemon.stop() == .exited(0))
            return
        }
        defer { _ = try? runProcess(["/bin/rm", "-rf", staging]) }
        let copy = try runProcess(["/bin/sh", "-c", "cp \"$0\"/*.json \"$0\"/*.sh \"$1\"", src, staging])
        #expect(copy.exitCode == 0, "cp: \(copy.stderr)")
        let run = try runProcess(["/bin/sh", "-c", "mv \"$0\"/* \"$1\"", staging, t.spool + "/incoming/"])
        #expect(run.exitCode == 0, "mv: \(run.stderr)")
        try await expectEachTakenOnce(t, "mv across filesystems")
        #expect(try await daemon.stop() == .exited(0))
    }

    /// Staged under a hidden name, edited with `sed -i` (whose temporary file,
    /// `sedXXXXXX`, is made, written and renamed inside incoming/), then
    /// renamed in: the edit runs, once, and sed's temporary file is never
    /// taken from under it.
    @Test func sedInPlaceOnAStagedFile() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""default_provider": "exec", "intake": {"settle": 0.25}"#))
        try Spool.create(at: t.spool)
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<10 {
            let staged = "\(t.spool)/incoming/.e\(i).json"
            try t.write(staged, #"{"id": "e\#(i)", "command": "echo TEMPLATE"}"#)
            let sed = try runProcess(["sed", "-i", "s/TEMPLATE/edited \(i)/", staged])
            #expect(sed.exitCode == 0, "sed -i: \(sed.stderr)")
            #expect(rename(staged, "\(t.spool)/incoming/e\(i).json") == 0)
        }
        try await eventually("ten records") { t.records().count == 10 }
        for i in 0..<10 { #expect(t.read("done/e\(i).out") == "edited \(i)\n", "e\(i)") }
        #expect(t.names("rejected").isEmpty && t.names("incoming").isEmpty)
        #expect(try await daemon.stop() == .exited(0))
    }

    /// `promtool check metrics` finds nothing to say of metrics.prom: after
    /// successes, a failure, a cancellation and a rejection, with a session
    /// provider and an agent provider with a budget (its spend and limit gauges).
    @Test(.enabled(if: available("promtool"), "promtool is not installed (HOPPER_TEST_PROMTOOL, or HOPPER_REQUIRE_CLIENT_TOOLS=1 to fail)"))
    func metricsPassPromtool() async throws {
        let promtool = try Self.require("promtool")
        let t = try TestSpool(config: TestSpool.configuration(#"""
            "default_provider": "exec",
            "providers": {"exec": {"mode": "exec", "command": ["/bin/sh", "-c", "{command}"]},
                          "shell": {"mode": "session", "protocol": "shell", "command": ["/bin/sh"]},
                          "claude": {"agent": "claude", "executable": "\#(ExamplesTests.repository)/examples/providers/fake-stream-agent",
                                     "budget": {"usd_per_day": 5}}}
            """#))
        try Spool.create(at: t.spool)
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("ok.json", #"{"id": "ok", "command": "true"}"#)
        try t.drop("bad.json", #"{"id": "bad", "command": "exit 3"}"#)
        try t.drop("in-session.json", #"{"id": "in-session", "provider": "shell", "command": "echo hi"}"#)
        try t.drop("agent.json", #"{"id": "agent", "provider": "claude", "command": "say hi"}"#)
        try t.drop("later.json", #"{"id": "later", "command": "true", "run_after": "2200-01-01T00:00:00Z"}"#)
        try t.drop("broken.json", "{")
        try await eventually("four records, one task pending") { t.records().count == 4 && t.names("pending") == ["later.json"] }
        let cancel = try t.hopper(["cancel", "later"])
        #expect(cancel.exitCode == 0, "hopper cancel: \(cancel.stderr)")
        try await eventually("five records") { t.records().count == 5 }
        try await eventually("the metrics count the cancellation and the rejection") {
            let text = t.read("metrics.prom") ?? ""
            return text.contains("hopper_tasks_total{state=\"cancelled\"} 1") && text.contains("hopper_tasks_rejected_total 1")
                && text.contains("hopper_provider_spent_usd_today{provider=\"claude\"} 0.000168")
        }
        let metrics = try #require(t.read("metrics.prom"))
        let check = try runProcess([promtool, "check", "metrics"], stdin: metrics)
        #expect(check.exitCode == 0, "promtool: \(check.stdout)\(check.stderr)")
        #expect(check.stdout.isEmpty && check.stderr.isEmpty, "promtool: \(check.stdout)\(check.stderr)")
        #expect(try await daemon.stop() == .exited(0))
    }
}
