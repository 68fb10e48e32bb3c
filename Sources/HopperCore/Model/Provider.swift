/// A configured kind of CLI that runs tasks (SPEC section 7).
public struct Provider: Sendable {
    public enum Mode: String, Sendable { case exec, session, slurm }
    public enum WireProtocol: String, Sendable { case shell, jsonl }

    /// How a session authenticates before its first task.
    public struct Auth: Sendable {
        public var command: [String]?
        public var tokenCommand: [String]?
        public var tokenEnv: String?
        public var retryableExitCodes: [Int32] = []
    }

    public var name: String
    public var mode: Mode
    public var wireProtocol: WireProtocol
    public var command: [String]
    public var auth: Auth?
    public var env: [(String, String)] = []
    public var secrets: [String] = []
    public var cwd: String?
    public var maxSessions: Int = 1
    /// The agent CLI this provider runs (`agent`), with its preset (SPEC section 7a).
    public var agent: AgentSettings?
    /// `budget.usd_per_day`: the spend after which the provider is limited until the next UTC day.
    public var budgetUSDPerDay: Double?
    /// `timeouts.command.idle_output` for this provider, when it has its own
    /// (an agent preset's 600 s); nil means the configuration's.
    public var idleOutputTimeout: Double?
    /// `mode: "slurm"`: where and how its tasks are submitted (SPEC section 11).
    public var slurm: SlurmSettings?
    /// This provider's completion hook (argv), replacing the configuration's `on_finish`.
    public var onFinish: [String]?
    /// Its bound, replacing the configuration's `on_finish_timeout`.
    public var onFinishTimeout: Double?

    public init(name: String, mode: Mode, wireProtocol: WireProtocol = .shell, command: [String], maxSessions: Int = 1) {
        self.name = name
        self.mode = mode
        self.wireProtocol = wireProtocol
        self.command = command
        self.maxSessions = maxSessions
    }

    /// The argv of an attempt outside a session: `{command}` in each word of
    /// `command` replaced by the task's command.
    func argv(running taskCommand: String) -> [String] {
        command.map { $0.replacingEvery("{command}", with: taskCommand) }
    }

    /// `sh` and `exec`, available without any configuration.
    public static let builtIns: [String: Provider] = [
        "sh": Provider(name: "sh", mode: .session, wireProtocol: .shell, command: ["/bin/sh"], maxSessions: 4),
        "exec": Provider(name: "exec", mode: .exec, command: ["/bin/sh", "-c", "{command}"]),
    ]

