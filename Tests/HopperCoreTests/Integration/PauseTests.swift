import Glibc
import Testing
@testable import HopperCore

/// `hopper pause` and `hopper resume`: files in paused/ that hold the starts
/// of a provider (or of all), with or without a daemon, across restarts.
/// A held task is shown to wait by a task of another provider that is
/// accepted after it and finishes while it is still queued.
@Suite(.serialized) struct PauseTests {
    func status(_ t: TestSpool) throws -> JSONObject? {
        try JSONParser.parse(try t.hopper(["status", "--json"]).stdout.trimmedLine).objectValue
    }

    @Test func aPausedProviderWaitsAcrossRestartsWhileOthersRun() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        // No daemon yet: the pause is a file.
        let paused = try t.hopper(["pause", "exec"])
        #expect(paused.exitCode == 0, "\(paused.stderr)")
        #expect(paused.stdout == "paused: exec\n")
        #expect(t.names("paused") == ["exec"])
        #expect(try status(t)?["paused"] == .array([.string("exec")]))

        var daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "held", "--provider", "exec", "true"])
        _ = try t.hopper(["submit", "--id", "free", "true"])
        _ = try await eventuallyValue("free to finish") { t.record("free") }
        #expect(t.names("queued") == ["held.json"], "the paused provider's task waits in queued/")
        try await eventually("status.json to show the pause") {
            guard let text = t.read("status.json"), let o = try? JSONParser.parse(text).objectValue else { return false }
            return o["paused"] == .array([.string("exec")]) && o["providers"]?.objectValue?["exec"]?.objectValue?["paused"] == .bool(true)
        }
        let metrics = try #require(t.read("metrics.prom"))
        #expect(metrics.contains("hopper_paused{provider=\"exec\"} 1\n"))
        #expect(metrics.contains("hopper_paused{provider=\"sh\"} 0\n"))
        #expect(metrics.contains("hopper_paused{provider=\"ALL\"} 0\n"))
        let text = try t.hopper(["status"]).stdout
        #expect(text.contains("paused    exec\n"))

        // A restart keeps it.
        _ = try await daemon.stop()
        daemon = try await DaemonProcess(t).ready()
        _ = try t.hopper(["submit", "--id", "free2", "true"])
        _ = try await eventuallyValue("free2 to finish") { t.record("free2") }
        #expect(t.names("queued") == ["held.json"])

        let resumed = try t.hopper(["resume", "exec"])
        #expect(resumed.stdout == "paused: nothing\n")
        let record = try await eventuallyValue("held to run once resumed") { t.record("held") }
        #expect(record["state"] == .string("succeeded"))
        try await eventually("status.json to show no pause") {
            t.read("status.json").flatMap { try? JSONParser.parse($0).objectValue }?["paused"] == .array([])
        }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func pauseAllByTouchLetsRunningTasksFinishAndHoldsNewOnes() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let gate = t.base + "/gate"
        _ = try t.hopper(["submit", "--id", "running", "--", "while [ ! -e \(gate) ]; do sleep 0.02; done"])
        try await eventually("running to start") { t.names("running").contains("running.json") }
        // By hand, as an operator would.
        try t.write(t.spool + "/paused/ALL", "")
        try await eventually("the daemon to see the pause") {
            t.read("status.json").flatMap { try? JSONParser.parse($0).objectValue }?["paused"] == .array([.string("ALL")])
        }
        try t.drop("later.json", #"{"id":"later","command":"true"}"#)
        try t.drop("other.json", #"{"id":"other","command":"true","provider":"exec"}"#)
        try t.write(gate, "")
        let first = try await eventuallyValue("the running task to finish") { t.record("running") }
        #expect(first["state"] == .string("succeeded"), "a pause does not stop running tasks")
        try await eventually("both drops accepted") { t.names("queued") == ["later.json", "other.json"] }
        try await eventually("status.json to count them") {
            t.read("status.json").flatMap { try? JSONParser.parse($0).objectValue }?["counts"]?.objectValue?["queued"] == .int(2)
        }
        #expect(t.names("queued") == ["later.json", "other.json"], "nothing starts while ALL is paused")
        #expect(try t.hopper(["status"]).stdout.contains("paused    ALL (no task starts)\n"))

        // Resuming one provider leaves ALL in force, and says so.
        let one = try t.hopper(["resume", "sh"])
        #expect(one.exitCode == 0 && one.stderr.contains("ALL is paused too"))
        #expect(unlink(t.spool + "/paused/ALL") == 0)
        _ = try await eventuallyValue("later to run") { t.record("later") }
        _ = try await eventuallyValue("other to run") { t.record("other") }
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func pauseAndResumeCommandLine() throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        #expect(try t.hopper(["pause"]).stdout == "paused: ALL\n")
        #expect(try t.hopper(["pause", "sh", "exec", "--json"]).stdout == "{\"paused\":[\"ALL\",\"exec\",\"sh\"]}\n")
        let unknown = try t.hopper(["pause", "nosuch"])
        #expect(unknown.exitCode == 2 && unknown.stderr.contains("no such provider"))
        #expect(try t.hopper(["pause", "../x"]).exitCode == 2)
        #expect(t.names("paused") == ["ALL", "exec", "sh"])
        #expect(try t.hopper(["resume", "exec"]).stdout == "paused: ALL, sh\n")
        #expect(try t.hopper(["resume"]).stdout == "paused: nothing\n")
        #expect(try t.hopper(["resume", "sh"]).exitCode == 0, "resuming what is not paused is no error")
        #expect(t.names("paused").isEmpty)
        let nospool = try runProcess([TestSpool.hopperBinary, "pause", "--spool", t.base + "/nothing"])
        #expect(nospool.exitCode == 2)
    }
}
