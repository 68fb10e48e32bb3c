import Glibc
import Testing
@testable import HopperCore

/// The operator commands (retry, tail, migrate, gc) and the list, wait and
/// status options added with them, driven as a script would drive them.
/// Tasks that must take time wait for files the test creates, so nothing
/// depends on how fast the machine is.
@Suite(.serialized) struct OperationsCommandTests {
    @Test func retryOfAFailedTaskRunsANewTaskThatCarriesRetryOf() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "flaky", "--label", "team=ops", "echo attempt; exit 3"])
        #expect(try t.hopper(["wait", "flaky"]).exitCode == 1)
        let retry = try t.hopper(["retry", "flaky"])
        #expect(retry.exitCode == 0, "\(retry.stderr)")
        let newID = retry.stdout.trimmedLine
        #expect(newID.hasPrefix("flaky-") && newID != "flaky")
        #expect(try t.hopper(["wait", newID]).exitCode == 1, "the new task ran, and failed like the first")
        let record = try #require(t.record(newID))
        #expect(record["labels"]?.objectValue?["retry_of"] == .string("flaky"))
        #expect(record["labels"]?.objectValue?["team"] == .string("ops"), "the other labels are kept")
        #expect(record["request"]?.objectValue?["command"] == .string("echo attempt; exit 3"))
        #expect(t.read("done/\(newID).out") == "attempt\n")
        #expect(t.record("flaky")?["state"] == .string("failed"), "the old record is untouched")

        // A retry of a retry keeps the stem, not the generated suffix.
        let json = try t.hopper(["retry", "--json", newID])
        let object = try #require(try JSONParser.parse(json.stdout.trimmedLine).objectValue)
        #expect(object["retry_of"] == .string(newID))
        #expect(object["id"]?.stringValue?.hasPrefix("flaky-") == true)
        #expect(object["id"]?.stringValue?.hasPrefix(newID) == false)
        _ = try t.hopper(["wait", object["id"]?.stringValue ?? "?"])

        #expect(try t.hopper(["retry", "nosuch"]).exitCode == 2)
        #expect(try t.hopper(["retry", "not/an/id"]).exitCode == 2)
        #expect(try t.hopper(["retry"]).exitCode == 2)
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func retryOfAnUnfinishedTaskExitsOne() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let later = Timestamp.now().adding(seconds: 3600).rfc3339
        _ = try t.hopper(["submit", "--id", "later", "--run-after", later, "true"])
        try await eventually("later pending") { t.names("pending").contains("later.json") }
        let out = try t.hopper(["retry", "later"])
        #expect(out.exitCode == 1)
        #expect(out.stderr == "hopper: cannot retry later: it is pending, not finished\n")
        #expect(out.stdout.isEmpty)
        #expect(t.names("incoming").isEmpty, "nothing submitted")
        _ = try t.hopper(["cancel", "later"])
        _ = try await eventuallyValue("later cancelled") { t.record("later") }
        _ = try await daemon.stop()
    }

    @Test func migrateRewritesLegacyStatesOnceKeepingEveryOtherField() throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        let now = Timestamp.now()
        let legacy = OperationsCommandTests.record("old", state: "COMPLETED", finishedAt: now)
        try t.write(t.spool + "/done/old.json", legacy)
        try t.write(t.spool + "/done/older.json", OperationsCommandTests.record("older", state: "processing", finishedAt: now))
        let canonical = OperationsCommandTests.record("new", state: "failed", finishedAt: now)
        try t.write(t.spool + "/done/new.json", canonical)
        let untouched = try #require(try Directory.open(t.spool + "/done").status(FileName("new.json")))

        let first = try t.hopper(["migrate"])
        #expect(first.exitCode == 0, "\(first.stderr)")
        #expect(first.stdout == "migrated 2 record(s)\n")
        #expect(t.read("done/old.json") == legacy.replacing(#""state":"COMPLETED""#, with: #""state":"succeeded""#),
                "only the state changes; key order and every other field are kept")
        #expect(t.record("older")?["state"] == .string("running"))
        #expect(t.read("done/new.json") == canonical)
        let after = try #require(try Directory.open(t.spool + "/done").status(FileName("new.json")))
        #expect(after.st_ino == untouched.st_ino, "a canonical record is not rewritten")
        #expect(t.names(".hopper/tmp").isEmpty)

        let second = try t.hopper(["migrate", "--json"])
        #expect(second.exitCode == 0)
        #expect(try JSONParser.parse(second.stdout.trimmedLine).objectValue?["migrated"] == .int(0))
        #expect(try t.hopper(["list", "--state", "succeeded"]).stdout.contains("old"))
    }

    @Test func gcRemovesOldRecordsWithTheirOutputsAndKeepsYoungOnes() throws {
        let t = try TestSpool(config: TestSpool.configuration(#""retention": {"done_max_age": 3600}"#))
        try Spool.create(at: t.spool)
        let now = Timestamp.now()
        let twoDaysAgo = now.adding(seconds: -2 * 86_400)
        for (id, finished) in [("old", twoDaysAgo), ("young", now), ("needed", twoDaysAgo)] {
            try t.write(t.spool + "/done/\(id).json", OperationsCommandTests.record(id, state: "succeeded", finishedAt: finished))
            try t.write(t.spool + "/done/\(id).out", "out\n")
            try t.write(t.spool + "/done/\(id).err", "")
        }
        // An unfinished task waits for "needed": its record must stay, however old.
        try t.write(t.spool + "/pending/waiter.json", #"{"id":"waiter","command":"true","provider":"sh","after":["needed"]}"#)
        // Outputs a crash left without their record: removed once old enough.
        try t.write(t.spool + "/done/orphan.out", "")
        var old = [timespec(tv_sec: time_t(twoDaysAgo.nanoseconds / 1_000_000_000), tv_nsec: 0)]
        old.append(old[0])
        #expect(utimensat(AT_FDCWD, t.spool + "/done/orphan.out", old, 0) == 0)
        try t.write(t.spool + "/done/fresh-orphan.out", "")

        let kept = try t.hopper(["gc", "--max-age", "0"])
        #expect(kept.exitCode == 0)
        #expect(kept.stdout.contains("removed 0 record(s)"))
        #expect(t.names("done").count == 11)

        let out = try t.hopper(["gc"])
        #expect(out.exitCode == 0, "\(out.stderr)")
        #expect(out.stdout == "removed 1 record(s)\n")
        #expect(t.names("done") == ["fresh-orphan.out", "needed.err", "needed.json", "needed.out", "young.err", "young.json", "young.out"])

        let json = try t.hopper(["gc", "--json", "--max-age", "60"])
        let result = try #require(try JSONParser.parse(json.stdout.trimmedLine).objectValue)
        #expect(result["removed"] == .int(0) && result["kept"] == .int(2))
        #expect(try t.hopper(["gc", "--max-age", "-1"]).exitCode == 2)

        let pure = try Spool.open(at: t.spool)
        defer { pure.close() }
        let pruned = Retention.prune(spool: pure, maxAge: 1, now: now.adding(seconds: 10))
        #expect(pruned.removed == 1 && pruned.kept == 1, "young goes ten seconds later; needed stays")
    }

    @Test func tailOfAFinishedTaskPrintsItsOutputAndExitsByItsState() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "bad", "printf 'a\\nb\\n'; echo oops >&2; exit 5"])
        _ = try t.hopper(["submit", "--id", "good", "echo fine"])
        _ = try t.hopper(["wait", "bad", "good"])
        let bad = try t.hopper(["tail", "--no-follow", "bad"])
        #expect(bad.exitCode == 1)
        #expect(bad.stdout == "a\nb\n")
        let err = try t.hopper(["tail", "--stderr", "bad"])
        #expect(err.exitCode == 1)
        #expect(err.stdout == "oops\n")
        let good = try t.hopper(["tail", "good"])
        #expect(good.exitCode == 0)
        #expect(good.stdout == "fine\n")
        #expect(try t.hopper(["tail", "nosuch"]).exitCode == 2)
        #expect(try t.hopper(["tail", "--json", "good"]).exitCode == 2)
        _ = try await daemon.stop()
    }

    @Test func tailFollowsARunningTaskToItsEnd() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let go = t.base + "/go"
        _ = try t.hopper(["submit", "--id", "blocker", "while [ ! -e \(go)0 ]; do sleep 0.01; done"])
        let script = "for i in 1 2 3; do while [ ! -e \(go)$i ]; do sleep 0.01; done; echo line$i; done; echo done >&2"
        _ = try t.hopper(["submit", "--id", "live", "--after", "blocker", script])
        try await eventually("live pending") { t.names("pending").contains("live.json") }
        let tail = try BackgroundProcess(hopper: ["tail", "live"], on: t)
        let stderrTail = try BackgroundProcess(hopper: ["tail", "--stderr", "live"], on: t)
        try t.write(go + "0", "")
        try await eventually("live running") { t.names("running").contains("live.json") }
        try t.write(go + "1", "")
        // A session may hold back a line's last newline until it knows the line is not its frame's end.
        try await eventually("line1 followed") { tail.stdout.hasPrefix("line1") }
        try t.write(go + "2", "")
        try await eventually("line2 followed") { tail.stdout.hasPrefix("line1\nline2") }
        #expect(tail.exitStatus == nil, "still following while the task runs")
        try t.write(go + "3", "")
        #expect(try await tail.exited() == .exited(0), "\(tail.stderr)")
        #expect(tail.stdout == "line1\nline2\nline3\n", "every byte once, in order, across the move to done/")
        #expect(try await stderrTail.exited() == .exited(0))
        #expect(stderrTail.stdout == "done\n")
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func tailFollowsEventsAcrossRotation() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""limits": {"max_events_bytes": 4096}"#))
        let daemon = try await DaemonProcess(t).ready()
        let follower = try BackgroundProcess(hopper: ["tail", "--json", "--lines", "0"], on: t)
        let human = try BackgroundProcess(hopper: ["tail"], on: t)
        try await eventually("the followers watching") { follower.isWatching && human.isWatching }
        let count = 40
        for i in 0..<count { try t.drop("e\(i).json", #"{"id": "e\#(i)", "command": "true"}"#) }
        try await eventually("\(count) records") { t.records().count == count }
        try await eventually("every task's end followed") {
            follower.stdout.split(separator: "\n").filter { $0.contains(#""to":"succeeded""#) }.count == count
        }
        #expect(t.read("events.jsonl.1") != nil, "the log rotated meanwhile")
        let lines = follower.stdout.split(separator: "\n").map(String.init)
        #expect(lines.allSatisfy { (try? JSONParser.parse($0).objectValue) != nil }, "whole lines only")
        #expect(lines.filter { $0.contains(#""event":"task.accepted""#) }.count == count, "nothing twice")
        try await eventually("human rendering") { human.stdout.contains(" task.state id=e\(count - 1) from=running to=succeeded") }
        follower.interrupt()
        human.interrupt()
        _ = try await follower.exited()
        _ = try await human.exited()

        let last = try t.hopper(["tail", "--no-follow", "--lines", "2", "--json"])
        #expect(last.exitCode == 0)
        #expect(last.stdout.split(separator: "\n").count == 2)
        _ = try await daemon.stop()
    }

    @Test func listFilters() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "both", "--label", "team=ops", "--label", "tier=1", "true"])
        _ = try t.hopper(["submit", "--id", "ops", "--label", "team=ops", "--provider", "exec", "true"])
        _ = try t.hopper(["submit", "--id", "plain", "true"])
        _ = try t.hopper(["wait", "both", "ops", "plain"])
        let ancient = Timestamp.now().adding(seconds: -3 * 86_400)
        try t.write(t.spool + "/done/ancient.json", OperationsCommandTests.record("ancient", state: "succeeded", finishedAt: ancient))

        func ids(_ args: [String]) throws -> [String] {
            let out = try t.hopper(["list", "--json"] + args)
            #expect(out.exitCode == 0, "\(out.stderr)")
            return out.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)).objectValue?["id"]?.stringValue }
        }
        #expect(try ids([]) == ["ancient", "both", "ops", "plain"], "no filter: everything, as before")
        #expect(try ids(["--label", "team=ops"]) == ["both", "ops"])
        #expect(try ids(["--label", "team=ops", "--label", "tier=1"]) == ["both"], "every label must match")
        #expect(try ids(["--provider", "exec"]) == ["ops"])
        #expect(try ids(["--since", "1d"]) == ["both", "ops", "plain"])
        #expect(try ids(["--since", ancient.adding(seconds: -1).rfc3339]) == ["ancient", "both", "ops", "plain"])
        #expect(try ids(["--since", "2099-01-01T00:00:00Z"]).isEmpty)
        #expect(try ids(["--since", "2h", "--state", "succeeded", "--provider", "sh"]) == ["both", "plain"])
        #expect(try t.hopper(["list", "--since", "yesterday"]).exitCode == 2)
        #expect(try t.hopper(["list", "--label", "team"]).exitCode == 2)
        _ = try await daemon.stop()
    }

    @Test func waitAllWaitsForWhatWasUnfinishedAtTheCall() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let go = t.base + "/release"
        _ = try t.hopper(["submit", "--id", "a", "while [ ! -e \(go) ]; do sleep 0.01; done"])
        _ = try t.hopper(["submit", "--id", "b", "while [ ! -e \(go) ]; do sleep 0.01; done; exit 3"])
        try await eventually("a and b accepted") { (t.names("running") + t.names("queued")).filter { $0.hasSuffix(".json") }.count == 2 }
        let waiter = try BackgroundProcess(hopper: ["wait", "--all"], on: t)
        // It makes its inotify instance right after listing the unfinished tasks.
        try await eventually("the waiter listing") { waiter.isWatching }
        _ = try t.hopper(["submit", "--id", "c", "while [ ! -e \(go)-c ]; do sleep 0.01; done"])
        try await eventually("c accepted") { t.names("queued").contains("c.json") || t.names("running").contains("c.json") }
        try t.write(go, "")
        #expect(try await waiter.exited() == .exited(1), "b failed")
        #expect(waiter.stdout == "a  succeeded  Exited with status 0.\nb  failed  Exited with status 3.\n")
        #expect(waiter.stderr.isEmpty, "no progress line when stderr is not a terminal")
        #expect(t.record("c") == nil, "c was not awaited")
        try t.write(go + "-c", "")
        #expect(try t.hopper(["wait", "c"]).exitCode == 0)
        let none = try t.hopper(["wait", "--all"])
        #expect(none.exitCode == 0 && none.stdout.isEmpty, "nothing unfinished: nothing to wait for")
        #expect(try t.hopper(["wait"]).exitCode == 2)
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func statusWatchPrintsOnceWhenNotATerminal() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        let out = try t.hopper(["status", "--watch", "--interval", "0.2"])
        #expect(out.exitCode == 0)
        #expect(out.stdout.hasPrefix("daemon    stopped\n"))
        #expect(!out.stdout.contains("\u{1B}"), "no screen control codes in a file")
        #expect(try t.hopper(["status", "--watch", "--interval", "0"]).exitCode == 2)
    }

    @Test func newCommandsHaveHelpWithAnExample() throws {
        let t = try TestSpool()
        for command in ["retry", "tail", "migrate", "gc"] {
            let help = try t.hopper([command, "--help"])
            #expect(help.exitCode == 0, "\(command)")
            #expect(help.stdout.contains("usage: hopper \(command)"), "\(command)")
            #expect(help.stdout.contains("example:"), "\(command)")
            #expect(try runProcess([TestSpool.hopperBinary, "--help"]).stdout.contains("  \(command) "), "\(command) listed")
        }
        #expect(try t.hopper(["gc", "--bogus"]).exitCode == 2)
        #expect(try t.hopper(["migrate"]).exitCode == 2, "no spool is an input error")
        #expect(try t.hopper(["tail", "--no-follow", "--follow"]).exitCode == 2)
    }

    /// A record as the daemon writes one, with the given state and end time.
    static func record(_ id: String, state: String, finishedAt: Timestamp) -> String {
        let submitted = finishedAt.adding(seconds: -1).rfc3339
        return #"{"id":"\#(id)","source":"\#(id).json","provider":"sh","state":"\#(state)","reason":"exit","message":"Exited with status 0.","exit_code":0,"signal":null,"attempts":1,"interruptions":0,"session":null,"submitted_at":"\#(submitted)","started_at":"\#(submitted)","finished_at":"\#(finishedAt.rfc3339)","duration_ms":1000,"stdout":"\#(id).out","stderr":"\#(id).err","stdout_bytes":4,"stderr_bytes":0,"truncated":false,"labels":{},"result":null,"request":{"id":"\#(id)","command":"true","provider":"sh"}}"# + "\n"
    }
}

extension BackgroundProcess {
    /// A `hopper` command run in the background on a TestSpool.
    convenience init(hopper args: [String], on t: TestSpool) throws {
        let argv = [TestSpool.hopperBinary] + args.prefix(1) + ["--spool", t.spool, "--config", t.configPath] + args.dropFirst()
        try self.init(argv, environment: inheritedEnvironment() + [t.marker], outputPrefix: t.base + "/cli-\(IDSuffixGenerator.random(6))")
    }
}

/// `tail --no-follow` of a task still running prints what it wrote so far.
@Suite(.serialized) struct TailSnapshotTests {
    @Test func noFollowOfARunningTaskPrintsItsOutputSoFar() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("live.json", #"{"id": "live", "provider": "exec", "command": "echo first; while [ ! -e \#(t.base)/go ]; do sleep 0.02; done"}"#)
        try await eventually("first line written") { t.read("running/live.out") == "first\n" }
        let snapshot = try t.hopper(["tail", "--no-follow", "live"])
        #expect(snapshot.exitCode == 0)
        #expect(snapshot.stdout == "first\n")
        try t.write(t.base + "/go", "")
        _ = try await eventuallyValue("live done") { t.record("live") }
        _ = try await daemon.stop()
    }
}
