import Glibc
import Testing
@testable import HopperCore

/// Drop a file, get a result: the daemon on a temporary spool, judged by the
/// files it leaves.
@Suite(.serialized) struct PipelineTests {
    @Test func jsonAndScriptRequestsRunToRecords() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("hello.json", #"{"id": "hello", "command": "echo out; echo err >&2", "labels": {"team": "ops"}}"#)
        try t.drop("fail.sh", "echo about to fail\nexit 7\n")
        let hello = try await eventuallyValue("hello's record") { t.record("hello") }
        #expect(hello["state"] == .string("succeeded"))
        #expect(hello["reason"] == .string("exit"))
        #expect(hello["exit_code"] == .int(0))
        #expect(hello["source"] == .string("hello.json"))
        #expect(hello["provider"] == .string("sh"))
        #expect(hello["attempts"] == .int(1))
        #expect(hello["stdout"] == .string("hello.out"))
        #expect(hello["stdout_bytes"] == .int(4))
        #expect(hello["stderr_bytes"] == .int(4))
        #expect(hello["truncated"] == .bool(false))
        #expect(hello["labels"]?.objectValue?["team"] == .string("ops"))
        for key in ["id", "message", "signal", "session", "submitted_at", "started_at", "finished_at", "duration_ms", "stderr", "result"] {
            #expect(hello[key] != nil, "record lacks \(key)")
        }
        #expect(t.read("done/hello.out") == "out\n")
        #expect(t.read("done/hello.err") == "err\n")
        let fail = try await eventuallyValue("the script's record") { t.record(source: "fail.sh") }
        #expect(fail["state"] == .string("failed"))
        #expect(fail["exit_code"] == .int(7))
        #expect(fail["id"]?.stringValue?.hasPrefix("fail-") == true)
        #expect(t.names("incoming").isEmpty)
        #expect(t.names("running").isEmpty && t.names("queued").isEmpty && t.names("pending").isEmpty)
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }

