import Glibc
import Testing
@testable import HopperCore

/// The agent protocol, authentication with backoff, the circuit breaker and
/// secret masking, driven through fake provider CLIs.
@Suite(.serialized) struct AuthenticationTests {
    let fixtures = SessionTests.fixtures
    let agent = SessionTests.echoAgent

    func events(_ t: TestSpool, _ name: String) throws -> [JSONObject] {
        try t.events().filter { $0["event"] == .string(name) }
    }

    func agentProvider(_ auth: String = "") -> String {
        #""agent": {"mode": "session", "protocol": "jsonl", "command": ["\#(agent)"], "max_sessions": 1\#(auth)}"#
    }

    @Test func agentSessionsContinueTheConversation() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""providers": {\#(agentProvider())}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("one.json", #"{"id": "one", "provider": "agent", "command": "hello"}"#)
        let one = try await eventuallyValue("one") { t.record("one") }
        try t.drop("two.json", #"{"id": "two", "provider": "agent", "command": "again"}"#)
        let two = try await eventuallyValue("two") { t.record("two") }
        try t.drop("bad.json", #"{"id": "bad", "provider": "agent", "command": "fail"}"#)
        let bad = try await eventuallyValue("bad") { t.record("bad") }
        #expect(one["state"] == .string("succeeded"))
        #expect(one["result"]?.objectValue?["result"] == .string("echo: hello"))
        #expect(two["result"]?.objectValue?["num_turns"] == .int(2), "one session is one conversation")
        #expect(one["session"] == two["session"])
        #expect(bad["state"] == .string("failed"))
        #expect(bad["result"]?.objectValue?["is_error"] == .bool(true))
        let lines = (t.read("done/one.out") ?? "").split(separator: "\n")
        #expect(lines.last.flatMap { try? JSONParser.parse(String($0)).objectValue?["type"] } == .string("result"))
        try t.drop("crash.json", #"{"id": "crash", "provider": "agent", "command": "crash"}"#)
        #expect(try await eventuallyValue("crash") { t.record("crash") }["state"] == .string("failed"))
        try t.drop("three.json", #"{"id": "three", "provider": "agent", "command": "back"}"#)
        let three = try await eventuallyValue("three") { t.record("three") }
        #expect(three["state"] == .string("succeeded") && three["session"] != one["session"])
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test func retryableAuthFailuresAreRetriedWithGrowingDelays() async throws {
        let t = try TestSpool(config: nil)
        let auth = #", "auth": {"command": ["\#(fixtures)/auth-flaky.sh", "\#(t.base)/count", "2"], "retryable_exit_codes": [75]}"#
        try t.write(t.configPath, TestSpool.configuration(#""providers": {\#(agentProvider(auth))}, "timeouts": {"authentication": {"retry_delay": [0.1, 0.3], "max_attempts": 3}}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("a.json", #"{"id": "a", "provider": "agent", "command": "hi"}"#)
        let a = try await eventuallyValue("a") { t.record("a") }
        #expect(a["state"] == .string("succeeded"))
        #expect(a["attempts"] == .int(1), "auth failures are not charged to the task")
        let attempts = try events(t, "auth.attempt")
        #expect(attempts.count == 3)
        let failed = try events(t, "auth.failed")
        #expect(failed.count == 2 && failed.allSatisfy { $0["retryable"] == .bool(true) })
        let times = attempts.compactMap { $0["ts"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) }
        #expect(times[2] - times[1] > times[1] - times[0], "delays grow")
        _ = try await daemon.stop()
    }

    @Test func deniedAuthOpensTheCircuitWhileOtherProvidersRun() async throws {
        let auth = #", "auth": {"command": ["\#(fixtures)/auth-deny.sh"]}"#
        let t = try TestSpool(config: TestSpool.configuration(
            #""providers": {\#(agentProvider(auth))}, "circuit_breaker": {"failure_threshold": 2, "cooldown": 60}, "timeouts": {"authentication": {"retry_delay": [0.05]}}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("locked.json", #"{"id": "locked", "provider": "agent", "command": "hi", "queue_timeout": 1.5}"#)
        try await eventually("the circuit open") { try !events(t, "circuit.open").isEmpty }
        // Another provider is not held up.
        try t.drop("other.json", #"{"id": "other", "command": "echo other"}"#)
        #expect(try await eventuallyValue("other") { t.record("other") }["state"] == .string("succeeded"))
        let locked = try await eventuallyValue("locked expired") { t.record("locked") }
        #expect(locked["state"] == .string("error"))
        #expect(locked["reason"] == .string("expired"))
        #expect(locked["message"]?.stringValue?.contains("invalid credentials") == true, "the last auth error is named")
        let attempts = try events(t, "auth.attempt").count
        #expect(attempts == 2, "no attempts while the circuit is open (\(attempts))")
        #expect(try events(t, "auth.failed").allSatisfy { $0["retryable"] == .bool(false) })
        let status = try #require(try JSONParser.parse(t.read("status.json") ?? "").objectValue)
        #expect(status["providers"]?.objectValue?["agent"]?.objectValue?["circuit"] == .string("open"))
        let human = try t.hopper(["status"]).stdout
        #expect(human.contains("open") && human.contains("invalid credentials"), "status names the circuit and the last auth error")
        _ = try await daemon.stop()
    }

    @Test func tokensAndSecretsAreMaskedEverywhere() async throws {
        let auth = #", "auth": {"token_command": ["\#(fixtures)/token.sh"], "token_env": "AGENT_TOKEN"}"#
        let shell = #""shs": {"mode": "session", "protocol": "shell", "command": ["/bin/sh"], "secrets": ["API_KEY"], "env": {"API_KEY": "hunter2-key"}\#(auth)}"#
        let t = try TestSpool(config: TestSpool.configuration(#""providers": {\#(shell)}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("leak.json", #"{"id": "leak", "provider": "shs", "command": "echo token=$AGENT_TOKEN key=$API_KEY; echo $API_KEY >&2; exit 1", "labels": {"note": "hunter2-key"}}"#)
        let leak = try await eventuallyValue("leak") { t.record("leak") }
        #expect(t.read("done/leak.out") == "token=*** key=***\n")
        #expect(t.read("done/leak.err") == "***\n")
        #expect(leak["labels"]?.objectValue?["note"] == .string("***"))
        _ = try await daemon.stop()
        for file in ["events.jsonl", "done/leak.json", "status.json"] {
            let text = t.read(file) ?? ""
            #expect(!text.contains("secret-token-123") && !text.contains("hunter2-key"), "\(file)")
        }
        #expect(!daemon.log.contains("hunter2-key"))
    }

    @Test func anExecProvidersAuthenticatedContextIsReused() async throws {
        let auth = #", "auth": {"token_command": ["\#(fixtures)/token.sh"], "token_env": "TOKEN", "command": ["/bin/sh", "-c", "[ -n \"$TOKEN\" ]"]}"#
        let t = try TestSpool(config: TestSpool.configuration(#""providers": {"api": {"mode": "exec", "command": ["/bin/sh", "-c", "{command}"]\#(auth)}}"#))
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<3 { try t.drop("c\(i).json", #"{"id": "c\#(i)", "provider": "api", "command": "echo ${#TOKEN} $TOKEN"}"#) }
        for i in 0..<3 {
            let r = try await eventuallyValue("c\(i)") { t.record("c\(i)") }
            #expect(r["state"] == .string("succeeded"))
            // The token reached the command (16 characters once trimmed), masked in its output.
            #expect(t.read("done/c\(i).out") == "16 ***\n")
        }
        #expect(try events(t, "auth.attempt").count == 1, "one authentication for all three tasks")
        #expect(Set(t.records().values.compactMap { $0["session"]?.stringValue }).count == 1)
        _ = try await daemon.stop()
    }

    @Test func aHangingAuthCommandTimesOutAsRetryable() async throws {
        let auth = #", "auth": {"command": ["\#(fixtures)/auth-hang.sh"]}"#
        let t = try TestSpool(config: TestSpool.configuration(
            #""providers": {\#(agentProvider(auth))}, "timeouts": {"authentication": {"timeout": 0.2, "retry_delay": [0.05], "max_attempts": 2}}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("w.json", #"{"id": "w", "provider": "agent", "command": "hi", "queue_timeout": 2}"#)
        let w = try await eventuallyValue("w expired") { t.record("w") }
        #expect(w["reason"] == .string("expired"))
        let failed = try events(t, "auth.failed")
        #expect(failed.count >= 2 && failed.allSatisfy { $0["retryable"] == .bool(true) })
        #expect(failed.first?["message"]?.stringValue?.contains("timed out") == true)
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty, "the hung auth commands were killed")
    }

    @Test func aTokenIsMaskedEvenWhenAuthenticationFails() async throws {
        let auth = #", "auth": {"token_command": ["\#(fixtures)/token.sh"], "token_env": "TOKEN", "command": ["/bin/sh", "-c", "echo rejected token $TOKEN >&2; exit 1"]}"#
        let t = try TestSpool(config: TestSpool.configuration(#""providers": {\#(agentProvider(auth))}"#))
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("x.json", #"{"id": "x", "provider": "agent", "command": "hi", "queue_timeout": 0.5}"#)
        let x = try await eventuallyValue("x expired") { t.record("x") }
        _ = try await daemon.stop()
        #expect(try events(t, "auth.failed").first?["message"]?.stringValue?.contains("rejected token ***") == true)
        for text in [JSONValue.object(x).serialized(), t.read("events.jsonl") ?? "", t.read("status.json") ?? "", daemon.log] {
            #expect(!text.contains("secret-token-123"))
        }
    }
}
