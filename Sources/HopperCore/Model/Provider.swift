/// A configured kind of CLI that runs tasks (SPEC section 7).
public struct Provider: Sendable {
    public enum Mode: String, Sendable { case exec, session }
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

    /// `sh` and `exec`, available without any configuration.
    public static let builtIns: [String: Provider] = [
        "sh": Provider(name: "sh", mode: .session, wireProtocol: .shell, command: ["/bin/sh"], maxSessions: 4),
        "exec": Provider(name: "exec", mode: .exec, command: ["/bin/sh", "-c", "{command}"]),
    ]

    init(name: String, json: JSONValue) throws(HopperError) {
        var r = try FieldReader(json, path: "providers.\(name)")
        let modeName = try r.string("mode") ?? "exec"
        guard let mode = Mode(rawValue: modeName) else {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("mode"))): expected \"exec\" or \"session\", got \(JSONValue.string(modeName).serialized())", field: r.name("mode"))
        }
        let protocolName = try r.string("protocol") ?? "shell"
        guard let proto = WireProtocol(rawValue: protocolName) else {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("protocol"))): expected \"shell\" or \"jsonl\", got \(JSONValue.string(protocolName).serialized())", field: r.name("protocol"))
        }
        let command = try r.required("command") { (r, k) throws(HopperError) in try r.stringArray(k, nonEmpty: true) }
        self.init(name: name, mode: mode, wireProtocol: proto, command: command)
        env = try r.stringMap("env", keyPattern: isEnvironmentName, keyDescription: "an environment variable name") ?? []
        secrets = try r.stringArray("secrets") ?? []
        for s in secrets where !isEnvironmentName(s) {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("secrets"))): \(JSONValue.string(s).serialized()) is not an environment variable name", field: r.name("secrets"))
        }
        cwd = try r.string("cwd", nonEmpty: true)
        if let cwd, !cwd.hasPrefix("/") {
            throw HopperError(.invalidField, "key \(FieldReader.quote(r.name("cwd"))): expected an absolute path", field: r.name("cwd"))
        }
        maxSessions = try r.int("max_sessions", in: 1...1024) ?? 1
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
        }
        try r.finish()
    }
}