    init(name: String, json: JSONValue) throws(HopperError) {
        var r = try FieldReader(json, path: "providers.\(name)")
        let modeName = try r.string("mode")
        let mode = try modeName.map { (m) throws(HopperError) in
            guard let mode = Mode(rawValue: m) else {
                throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("mode"))): expected \"exec\", \"session\" or \"slurm\", got \(JSONValue.string(m).serialized())", field: r.name("mode"))
            }
            return mode
        }
        if let agentName = try r.string("agent") {
            try self.init(name: name, agent: agentName, mode: mode, reader: &r)
        } else {
            for key in ["executable", "args"] where r.object[key] != nil && r.object[key] != .null {
                throw HopperError(.invalidField, "key \(FieldReader.quote(r.name(key))): only for agent providers; name the agent with \"agent\"", field: r.name(key))
            }
            let protocolName = try r.string("protocol") ?? "shell"
            guard let proto = WireProtocol(rawValue: protocolName) else {
                throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("protocol"))): expected \"shell\" or \"jsonl\", got \(JSONValue.string(protocolName).serialized())", field: r.name("protocol"))
            }
            let command = try r.required("command") { (r, k) throws(HopperError) in try r.stringArray(k, nonEmpty: true) }
            self.init(name: name, mode: mode ?? .exec, wireProtocol: proto, command: command)
        }
        env = try r.stringMap("env", keyPattern: isEnvironmentName, keyDescription: "an environment variable name") ?? []
        secrets = (agent?.preset.keyVariables ?? []) + (try r.stringArray("secrets") ?? [])
        for s in secrets where !isEnvironmentName(s) {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("secrets"))): \(JSONValue.string(s).serialized()) is not an environment variable name", field: r.name("secrets"))
        }
        cwd = try r.string("cwd", nonEmpty: true)
        if let cwd, !cwd.hasPrefix("/") {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("cwd"))): expected an absolute path", field: r.name("cwd"))
        }
        maxSessions = try r.int("max_sessions", in: 1...1024) ?? 1
        budgetUSDPerDay = try r.nested("budget") { (b) throws(HopperError) in
            guard let usd = b.value("usd_per_day") else { return nil }
            guard let d = usd.doubleValue, d > 0 else { throw b.invalid("usd_per_day", "a number of US dollars > 0", usd) }
            return d
        } ?? nil
        onFinish = try r.stringArray("on_finish", nonEmpty: true)
        onFinishTimeout = try r.seconds("on_finish_timeout", exclusive: true)
        auth = try r.nested("auth") { (a) throws(HopperError) in
            var auth = Auth()
            auth.command = try a.stringArray("command", nonEmpty: true)
            auth.tokenCommand = try a.stringArray("token_command", nonEmpty: true)
            auth.tokenEnv = try a.string("token_env", nonEmpty: true)
            if let t = auth.tokenEnv, !isEnvironmentName(t) {
                throw HopperError(.invalidField, "key \(FieldReader.quote(a.name("token_env"))): not an environment variable name", field: a.name("token_env"))
            }
            if auth.tokenCommand != nil && auth.tokenEnv == nil {
                throw HopperError(.missingField, "key \(FieldReader.quote(a.name("token_env"))) is required with token_command", field: a.name("token_env"))
            }
            if let v = a.value("retryable_exit_codes") {
                guard case .array(let items) = v else { throw a.invalid("retryable_exit_codes", "an array of exit codes", v) }
                for item in items {
                    guard case .int(let c) = item, (0...255).contains(c) else { throw a.invalid("retryable_exit_codes", "exit codes from 0 to 255", item) }
                    auth.retryableExitCodes.append(Int32(c))
                }
            }
            return auth
        } ?? agent?.authCommand.map { (command) -> Auth in
            var auth = Auth()
            auth.command = command
            return auth
        }
        slurm = try r.nested("slurm") { (s) throws(HopperError) in try SlurmSettings(reader: &s) }
        if mode == .slurm {
            if slurm == nil { slurm = SlurmSettings() }
            if auth != nil {
                throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("auth"))): not supported with mode \"slurm\"", field: r.name("auth"))
            }
        } else if slurm != nil {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("slurm"))): only with mode \"slurm\"", field: r.name("slurm"))
        }
        try r.finish()
    }

    /// The part of decoding that an `agent` key changes: the command line,
    /// mode and protocol come from the preset, so `command` and `protocol`
    /// may not be given; `executable` and `args` adjust the preset's.
    private init(name: String, agent agentName: String, mode: Mode?, reader r: inout FieldReader) throws(HopperError) {
        guard let preset = AgentPreset.named(agentName) else {
            let names = AgentPreset.Name.allCases.map(\.rawValue).joined(separator: ", ")
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("agent"))): expected one of \(names), got \(JSONValue.string(agentName).serialized())", field: r.name("agent"))
        }
        for key in ["command", "protocol"] where r.object[key] != nil && r.object[key] != .null {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name(key))): not allowed with \"agent\", whose preset sets it; use \"executable\" and \"args\"", field: r.name(key))
        }
        let settings = AgentSettings(preset: preset, executable: try r.string("executable", nonEmpty: true),
                                     args: try r.stringArray("args") ?? [], mode: mode)
        guard preset.invocation(settings.mode) != nil else {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("mode"))): agent \"\(agentName)\" cannot run as \"\(settings.mode.rawValue)\"; it runs as \"\(preset.defaultMode.rawValue)\"", field: r.name("mode"))
        }
        self.init(name: name, mode: settings.mode, wireProtocol: settings.mode == .session ? .jsonl : .shell,
                  command: settings.commandTemplate)
        agent = settings
        idleOutputTimeout = preset.idleOutputTimeout
    }
}
