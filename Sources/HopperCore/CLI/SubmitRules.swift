/// What validating a request needs of the configuration: the provider names
/// a request may use, `timeouts.command.max_timeout` and
/// `limits.max_request_bytes` (intake rejects a larger file).
struct SubmitRules {
    var request: TaskRequest.Rules
    var maxRequestBytes: Int

    init(_ config: Configuration) {
        request = TaskRequest.Rules(config)
        maxRequestBytes = config.maxRequestBytes
    }

    /// The rules of the configuration at `path` (the built-in defaults when
    /// there is no file); an invalid file is an error that names the key.
    static func load(path: String) throws(HopperError) -> SubmitRules {
        SubmitRules(try Configuration.load(path: path))
    }
}
