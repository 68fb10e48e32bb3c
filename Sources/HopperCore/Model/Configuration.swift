/// Hopper's configuration (`config/hopper.json`), every key with its default.
///
/// Decoding is strict: an unknown key, a wrong type or an out-of-range value
/// is an error that names the key's full path.
public struct Configuration: Sendable {
    public enum Durability: String, Sendable { case fsync, none }

    public var workers = 4
    public var defaultProvider = "sh"
    public var durability = Durability.fsync
    public var shutdownGrace = 10.0
    public var maxRequestBytes = 1_048_576
    public var maxOutputBytes = 10_485_760
    public var maxEventsBytes = 104_857_600
    public var sessionIdleTimeout = 300.0
    public var sessionMaxLifetime = 3600.0
    public var sessionWarningBeforeTimeout = 30.0
    public var authTimeout = 30.0
    public var authRetryDelay = Backoff(delays: [1, 2, 4, 8, 16])
    public var authMaxAttempts = 3
    public var commandDefaultTimeout = 300.0
    public var commandMaxTimeout = 1800.0
    public var commandKillGrace = 5.0
    public var commandRetryDelay = Backoff(delays: [1, 2, 4, 8, 16])
    /// `timeouts.command.idle_output` as written; nil when not given (see `idleOutputTimeout(for:)`).
    public var commandIdleOutput: Double?
    public var queueDefaultTimeout = 0.0
    /// `rate_limit.backoff`: how long a provider that reported a rate limit
    /// without a reset time stays limited, doubling from `start` up to `cap`.
    public var rateLimitBackoffStart = 60.0
    public var rateLimitBackoffCap = 3600.0
    public var circuitFailureThreshold = 5
    public var circuitCooldown = 60.0
    public var retentionDoneMaxAge = 0.0
    /// Seconds a file written in place in incoming/ must be left alone before it is taken.
    public var intakeSettle = 0.25
    public var security = SecurityPolicy()
    /// The completion hook (argv): run with the record's path appended after each record.
    public var onFinish: [String]?
    public var onFinishTimeout = 30.0
    var warningWasSet = false
    /// Built-in providers merged with the configured ones (a configured
    /// provider of the same name replaces the built-in one).
    public var providers: [String: Provider] = Provider.builtIns

    public init() {}

    /// Decodes a configuration document.
    public init(json: JSONValue) throws(HopperError) {
        var r = try FieldReader(json)
        let d = Configuration()
        workers = try r.int("workers", in: 1...1024) ?? d.workers
        defaultProvider = try r.string("default_provider", nonEmpty: true) ?? d.defaultProvider
        if let s = try r.string("durability") {
            guard let v = Durability(rawValue: s) else {
                throw HopperError(.invalidField, "key \"durability\": expected \"fsync\" or \"none\", got \(JSONValue.string(s).serialized())", field: "durability")
            }
            durability = v
        }
        shutdownGrace = try r.seconds("shutdown_grace") ?? d.shutdownGrace
        onFinish = try r.stringArray("on_finish", nonEmpty: true)
        onFinishTimeout = try r.seconds("on_finish_timeout", exclusive: true) ?? d.onFinishTimeout
        var this = self
        _ = try r.nested("limits") { (l) throws(HopperError) in
            this.maxRequestBytes = try l.int("max_request_bytes", in: 2...(1 << 30)) ?? d.maxRequestBytes
            this.maxOutputBytes = try l.int("max_output_bytes", in: 0...(1 << 50)) ?? d.maxOutputBytes
            this.maxEventsBytes = try l.int("max_events_bytes", in: 4096...(1 << 50)) ?? d.maxEventsBytes
        }
        _ = try r.nested("timeouts") { (t) throws(HopperError) in
            _ = try t.nested("session") { (s) throws(HopperError) in
                this.sessionIdleTimeout = try s.seconds("idle_timeout", exclusive: true) ?? d.sessionIdleTimeout
                this.sessionMaxLifetime = try s.seconds("max_lifetime", exclusive: true) ?? d.sessionMaxLifetime
                if let w = try s.seconds("warning_before_timeout") {
                    this.sessionWarningBeforeTimeout = w
                    this.warningWasSet = true
                }
            }
            _ = try t.nested("authentication") { (a) throws(HopperError) in
                this.authTimeout = try a.seconds("timeout", exclusive: true) ?? d.authTimeout
                this.authRetryDelay = try a.delays("retry_delay").map(Backoff.init) ?? d.authRetryDelay
                this.authMaxAttempts = try a.int("max_attempts", in: 1...100) ?? d.authMaxAttempts
            }
            _ = try t.nested("command") { (c) throws(HopperError) in
                this.commandDefaultTimeout = try c.seconds("default_timeout", exclusive: true) ?? d.commandDefaultTimeout
                this.commandMaxTimeout = try c.seconds("max_timeout", exclusive: true) ?? d.commandMaxTimeout
                this.commandKillGrace = try c.seconds("kill_grace") ?? d.commandKillGrace
                this.commandRetryDelay = try c.delays("retry_delay").map(Backoff.init) ?? d.commandRetryDelay
                this.commandIdleOutput = try c.seconds("idle_output")
            }
            _ = try t.nested("queue") { (q) throws(HopperError) in
                this.queueDefaultTimeout = try q.seconds("default_timeout") ?? d.queueDefaultTimeout
            }
        }
        _ = try r.nested("circuit_breaker") { (c) throws(HopperError) in
            this.circuitFailureThreshold = try c.int("failure_threshold", in: 1...1_000_000) ?? d.circuitFailureThreshold
            this.circuitCooldown = try c.seconds("cooldown") ?? d.circuitCooldown
        }
        this.security = try r.nested("security") { (s) throws(HopperError) in try SecurityPolicy(&s) } ?? d.security
        _ = try r.nested("intake") { (i) throws(HopperError) in
            this.intakeSettle = try i.seconds("settle") ?? d.intakeSettle
        }
        _ = try r.nested("rate_limit") { (x) throws(HopperError) in
            guard let v = x.value("backoff") else { return }
            guard case .array(let items) = v, items.count == 2, let start = items[0].doubleValue, let cap = items[1].doubleValue,
                  start > 0, cap >= start, cap <= 1e9 else {
                throw x.invalid("backoff", "[start, cap]: seconds, 0 < start ≤ cap", v)
            }
            this.rateLimitBackoffStart = start
            this.rateLimitBackoffCap = cap
        }
        _ = try r.nested("retention") { (x) throws(HopperError) in
            this.retentionDoneMaxAge = try x.seconds("done_max_age") ?? d.retentionDoneMaxAge
        }
        if let v = r.value("providers") {
            guard case .object(let o) = v else { throw r.invalid("providers", "an object", v) }
            for (name, body) in o {
                guard TaskID(name) != nil else {
                    throw HopperError(.invalidField, "key \"providers\": provider name \(JSONValue.string(name).serialized()) must match [A-Za-z0-9][A-Za-z0-9._-]*", field: "providers")
                }
                this.providers[name] = try Provider(name: name, json: body)
            }
        }
        try r.finish()
        self = this
        try validate()
    }

