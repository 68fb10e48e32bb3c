import Glibc
import Testing
@testable import HopperCore

/// A rejected configuration and the key path its error must name.
struct ConfigRejection: Sendable, CustomTestStringConvertible {
    var json: String
    var code: HopperError.Code
    var field: String

    init(_ json: String, _ code: HopperError.Code, _ field: String) {
        self.json = json
        self.code = code
        self.field = field
    }

    var testDescription: String { json }
}

/// `config/hopper.json` (SPEC section 8): defaults, providers, and errors that
/// name the key.
@Suite struct ConfigurationTests {
    private func decoded(_ json: String) throws -> Configuration {
        try Configuration(json: try JSONParser.parse(json))
    }

    private func rejection(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) -> HopperError? {
        do {
            _ = try Configuration(json: try JSONParser.parse(json))
            Issue.record("accepted \(json)", sourceLocation: sourceLocation)
            return nil
        } catch let error as HopperError {
            return error
        } catch {
            Issue.record("not a configuration error: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    private func expectSpecDefaults(_ c: Configuration, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(c.workers == 4, sourceLocation: sourceLocation)
        #expect(c.defaultProvider == "sh", sourceLocation: sourceLocation)
        #expect(c.durability == .fsync, sourceLocation: sourceLocation)
        #expect(c.shutdownGrace == 10, sourceLocation: sourceLocation)
        #expect(c.maxRequestBytes == 1_048_576, sourceLocation: sourceLocation)
        #expect(c.maxOutputBytes == 10_485_760, sourceLocation: sourceLocation)
        #expect(c.maxEventsBytes == 104_857_600, sourceLocation: sourceLocation)
        #expect(c.sessionIdleTimeout == 300, sourceLocation: sourceLocation)
        #expect(c.sessionMaxLifetime == 3600, sourceLocation: sourceLocation)
        #expect(c.sessionWarningBeforeTimeout == 30, sourceLocation: sourceLocation)
        #expect(c.authTimeout == 30, sourceLocation: sourceLocation)
        #expect(c.authRetryDelay.delays == [1, 2, 4, 8, 16], sourceLocation: sourceLocation)
        #expect(c.authMaxAttempts == 3, sourceLocation: sourceLocation)
        #expect(c.commandDefaultTimeout == 300, sourceLocation: sourceLocation)
        #expect(c.commandMaxTimeout == 1800, sourceLocation: sourceLocation)
        #expect(c.commandKillGrace == 5, sourceLocation: sourceLocation)
        #expect(c.commandRetryDelay.delays == [1, 2, 4, 8, 16], sourceLocation: sourceLocation)
        #expect(c.queueDefaultTimeout == 0, sourceLocation: sourceLocation)
        #expect(c.circuitFailureThreshold == 5, sourceLocation: sourceLocation)
        #expect(c.circuitCooldown == 60, sourceLocation: sourceLocation)
        #expect(c.retentionDoneMaxAge == 0, sourceLocation: sourceLocation)
        #expect(Set(c.providers.keys) == ["sh", "exec"], sourceLocation: sourceLocation)
    }

    @Test func emptyObjectGivesTheSpecDefaults() throws {
        expectSpecDefaults(try decoded("{}"))
        expectSpecDefaults(Configuration())
    }

    /// The sample of SPEC section 8, verbatim, decodes to the same defaults.
    @Test func specSampleDecodes() throws {
        let sample = """
        {
          "workers": 4,
          "default_provider": "sh",
          "durability": "fsync",
          "shutdown_grace": 10,
          "limits": { "max_request_bytes": 1048576, "max_output_bytes": 10485760, "max_events_bytes": 104857600 },
          "timeouts": {
            "session": { "idle_timeout": 300, "max_lifetime": 3600, "warning_before_timeout": 30 },
            "authentication": { "timeout": 30, "retry_delay": [1, 2, 4, 8, 16], "max_attempts": 3 },
            "command": { "default_timeout": 300, "max_timeout": 1800, "kill_grace": 5, "retry_delay": [1, 2, 4, 8, 16] },
            "queue": { "default_timeout": 0 }
          },
          "circuit_breaker": { "failure_threshold": 5, "cooldown": 60 },
          "retention": { "done_max_age": 0 },
          "providers": { }
        }
        """
        expectSpecDefaults(try decoded(sample))
    }

    @Test func builtInProviders() throws {
        let c = try decoded("{}")
        for name in ["sh", "exec"] {
            let p = try #require(c.providers[name])
            #expect(p.name == name)
            #expect(!p.command.isEmpty)
            #expect(p.maxSessions >= 1)
        }
        let exec = try #require(c.providers["exec"])
        #expect(exec.mode == .exec)
        #expect(exec.command.contains("{command}"))
    }

    @Test func valuesAreRead() throws {
        let c = try decoded("""
        {"workers": 8, "durability": "none", "shutdown_grace": 2.5, "default_provider": "exec",
         "limits": {"max_output_bytes": 0},
         "timeouts": {"session": {"idle_timeout": 0.5, "warning_before_timeout": 0.25},
                      "command": {"default_timeout": 5, "max_timeout": 5, "retry_delay": [0.5, 60]},
                      "queue": {"default_timeout": 3600}},
         "circuit_breaker": {"failure_threshold": 1, "cooldown": 0}, "retention": {"done_max_age": 86400}}
        """)
        #expect(c.workers == 8)
        #expect(c.durability == .none)
        #expect(c.shutdownGrace == 2.5)
        #expect(c.defaultProvider == "exec")
        #expect(c.maxOutputBytes == 0)
        #expect(c.maxRequestBytes == 1_048_576, "untouched keys keep their defaults")
        #expect(c.sessionIdleTimeout == 0.5)
        #expect(c.sessionWarningBeforeTimeout == 0.25)
        #expect(c.sessionMaxLifetime == 3600)
        #expect(c.commandDefaultTimeout == 5 && c.commandMaxTimeout == 5)
        #expect(c.commandRetryDelay == Backoff(delays: [0.5, 60]))
        #expect(c.authRetryDelay == Backoff(delays: [1, 2, 4, 8, 16]))
        #expect(c.queueDefaultTimeout == 3600)
        #expect(c.circuitFailureThreshold == 1 && c.circuitCooldown == 0)
        #expect(c.retentionDoneMaxAge == 86400)
    }

    @Test func nullKeysKeepDefaults() throws {
        expectSpecDefaults(try decoded(#"{"workers": null, "limits": null, "timeouts": {"command": null}, "providers": null}"#))
    }

    @Test func configuredProvidersMergeWithBuiltIns() throws {
        let c = try decoded("""
        {"default_provider": "agent", "providers": {
          "agent": {"mode": "session", "protocol": "jsonl", "command": ["examples/providers/echo-agent"],
                    "auth": {"command": ["examples/providers/echo-agent", "--auth-check"], "token_command": ["printf", "tok"],
                             "token_env": "AGENT_TOKEN", "retryable_exit_codes": [75, 0, 255]},
                    "env": {"MODE": "test"}, "secrets": ["AGENT_API_KEY"], "cwd": "/srv", "max_sessions": 2}
        }}
        """)
        #expect(Set(c.providers.keys) == ["sh", "exec", "agent"])
        #expect(c.defaultProvider == "agent")
        let a = try #require(c.providers["agent"])
        #expect(a.name == "agent")
        #expect(a.mode == .session)
        #expect(a.wireProtocol == .jsonl)
        #expect(a.command == ["examples/providers/echo-agent"])
        #expect(a.maxSessions == 2)
        #expect(a.cwd == "/srv")
        #expect(a.secrets == ["AGENT_API_KEY"])
        #expect(a.env.map(\.0) == ["MODE"] && a.env.map(\.1) == ["test"])
        let auth = try #require(a.auth)
        #expect(auth.command == ["examples/providers/echo-agent", "--auth-check"])
        #expect(auth.tokenCommand == ["printf", "tok"])
        #expect(auth.tokenEnv == "AGENT_TOKEN")
        #expect(auth.retryableExitCodes == [75, 0, 255])
        #expect(TaskRequest.Rules(c).providers == ["sh", "exec", "agent"])
    }

    @Test func providerDefaults() throws {
        let p = try #require(try decoded(#"{"providers": {"x": {"command": ["/bin/sh", "-c", "{command}"]}}}"#).providers["x"])
        #expect(p.mode == .exec)
        #expect(p.wireProtocol == .shell)
        #expect(p.maxSessions == 1)
        #expect(p.auth == nil && p.cwd == nil && p.env.isEmpty && p.secrets.isEmpty)
    }

    @Test func anExecProviderMustSayWhereTheCommandGoes() throws {
        #expect(throws: HopperError.self) { try decoded(#"{"providers": {"x": {"command": ["/bin/true"]}}}"#) }
    }

    @Test func aConfiguredProviderReplacesTheBuiltInOfTheSameName() throws {
        let c = try decoded(#"{"providers": {"sh": {"mode": "session", "command": ["/bin/sh"], "max_sessions": 4}}}"#)
        let sh = try #require(c.providers["sh"])
        #expect(sh.mode == .session && sh.command == ["/bin/sh"] && sh.maxSessions == 4)
        #expect(c.providers["exec"] != nil)
    }

    static let rejections: [ConfigRejection] = [
        .init(#"{"wrokers": 4}"#, .unknownField, "wrokers"),
        .init(#"{"timeouts": {"command": {"foo": 1}}}"#, .unknownField, "timeouts.command.foo"),
        .init(#"{"timeouts": {"sessions": {}}}"#, .unknownField, "timeouts.sessions"),
        .init(#"{"limits": {"max_request_byte": 10}}"#, .unknownField, "limits.max_request_byte"),
        .init(#"{"providers": {"p": {"command": ["x"], "colour": 1}}}"#, .unknownField, "providers.p.colour"),
        .init(#"{"providers": {"p": {"command": ["x"], "auth": {"tokenenv": "X"}}}}"#, .unknownField, "providers.p.auth.tokenenv"),
        .init(#"{"workers": "4"}"#, .invalidField, "workers"),
        .init(#"{"workers": 4.5}"#, .invalidField, "workers"),
        .init(#"{"workers": 0}"#, .invalidField, "workers"),
        .init(#"{"workers": -1}"#, .invalidField, "workers"),
        .init(#"{"shutdown_grace": -1}"#, .invalidField, "shutdown_grace"),
        .init(#"{"shutdown_grace": "10"}"#, .invalidField, "shutdown_grace"),
        .init(#"{"limits": 5}"#, .invalidField, "limits"),
        .init(#"{"limits": {"max_request_bytes": 1}}"#, .invalidField, "limits.max_request_bytes"),
        .init(#"{"timeouts": {"command": {"max_timeout": 0}}}"#, .invalidField, "timeouts.command.max_timeout"),
        .init(#"{"timeouts": {"command": {"retry_delay": []}}}"#, .invalidField, "timeouts.command.retry_delay"),
        .init(#"{"timeouts": {"authentication": {"retry_delay": [1, -2]}}}"#, .invalidField, "timeouts.authentication.retry_delay[1]"),
        .init(#"{"timeouts": {"authentication": {"max_attempts": 0}}}"#, .invalidField, "timeouts.authentication.max_attempts"),
        .init(#"{"timeouts": {"queue": {"default_timeout": -1}}}"#, .invalidField, "timeouts.queue.default_timeout"),
        .init(#"{"circuit_breaker": {"failure_threshold": 0}}"#, .invalidField, "circuit_breaker.failure_threshold"),
        .init(#"{"retention": {"done_max_age": "1d"}}"#, .invalidField, "retention.done_max_age"),
        .init(#"{"durability": "sometimes"}"#, .invalidField, "durability"),
        .init(#"{"durability": true}"#, .invalidField, "durability"),
        .init(#"{"default_provider": "nope"}"#, .invalidField, "default_provider"),
        .init(#"{"default_provider": ""}"#, .invalidField, "default_provider"),
        .init(#"{"timeouts": {"command": {"default_timeout": 2000}}}"#, .invalidField, "timeouts.command.default_timeout"),
        .init(#"{"timeouts": {"command": {"default_timeout": 60, "max_timeout": 30}}}"#, .invalidField, "timeouts.command.default_timeout"),
        .init(#"{"timeouts": {"session": {"idle_timeout": 30, "warning_before_timeout": 30}}}"#, .invalidField, "timeouts.session.warning_before_timeout"),
        .init(#"{"providers": []}"#, .invalidField, "providers"),
        .init(#"{"providers": {"../p": {"command": ["x"]}}}"#, .invalidField, "providers"),
        .init(#"{"providers": {"p": 1}}"#, .invalidField, "providers.p"),
        .init(#"{"providers": {"p": {"command": []}}}"#, .invalidField, "providers.p.command"),
        .init(#"{"providers": {"p": {}}}"#, .missingField, "providers.p.command"),
        .init(#"{"providers": {"p": {"command": "/bin/sh"}}}"#, .invalidField, "providers.p.command"),
        .init(#"{"providers": {"p": {"command": ["x", 1]}}}"#, .invalidField, "providers.p.command[1]"),
        .init(#"{"providers": {"p": {"mode": "daemon", "command": ["x"]}}}"#, .invalidField, "providers.p.mode"),
        .init(#"{"providers": {"p": {"protocol": "xml", "command": ["x"]}}}"#, .invalidField, "providers.p.protocol"),
        .init(#"{"providers": {"p": {"command": ["x"], "max_sessions": 0}}}"#, .invalidField, "providers.p.max_sessions"),
        .init(#"{"providers": {"p": {"command": ["x"], "cwd": "rel"}}}"#, .invalidField, "providers.p.cwd"),
        .init(#"{"providers": {"p": {"command": ["x"], "env": {"1X": "y"}}}}"#, .invalidField, "providers.p.env"),
        .init(#"{"providers": {"p": {"command": ["x"], "secrets": ["A-B"]}}}"#, .invalidField, "providers.p.secrets"),
        .init(#"{"providers": {"p": {"command": ["x"], "auth": {"token_command": ["t"]}}}}"#, .missingField, "providers.p.auth.token_env"),
        .init(#"{"providers": {"p": {"command": ["x"], "auth": {"token_command": ["t"], "token_env": "1X"}}}}"#, .invalidField, "providers.p.auth.token_env"),
        .init(#"{"providers": {"p": {"command": ["x"], "auth": {"retryable_exit_codes": [256]}}}}"#, .invalidField, "providers.p.auth.retryable_exit_codes"),
        .init(#"{"providers": {"p": {"command": ["x"], "auth": {"retryable_exit_codes": 75}}}}"#, .invalidField, "providers.p.auth.retryable_exit_codes"),
    ]

    @Test(arguments: rejections)
    func rejectsNamingTheKeyPath(_ c: ConfigRejection) throws {
        let error = try #require(rejection(c.json))
        #expect(error.code == c.code, "\(error.message)")
        #expect(error.field == c.field, "\(error.message)")
        #expect(error.message.contains("\"\(c.field)\""), "message does not name \(c.field): \(error.message)")
    }

    @Test func topLevelMustBeAnObject() {
        #expect(rejection("[]")?.code == .invalidJSON)
        #expect(rejection("null")?.code == .invalidJSON)
    }

    // MARK: load(path:)

    /// A fresh directory under /tmp, removed with its files by `body`'s end.
    private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/hopper-unit-config-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let dir = String(cString: try #require(made))
        defer { _ = unlink(dir + "/hopper.json"); _ = rmdir(dir) }
        try body(dir)
    }

    private func write(_ text: String, to path: String) throws {
        let file = try #require(fopen(path, "w"))
        let bytes = Array(text.utf8)
        #expect(fwrite(bytes, 1, bytes.count, file) == bytes.count)
        #expect(fclose(file) == 0)
    }

    @Test func loadingAMissingFileGivesDefaults() throws {
        try withTemporaryDirectory { dir in
            expectSpecDefaults(try Configuration.load(path: dir + "/hopper.json"))
        }
    }

    @Test func loadingAFile() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hopper.json"
            try write(#"{"workers": 2, "durability": "none"}"#, to: path)
            let c = try Configuration.load(path: path)
            #expect(c.workers == 2 && c.durability == .none)
        }
    }

    @Test func loadingInvalidJSONNamesTheFile() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hopper.json"
            try write("{\"workers\": 4,}\n", to: path)
            let error = try #require(try loadError(path))
            #expect(error.code == .config)
            #expect(error.message.hasPrefix(path + ": "), "\(error.message)")
        }
    }

    @Test func loadingABadKeyNamesTheFileAndTheKey() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hopper.json"
            try write(#"{"timeouts": {"command": {"foo": 1}}}"#, to: path)
            let error = try #require(try loadError(path))
            #expect(error.code == .config)
            #expect(error.field == "timeouts.command.foo")
            #expect(error.message.hasPrefix(path + ": "))
            #expect(error.message.contains("timeouts.command.foo"))
        }
    }

    @Test func loadingADirectoryIsAConfigError() throws {
        try withTemporaryDirectory { dir in
            let error = try #require(try loadError(dir))
            #expect(error.code == .config)
            #expect(error.message.hasPrefix(dir + ": "))
        }
    }

    private func loadError(_ path: String) throws -> HopperError? {
        do {
            _ = try Configuration.load(path: path)
            Issue.record("loaded \(path)")
            return nil
        } catch { return error }
    }

    // MARK: Backoff

    @Test func backoffCapsAtTheLastEntry() {
        let b = Backoff(delays: [1, 2, 4, 8, 16])
        #expect((0..<5).map(b.delay(forRetry:)) == [1, 2, 4, 8, 16])
        #expect(b.delay(forRetry: 5) == 16)
        #expect(b.delay(forRetry: 1_000_000) == 16)
        #expect(b.delay(forRetry: Int.max) == 16)
        #expect(b.delay(forRetry: -1) == 1)
        #expect(Backoff(delays: [0.5]).delay(forRetry: 3) == 0.5)
        #expect(Backoff(delays: []).delay(forRetry: 0) == 0)
    }
}
