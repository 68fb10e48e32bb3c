import Glibc
import Testing
@testable import HopperCore

extension FaultInjection {
    /// Every record carries its own process's status, however often the pid
    /// range wraps.
    ///
    /// The daemon runs in a pid namespace of its own with a small
    /// `pid_max`, so pids come round again after a few hundred processes.
    /// Tasks of three providers share it: exec tasks, some of which leave a
    /// background child behind (adopted by the daemon, killed at task end,
    /// its status reaped by the daemon); shell-session tasks, some leaving a
    /// child and some killing their own session; and agent-session tasks
    /// whose session crashes with status 3. Every task's record is known in
    /// advance. A status handed to the wrong process shows as a record with
    /// another exit code or signal, or as a session reported dead at its start.
    ///
    /// `HOPPER_PID_REUSE=full` runs the slower form: 60,000 exec tasks in the
    /// machine's own pid namespace, its full pid range wrapping.
    @Suite(.serialized) struct PidReuseTests {
        static let isFullMode = Environment.get("HOPPER_PID_REUSE") == "full"

        /// Whether this kernel gives a new pid namespace its own pid_max (root, util-linux).
        static let namespacePidMaxWorks: Bool = {
            guard let unshare = FaultTools.path("unshare") else { return false }
            let probe = [unshare, "--pid", "--fork", "--mount-proc", "--", "/bin/sh", "-c", "echo 400 > /proc/sys/kernel/pid_max"]
            return (try? runProcess(probe))?.exitCode == 0
        }()

        static var mayRun: Bool { namespacePidMaxWorks || FaultTools.isRequired || isFullMode }
        static let skip: Comment = "no pid namespace with its own pid_max here (needs root, util-linux unshare, and a kernel with per-namespace pid_max); HOPPER_REQUIRE_FAULT_TOOLS=1 makes this a failure"

        /// What one task is, and the record it must end with.
        struct Case {
            var id: String
            var provider: String
            var command: String
            var state: String
            var exitCode: Int64?
            var signal: Int64?
        }

        static func cases(count: Int, execOnly: Bool) -> [Case] {
            (0..<count).map { i in
                let code = Int64(i % 7 + 1)
                let id = "r\(i)"
                switch execOnly ? 0 : i % 4 {
                case 0, 1:
                    // One exec task in five leaves a child behind.
                    let command = i % 5 == 0 ? "sleep 5 & exit \(code)" : "exit \(code)"
                    return Case(id: id, provider: "exec", command: command, state: "failed", exitCode: code)
                case 2:
                    if i % 30 == 2 {
                        // Kills its own session shell: the record describes the session process.
                        return Case(id: id, provider: "shs", command: "kill -9 $$", state: "failed", exitCode: nil, signal: 9)
                    }
                    let command = i % 3 == 0 ? "sleep 5 & exit \(code)" : "exit \(code)"
                    return Case(id: id, provider: "shs", command: command, state: "failed", exitCode: code)
                default:
                    if i % 24 == 3 {
                        // The session's status is in the message; the record's exit_code is the task's own (none).
                        return Case(id: id, provider: "agent", command: "crash", state: "failed", exitCode: nil)
                    }
                    return Case(id: id, provider: "agent", command: "hi \(i)", state: "succeeded", exitCode: nil)
                }
            }
        }

        @Test(.enabled(if: mayRun, skip), .timeLimit(.minutes(30)))
        func everyRecordCarriesItsOwnProcessStatus() async throws {
            let full = Self.isFullMode
            if !full { try #require(Self.namespacePidMaxWorks, "HOPPER_REQUIRE_FAULT_TOOLS=1 but a pid namespace with its own pid_max cannot be made") }
            let providers = #""providers": {"exec": {"mode": "exec", "command": ["/bin/sh", "-c", "{command}"]}, "#
                + #""shs": {"mode": "session", "protocol": "shell", "command": ["/bin/sh"], "max_sessions": 2}, "#
                + #""agent": {"mode": "session", "protocol": "jsonl", "command": ["\#(SessionTests.echoAgent)"], "max_sessions": 2}}"#
            // No retries: a session's death ends its task at once, as the case says.
            let t = try TestSpool(config: TestSpool.configuration(#""workers": 2, "default_provider": "exec", "#
                + #""timeouts": {"command": {"default_timeout": 60, "max_timeout": 600, "kill_grace": 0.5, "retry_delay": [0.05]}}, "# + providers))
            try Spool.create(at: t.spool)
            let cases = Self.cases(count: full ? 60_000 : 1_600, execOnly: full)
            let staging = t.base + "/staging"
            mkdir(staging, 0o755)
            for c in cases {
                let request = JSONValue.object(JSONObject([
                    ("id", .string(c.id)), ("provider", .string(c.provider)), ("command", .string(c.command)), ("retries", .int(0)),
                ]))
                try t.write("\(staging)/\(c.id).json", request.serialized())
            }
            // A shell stays the namespace's init, so the daemon adopts orphans as it does anywhere else.
            let wrapper = full ? [] : [FaultTools.path("unshare")!, "--pid", "--fork", "--mount-proc", "--kill-child", "--",
                                       "/bin/sh", "-c", #"echo 400 > /proc/sys/kernel/pid_max && "$@"; exit $?"#, "sh"]
            let daemon = try await DaemonProcess(t, wrapper: wrapper).ready()
            for c in cases { rename("\(staging)/\(c.id).json", "\(t.spool)/incoming/\(c.id).json") }
            try await eventually("every task recorded", timeout: full ? 1_500 : 240) {
                if daemon.exitStatus != nil { throw TimedOut(what: "a running daemon; it exited: \(daemon.log)") }
                return t.names("done").filter { $0.hasSuffix(".json") }.count >= cases.count
            }
            var wrong: [String] = []
            for c in cases {
                guard let record = t.record(c.id) else { wrong.append("\(c.id): no record"); continue }
                let exitCode = record["exit_code"]?.intValue
                let signal = record["signal"]?.intValue
                if record["state"]?.stringValue != c.state || exitCode != c.exitCode || signal != c.signal {
                    wrong.append("\(c.id) (\(c.provider), \(c.command)): \(record["state"]?.stringValue ?? "?") exit_code \(exitCode.map(String.init) ?? "null") signal \(signal.map(String.init) ?? "null"): \(record["message"]?.stringValue ?? "")")
                }
            }
            #expect(wrong.count == 0, "\(wrong.count) of \(cases.count) records wrong, e.g.:\n\(wrong.prefix(10).joined(separator: "\n"))")
            // The daemon is the namespace's grandchild here: signal it, not the wrapper.
            let target = full ? daemon.pid : childProcesses(of: childProcesses(of: daemon.pid).first ?? daemon.pid).first
            if let target { ProcessGroup.signalProcess(target, .term) }
            _ = try await daemon.exited()
            #expect(t.survivors().isEmpty)
        }
    }
}