    /// Cross-key rules.
    mutating func validate() throws(HopperError) {
        guard providers[defaultProvider] != nil else {
            throw HopperError(.invalidField, "key \"default_provider\": no provider named \(JSONValue.string(defaultProvider).serialized()) is configured", field: "default_provider")
        }
        guard commandDefaultTimeout <= commandMaxTimeout else {
            throw HopperError(.invalidField, "key \"timeouts.command.default_timeout\": \(commandDefaultTimeout) is above timeouts.command.max_timeout (\(commandMaxTimeout))", field: "timeouts.command.default_timeout")
        }
        if sessionWarningBeforeTimeout >= sessionIdleTimeout {
            // Only a value the user wrote is an error; the default shrinks to fit a short idle timeout.
            guard !warningWasSet else {
                throw HopperError(.invalidField, "key \"timeouts.session.warning_before_timeout\": must be below timeouts.session.idle_timeout", field: "timeouts.session.warning_before_timeout")
            }
            sessionWarningBeforeTimeout = sessionIdleTimeout / 2
        }
        for (name, p) in providers where p.mode == .exec && !p.command.contains(where: { $0.contains("{command}") }) {
            throw HopperError(.invalidField, "key \"providers.\(name).command\": an exec provider's command must contain {command}, where the task's command goes", field: "providers.\(name).command")
        }
    }

    /// How long a task of `provider` may write nothing before it is killed
    /// as hung (SPEC section 7a); 0 is never. A value written in the
    /// configuration applies to every provider; otherwise an agent preset's
    /// (600 s), otherwise none.
    public func idleOutputTimeout(for provider: Provider) -> Double {
        commandIdleOutput ?? provider.idleOutputTimeout ?? 0
    }

    /// Loads `path`; a missing file gives the built-in defaults, any other
    /// problem an error that names the file and the key.
    /// The completion hook for a provider's records and its timeout; nil when none is configured.
    public func hook(for provider: String) -> (command: [String], timeout: Double)? {
        let p = providers[provider]
        guard let command = p?.onFinish ?? onFinish else { return nil }
        return (command, p?.onFinishTimeout ?? onFinishTimeout)
    }

    /// Whether any completion hook is configured.
    public var hasHooks: Bool { onFinish != nil || providers.values.contains { $0.onFinish != nil } }

    public static func load(path: String) throws(HopperError) -> Configuration {
        let bytes: [UInt8]
        do {
            bytes = try AtomicFile.read(path: path, limit: 16 << 20)
        } catch let e where e.errno == .noEntry {
            return Configuration()
        } catch {
            throw HopperError(.config, "\(path): \(error.errno)", underlying: error)
        }
        do throws(HopperError) {
            let json: JSONValue
            do { json = try JSONParser.parse(bytes) } catch { throw HopperError(error) }
            return try Configuration(json: json)
        } catch {
            throw HopperError(.config, "\(path): \(error.message)", field: error.field, underlying: error)
        }
    }
}

/// A delay schedule: the n-th retry waits `delays[n]`, and every retry past
/// the list waits its last entry (exponential, capped).
public struct Backoff: Sendable, Equatable {
    public let delays: [Double]

    public init(delays: [Double]) { self.delays = delays.isEmpty ? [0] : delays }

    /// The wait before retry number `retry` (0-based).
    public func delay(forRetry retry: Int) -> Double {
        delays[min(max(retry, 0), delays.count - 1)]
    }
}
