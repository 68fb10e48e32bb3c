import Glibc
import Testing
@testable import HopperCore

/// The `hopper` command line as a script would drive it: output, --json and
/// exit codes (0 ok, 1 the thing failed, 2 usage or input error).
@Suite(.serialized) struct CommandLineTests {
    @Test func submitWorksWithoutADaemonAndPrintsTheId() throws {
        let t = try TestSpool()
        #expect(try t.hopper(["init"]).exitCode == 0)
        let out = try t.hopper(["submit", "--id", "job1", "--priority", "3", "--label", "team=ops", "--env", "X=1", "--", "sh", "-c", "echo 'a b'; exit 3"])
        #expect(out.exitCode == 0, "\(out.stderr)")
        #expect(out.stdout == "job1\n")
        let request = try #require(try JSONParser.parse(t.read("incoming/job1.json") ?? "").objectValue)
        #expect(request["command"] == .string("sh -c 'echo '\\''a b'\\''; exit 3'"))
        #expect(request["priority"] == .int(3))
        #expect(request["labels"]?.objectValue?["team"] == .string("ops"))
        #expect(t.names("incoming") == ["job1.json"], "no temporary file left behind")
        let generated = try t.hopper(["submit", "make test"])
        #expect(generated.stdout.hasPrefix("make-"))
        #expect(try t.hopper(["submit", "--id", "job1", "true"]).exitCode == 2, "same id twice")
        #expect(try t.hopper(["submit", "--timeout", "99999", "true"]).exitCode == 2, "rejected before writing")
        #expect(try t.hopper(["submit"]).exitCode == 2)
        #expect(try t.hopper(["submit", "--bogus", "x"]).exitCode == 2)
    }

    @Test func submitThenWaitShowAndList() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let ok = try t.hopper(["submit", "--id", "good", "echo hi"])
        let bad = try t.hopper(["submit", "--id", "bad", "exit 2"])
        #expect(ok.exitCode == 0 && bad.exitCode == 0)
        let waited = try t.hopper(["wait", "good"])
        #expect(waited.exitCode == 0, "\(waited.stderr)")
        #expect(waited.stdout.hasPrefix("good  succeeded"))
        #expect(try t.hopper(["wait", "good", "bad"]).exitCode == 1, "one failed")
        let json = try t.hopper(["wait", "--json", "bad"])
        #expect(try JSONParser.parse(json.stdout.trimmedLine).objectValue?["state"] == .string("failed"))
        #expect(try t.hopper(["wait", "nosuch"]).exitCode == 2)
        let show = try t.hopper(["show", "good", "--json"])
        let record = try #require(try JSONParser.parse(show.stdout.trimmedLine).objectValue)
        #expect(record["exit_code"] == .int(0))
        #expect(try t.hopper(["show", "good"]).stdout.contains("succeeded"))
        #expect(try t.hopper(["show", "nosuch"]).exitCode == 2)
        let list = try t.hopper(["list", "--state", "failed"])
        #expect(list.stdout.contains("bad") && !list.stdout.contains("good"))
        let lines = try t.hopper(["list", "--json"]).stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(try t.hopper(["list", "--state", "COMPLETED"]).stdout.contains("good"), "legacy names are read")
        #expect(try t.hopper(["list", "--state", "bogus"]).exitCode == 2)
        let status = try t.hopper(["status", "--json"])
        let object = try #require(try JSONParser.parse(status.stdout.trimmedLine).objectValue)
        #expect(object["state"] == .string("running"))
        #expect(try t.hopper(["status"]).stdout.contains("daemon    running"))
        _ = try await daemon.stop()
        #expect(try t.hopper(["status"]).stdout.contains("daemon    stopped"))
        // A task waiting in queued/ (with no daemon, it stays there) is named as the oldest.
        try t.write(t.spool + "/queued/waiting.json", #"{"id":"waiting","command":"true","provider":"sh","seq":9}"#)
        #expect(try t.hopper(["status"]).stdout.contains("oldest    waiting queued"))
    }

    @Test func waitTimesOut() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "slow", "sleep 1000"])
        let out = try t.hopper(["wait", "--timeout", "0.2", "slow"])
        #expect(out.exitCode == 1)
        #expect(out.stderr.contains("timed out"))
        _ = try t.hopper(["cancel", "slow"])
        _ = try await eventuallyValue("slow cancelled") { t.record("slow") }
        _ = try await daemon.stop()
    }

    /// `hopper wait` (and show, tail, cancel) right after `hopper submit`,
    /// while the daemon takes the request: it was looked for in the states
    /// first and in incoming/ second, so a request accepted between the two
    /// looks was in neither, and the command said "no such task" (once in
    /// about 600 such pairs, four at a time). Four loops of 50 pairs here.
    @Test func waitRightAfterSubmitNeverMissesTheTask() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let loop = """
            i=0; while [ $i -lt 50 ]; do
              id=$("$HOPPER" submit --spool "$HOPPER_SPOOL" --config "$HOPPER_CONFIG" -- true) || exit 3
              "$HOPPER" wait --spool "$HOPPER_SPOOL" --config "$HOPPER_CONFIG" "$id" > /dev/null || exit 4
              i=$((i + 1))
            done
            """
        let loops = try (0..<4).map { _ in try BackgroundProcess(script: ["/bin/sh", "-c", loop], in: t, environment: ExamplesTests.environment(t)) }
        for run in loops {
            #expect(try await run.exited(timeout: 120) == .exited(0), "\(run.stderr)")
        }
        #expect(t.records().count == 200)
        #expect(try await daemon.stop() == .exited(0))
    }

    @Test func validateChecksWithoutSubmitting() throws {
        let t = try TestSpool()
        try t.write(t.base + "/good.json", #"{"command": "true", "priority": 5}"#)
        try t.write(t.base + "/bad.json", #"{"command": "true", "priority": "5"}"#)
        try t.write(t.base + "/script.sh", "echo hi\n")
        let good = try t.hopper(["validate", t.base + "/good.json", t.base + "/script.sh"])
        #expect(good.exitCode == 0)
        #expect(good.stdout.contains("good.json: ok"))
        let bad = try t.hopper(["validate", "--json", t.base + "/good.json", t.base + "/bad.json"])
        #expect(bad.exitCode == 1)
        let results = bad.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)).objectValue }
        #expect(results.count == 2)
        #expect(results[1]["field"] == .string("priority"))
        #expect(try t.hopper(["validate", t.base + "/missing.json"]).exitCode == 1)
    }

    @Test func everyCommandHasHelpAndUsageErrorsExitTwo() throws {
        let t = try TestSpool()
        // Every command in the table, so a new one cannot skip its help.
        let names = HopperCLI.commands.map(\.name)
        #expect(names.count >= 13)
        for command in names {
            let help = try t.hopper([command, "--help"])
            #expect(help.exitCode == 0, "\(command)")
            #expect(help.stdout.contains("usage: hopper \(command)"), "\(command)")
            #expect(help.stdout.contains("example:"), "\(command)")
        }
        let top = try runProcess([TestSpool.hopperBinary, "--help"])
        #expect(top.exitCode == 0 && top.stdout.contains("commands:"))
        let unknown = try runProcess([TestSpool.hopperBinary, "frobnicate"])
        #expect(unknown.exitCode == 2)
        #expect(unknown.stderr.hasPrefix("hopper: "))
        #expect(unknown.stderr.split(separator: "\n").count == 1, "one line")
    }
}
