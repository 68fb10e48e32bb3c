import Glibc
import Testing
@testable import HopperCore

/// Commands that misbehave with their descriptors, their output or their
/// children, run by an `exec` provider and by a shell session: each ends
/// promptly with the right verdict, nothing of it survives, and the daemon
/// keeps flat descriptors and bounded memory.
@Suite(.serialized) struct MisbehavingTaskTests {
    /// Both kinds of shell provider: a fresh process per task, and one
    /// long-lived session (one, so the daemon's descriptors are comparable).
    static let providers = ["exec", "shs"]
    static func configuration(_ extra: String = "") -> String {
        TestSpool.configuration(#""providers": {"shs": {"mode": "session", "protocol": "shell", "command": ["/bin/sh"], "max_sessions": 1}}, "limits": {"max_request_bytes": 16777216, "max_output_bytes": 1048576}"# + extra)
    }

    /// A daemon on `t` that has run one task in each provider, so its
    /// session, descriptors and memory are at their resting level.
    static func warmedDaemon(_ t: TestSpool) async throws -> DaemonProcess {
        let daemon = try await DaemonProcess(t).ready()
        for provider in providers {
            try t.drop("warm-\(provider).json", #"{"id": "warm-\#(provider)", "provider": "\#(provider)", "command": "true"}"#)
            _ = try await eventuallyValue("the \(provider) warm-up") { t.record("warm-\(provider)") }
        }
        return daemon
    }

    /// A task per provider and case: (case, command, stdin, expected stdout, expected stderr).
    static let cases: [(String, String, String?, String?, String?)] = [
        // Leaves a process that escaped the group with setsid, holding stdout open.
        ("setsid", "setsid sleep 1000 & echo started", nil, "started\n", ""),
        ("setsid-quiet", "setsid sh -c 'sleep 1000 >/dev/null 2>&1 </dev/null' & echo started", nil, "started\n", ""),
        // Closes stdout early, then writes to stderr.
        ("close-stdout", "exec >&-; sleep 0.2; echo done >&2", nil, "", "done\n"),
        // 10 MB of stdin it never reads.
        ("unread-stdin", "echo ignored", String(repeating: "0123456789", count: 1_000_000), "ignored\n", ""),
        // Reads a little of it, then leaves.
        ("partial-stdin", "head -c 5", String(repeating: "abcdefghij", count: 1_000_000), "abcde", ""),
        // SIGPIPE must be at its default in children, or `yes` never ends.
        ("sigpipe", "yes | head -1", nil, "y\n", ""),
    ]

    @Test func misbehavingCommandsEndPromptlyAndLeaveNothing() async throws {
        let t = try TestSpool(config: Self.configuration())
        let daemon = try await Self.warmedDaemon(t)
        let before = try FaultProbes.usage(daemon)
        for provider in Self.providers {
            for (name, command, stdin, _, _) in Self.cases {
                var request = JSONObject([("id", .string("\(provider)-\(name)")), ("provider", .string(provider)), ("command", .string(command))])
                if let stdin { request["stdin"] = .string(stdin) }
                try t.drop("\(provider)-\(name).json", JSONValue.object(request).serialized())
            }
        }
        for provider in Self.providers {
            for (name, _, _, out, err) in Self.cases {
                let id = "\(provider)-\(name)"
                // Well under the default 60 s timeout: none of them waits for what it left behind.
                let record = try await eventuallyValue("\(id)'s record", timeout: 30) { t.record(id) }
                #expect(record["state"] == .string("succeeded"), "\(id): \(record["message"] ?? .null)")
                #expect(record["reason"] == .string("exit"), "\(id)")
                if let out { #expect(t.read("done/\(id).out") == out, "\(id)") }
                if let err { #expect(t.read("done/\(id).err") == err, "\(id)") }
            }
        }
        try await eventually("no process the tasks left behind") { t.survivors(running: "sleep 1000").isEmpty }
        let after = try FaultProbes.usage(daemon)
        #expect(after.children == before.children, "children: \(before.children) before, \(after.children) after")
        try await FaultProbes.descriptorsSettle(daemon, at: before.fds)
        // The session that ran them is the one that still runs the next task.
        try t.drop("next.json", #"{"id": "next", "provider": "shs", "command": "echo next"}"#)
        let next = try await eventuallyValue("the next task") { t.record("next") }
        #expect(next["state"] == .string("succeeded"))
        #expect(next["session"] == t.record("warm-shs")?["session"])
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }

    /// What a task left behind with setsid is found by its environment,
    /// which reads empty for a moment while the process is in execve(2).
    /// Processes that execute themselves again and again are caught there
    /// often; the daemon looks again until it is sure of every adopted
    /// child, so none of them outlives its task. (The test counts them by
    /// their `comm`, which an execve never hides.)
    @Test func anEscapedProcessCaughtInItsExecIsStillKilled() async throws {
        let t = try TestSpool(config: Self.configuration())
        // A name of its own (`comm` keeps 15 bytes), so only this test's processes are counted.
        let name = "rx\(getpid() % 100_000)\(Int.random(in: 1000...9999))"
        let script = t.base + "/" + name
        _ = try runProcess(["/bin/cp", SessionTests.fixtures + "/reexec.sh", script])
        defer { _ = try? runProcess(["/usr/bin/pkill", "-KILL", "-x", name]) }
        func leftBehind() -> Int {
            let proc = (try? Directory.open("/proc"))
            defer { proc?.close() }
            return ((try? proc?.entries()) ?? []).filter { entry in
                guard let pid = entry.string.flatMap({ Int32($0) }), pid > 0 else { return false }
                return SystemTestProbe.contents("/proc/\(pid)/comm").map { String(decoding: $0, as: UTF8.self) } == name + "\n"
            }.count
        }
        let daemon = try await Self.warmedDaemon(t)
        var ids: [String] = []
        for provider in Self.providers {
            for i in 0..<30 {
                let id = "\(provider)-rx\(i)"
                ids.append(id)
                try t.drop("\(id).json", #"{"id": "\#(id)", "provider": "\#(provider)", "command": "setsid \#(script) 1000000 </dev/null >/dev/null 2>&1 & echo started"}"#)
            }
        }
        for id in ids {
            let record = try await eventuallyValue("\(id)'s record", timeout: 60) { t.record(id) }
            #expect(record["state"] == .string("succeeded"), "\(id): \(record["message"] ?? .null)")
        }
        try await eventually("no process the tasks left behind (\(leftBehind()) at first)", timeout: 10) { leftBehind() == 0 }
        #expect(try await daemon.stop() == .exited(0))
    }

    @Test func aGigabyteOfOutputIsCutAtTheCapInBoundedMemory() async throws {
        let t = try TestSpool(config: Self.configuration())
        let daemon = try await Self.warmedDaemon(t)
        let before = try FaultProbes.usage(daemon)
        for provider in Self.providers {
            try t.drop("\(provider)-flood.json", #"{"id": "\#(provider)-flood", "provider": "\#(provider)", "command": "head -c 1000000000 /dev/zero; echo done >&2"}"#)
        }
        let peak = try await FaultProbes.peakMemory(daemon, "both floods recorded", timeout: 120) {
            Self.providers.allSatisfy { t.record("\($0)-flood") != nil }
        }
        for provider in Self.providers {
            let record = try #require(t.record("\(provider)-flood"))
            #expect(record["state"] == .string("succeeded"), "\(provider): \(record["message"] ?? .null)")
            #expect(record["stdout_bytes"] == .int(1_000_000_000), "\(provider): every byte read")
            #expect(record["truncated"] == .bool(true))
            var st = stat()
            #expect(stat(t.spool + "/done/\(provider)-flood.out", &st) == 0)
            let marker = "\n[hopper: output truncated at 1048576 bytes]\n"
            #expect(Int(st.st_size) == 1_048_576 + marker.utf8.count, "\(provider): kept the cap and the marker")
            #expect(t.read("done/\(provider)-flood.err") == "done\n")
        }
        #expect(peak - before.rssKiB < 32 * 1024, "RSS: \(before.rssKiB) KiB before, peak \(peak) KiB")
        try await FaultProbes.descriptorsSettle(daemon, at: before.fds)
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }
}

/// A `jsonl` agent that misbehaves with its output.
@Suite(.serialized) struct MisbehavingAgentTests {
    @Test func anEndlessLineIsOutputNotHeldInMemory() async throws {
        let agent = SessionTests.fixtures + "/agent-flood.sh"
        let t = try TestSpool(config: TestSpool.configuration(
            #""providers": {"flood": {"mode": "session", "protocol": "jsonl", "command": ["\#(agent)", "1000000000"], "max_sessions": 1}}, "limits": {"max_output_bytes": 1048576}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("warm.json", #"{"id": "warm", "command": "true"}"#)
        _ = try await eventuallyValue("the warm-up") { t.record("warm") }
        let before = try FaultProbes.usage(daemon)
        try t.drop("flood.json", #"{"id": "flood", "provider": "flood", "command": "go"}"#)
        let peak = try await FaultProbes.peakMemory(daemon, "the flood's record", timeout: 120) { t.record("flood") != nil }
        let record = try #require(t.record("flood"))
        #expect(record["state"] == .string("succeeded"), "\(record["message"] ?? .null)")
        #expect(record["result"]?.objectValue?["result"] == .string("flooded"), "the line after the flood is still the result")
        #expect(record["truncated"] == .bool(true))
        #expect((record["stdout_bytes"]?.intValue ?? 0) > 1_000_000_000)
        #expect(peak - before.rssKiB < 64 * 1024, "RSS: \(before.rssKiB) KiB before, peak \(peak) KiB")
        // The same session answers the next message.
        try t.drop("again.json", #"{"id": "again", "provider": "flood", "command": "go"}"#)
        let again = try await eventuallyValue("again", timeout: 120) { t.record("again") }
        #expect(again["session"] == record["session"])
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }
}
