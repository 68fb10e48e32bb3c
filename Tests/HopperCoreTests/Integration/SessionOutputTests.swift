import Glibc
import Testing
@testable import HopperCore

/// Where a session's output goes: what an agent writes while a task runs is
/// that task's, stderr included; what it writes between tasks is logged
/// with the session's id, never dropped.
@Suite(.serialized) struct SessionOutputTests {
    @Test func anAgentsStderrReachesItsTaskAndWhatFallsBetweenTasksIsLogged() async throws {
        let agent = SessionTests.fixtures + "/agent-stderr.sh"
        let t = try TestSpool(config: TestSpool.configuration(
            #""default_provider": "ag", "providers": {"ag": {"mode": "session", "protocol": "jsonl", "command": ["\#(agent)"], "max_sessions": 1}}, "#
                + #""timeouts": {"session": {"idle_timeout": 3, "warning_before_timeout": 1}}"#))
        let daemon = try await DaemonProcess(t).ready()
        func logged(_ text: String) -> Int {
            daemon.log.split(separator: "\n").filter { $0.contains("output between tasks") && $0.contains(text) }.count
        }
        for turn in 1...5 {
            try t.drop("s\(turn).json", #"{"id": "s\#(turn)", "command": "turn \#(turn)"}"#)
            let record = try await eventuallyValue("s\(turn)'s record") { t.record("s\(turn)") }
            #expect(record["state"] == .string("succeeded"))
            // Written to stderr before the result line: the task's, every time.
            let diagnostic = "agent-stderr: diagnostic for turn \(turn)\n"
            #expect(t.read("done/s\(turn).err") == diagnostic, "turn \(turn)")
            #expect(record["stderr_bytes"] == .int(Int64(diagnostic.utf8.count)))
            // Written after the result: nobody's task, so it is logged.
            try await eventually("turn \(turn)'s background line logged") { logged("background") == turn }
        }
        // Its farewell, written as the daemon closed the idle session, is logged too.
        try await eventually("the farewell logged") { logged("agent-stderr: closing after") >= 1 }
        _ = try await daemon.stop()
        let sessions = Set(t.records().values.compactMap { $0["session"]?.stringValue })
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("output between tasks") }
        #expect(lines.allSatisfy { line in sessions.contains { line.contains("session=\($0)") } }, "each with its session's id")
        #expect(t.survivors().isEmpty)
    }
}