    /// In the daemon, every thread blocks SIGCHLD once a child has been
    /// spawned, so each exit waits, pending, for the poller's read of its
    /// signalfd (not the relay's handler); and every exit is still seen.
    @Test func childExitsAreReadFromASignalfd() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<20 { try t.drop("exit\(i).json", #"{"provider": "exec", "command": "exit \#(i % 3)"}"#) }
        try await eventually("twenty records") { t.records().count == 20 }
        let pid = daemon.pid.rawValue
        let descriptors = SystemTestProbe.directoryEntries("/proc/\(pid)/fd") ?? []
        let links = descriptors.compactMap { name -> String? in
            var buffer = [CChar](repeating: 0, count: 256)
            let n = readlink("/proc/\(pid)/fd/\(name)", &buffer, buffer.count - 1)
            return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
        }
        #expect(links.filter { $0 == "anon_inode:[signalfd]" }.count == 1, "\(links)")
        let threads = SystemTestProbe.directoryEntries("/proc/\(pid)/task") ?? []
        #expect(!threads.isEmpty)
        for tid in threads {
            let status = (try? AtomicFile.read(path: "/proc/\(pid)/task/\(tid)/status")).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let blocked = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }).flatMap { UInt64(String($0.dropFirst(7)).trimmingWhitespace, radix: 16) }
            #expect(blocked.map { $0 & (1 << (SIGCHLD - 1)) != 0 } == true, "thread \(tid) takes SIGCHLD: \(status)")
        }
        #expect(t.records().values.filter { $0["state"] == .string("succeeded") }.count == 7)
        #expect(try await daemon.stop() == .exited(0))
    }

    @Test func filesPresentAtStartAreTaken() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        for i in 0..<5 { try t.drop("early\(i).json", #"{"command": "true"}"#) }
        let daemon = try await DaemonProcess(t).ready()
        try await eventually("five records") { t.records().count == 5 }
        _ = try await daemon.stop()
    }

    @Test func signalsAndTimeoutsEndInFailedRecords() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("killed.json", #"{"id": "killed", "command": "kill -KILL $$"}"#)
        // Ignores SIGTERM and leaves a grandchild that ignores it too.
        try t.drop("stubborn.json", #"{"id": "stubborn", "timeout": 0.5, "command": "trap '' TERM; (trap '' TERM; sleep 1000) & sleep 1000"}"#)
        let killed = try await eventuallyValue("killed's record") { t.record("killed") }
        #expect(killed["state"] == .string("failed"))
        #expect(killed["reason"] == .string("signal"))
        #expect(killed["signal"] == .int(9))
        #expect(killed["exit_code"] == .null)
        let stubborn = try await eventuallyValue("stubborn's record") { t.record("stubborn") }
        #expect(stubborn["state"] == .string("failed"))
        #expect(stubborn["reason"] == .string("timeout"))
        try await eventually("no process of the task left") { t.survivors(running: "sleep 1000").isEmpty }
        _ = try await daemon.stop()
    }

    @Test func exitedCommandsTakeTheirProcessGroupAlong() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("bg.json", #"{"id": "bg", "command": "sleep 1000 & echo started"}"#)
        let record = try await eventuallyValue("bg's record") { t.record("bg") }
        #expect(record["state"] == .string("succeeded"))
        try await eventually("the background sleep killed") { t.survivors(running: "sleep 1000").isEmpty }
        _ = try await daemon.stop()
    }

    @Test func spawnAndWorkingDirectoryErrorsAreErrorRecords() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""providers": {"missing": {"command": ["/nonexistent/tool", "{command}"]}}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("nocwd.json", #"{"id": "nocwd", "command": "true", "cwd": "/nonexistent/dir"}"#)
        try t.drop("nobin.json", #"{"id": "nobin", "command": "true", "provider": "missing"}"#)
        try t.drop("cwd.json", #"{"id": "cwd", "command": "pwd", "cwd": "/tmp"}"#)
        let nocwd = try await eventuallyValue("nocwd") { t.record("nocwd") }
        #expect(nocwd["state"] == .string("error"))
        #expect(nocwd["reason"] == .string("cwd"))
        let nobin = try await eventuallyValue("nobin") { t.record("nobin") }
        #expect(nobin["state"] == .string("error"))
        #expect(nobin["reason"] == .string("spawn"))
        #expect(nobin["message"]?.stringValue?.contains("/nonexistent/tool") == true)
        _ = try await eventuallyValue("cwd") { t.record("cwd") }
        #expect(t.read("done/cwd.out") == "/tmp\n")
        _ = try await daemon.stop()
    }

    @Test func environmentStdinAndDescriptorsReachTheCommand() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("env.json", #"{"id": "env", "command": "echo $GREETING $HOPPER_TASK_ID; cat; ls /proc/self/fd | wc -l", "env": {"GREETING": "hi"}, "stdin": "from stdin\n"}"#)
        // Big stdin the command never reads must not hang anything.
        let big = String(repeating: "x", count: 200_000)
        try t.drop("unread.json", #"{"id": "unread", "command": "true", "stdin": "\#(big)"}"#)
        _ = try await eventuallyValue("env") { t.record("env") }
        // ls sees 0, 1, 2 and its own directory descriptor: nothing leaked from the daemon.
        #expect(t.read("done/env.out") == "hi env\nfrom stdin\n4\n")
        let unread = try await eventuallyValue("unread") { t.record("unread") }
        #expect(unread["state"] == .string("succeeded"))
        _ = try await daemon.stop()
    }

    @Test func outputIsCappedWithAMarkerAndNeverDeadlocks() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""limits": {"max_output_bytes": 1000}"#))
        let daemon = try await DaemonProcess(t).ready()
        // 5 MB on stderr while stdout stays idle, then a line on stdout.
        try t.drop("flood.json", #"{"id": "flood", "command": "head -c 5000000 /dev/zero | tr '\\0' e >&2; echo done"}"#)
        let record = try await eventuallyValue("flood") { t.record("flood") }
        #expect(record["state"] == .string("succeeded"))
        #expect(record["truncated"] == .bool(true))
        #expect(record["stderr_bytes"] == .int(5_000_000))
        let err = t.read("done/flood.err") ?? ""
        #expect(err.hasPrefix(String(repeating: "e", count: 1000)))
        #expect(err.contains("[hopper: output truncated at 1000 bytes]"))
        #expect(t.read("done/flood.out") == "done\n")
        _ = try await daemon.stop()
    }

    @Test func eventsAreWholeJSONLines() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("e.json", #"{"id": "e", "command": "true"}"#)
        try t.drop("weird\nname\u{1B}[31m.json", "not json")
        _ = try await eventuallyValue("e") { t.record("e") }
        try await eventually("the rejection") { t.names("rejected").count == 2 }
        _ = try await daemon.stop()
        let events = try t.events()
        let kinds = events.compactMap { $0["event"]?.stringValue }
        #expect(kinds.contains("task.accepted"))
        #expect(kinds.contains("task.rejected"))
        let transitions = events.filter { $0["event"] == .string("task.state") && $0["id"] == .string("e") }.compactMap { $0["to"]?.stringValue }
        #expect(transitions == ["queued", "running", "succeeded"])
        #expect(events.allSatisfy { $0["ts"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) != nil })
    }

    @Test func statusAndMetricsArePublished() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("m.json", #"{"id": "m", "command": "true"}"#)
        try await eventually("metrics counting the task") { t.read("metrics.prom")?.contains("hopper_tasks_total{state=\"succeeded\"} 1") == true }
        let status = try #require(try JSONParser.parse(t.read("status.json") ?? "").objectValue)
        #expect(status["state"] == .string("running"))
        #expect(status["workers"]?.objectValue?["total"] == .int(2))
        _ = try await daemon.stop()
        #expect(t.read("metrics.prom")?.contains("hopper_up 0") == true)
    }
}
