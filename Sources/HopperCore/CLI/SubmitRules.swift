/// What validating a request needs of the configuration: the provider names
/// a request may use, `timeouts.command.max_timeout` and
/// `limits.max_request_bytes` (intake rejects a larger file).
///
/// `hopper submit` reads these three and no more: decoding every provider
/// and policy was a fifth of a call's time, paid on each call of a loop.
/// The three are checked exactly as `Configuration` checks them (same
/// reader, same ranges, same messages); a `providers` entry whose name is
/// not valid sends the whole file through `Configuration`, so the error
/// names the key. The rest of the file is `hopper run`'s to check.
struct SubmitRules {
    var request: TaskRequest.Rules
    var maxRequestBytes: Int

    init(_ config: Configuration) {
        request = TaskRequest.Rules(config)
        maxRequestBytes = config.maxRequestBytes
    }

    init(providers: Set<String>, maxTimeout: Double, maxRequestBytes: Int) {
        request = TaskRequest.Rules(providers: providers, maxTimeout: maxTimeout)
        self.maxRequestBytes = maxRequestBytes
    }

    /// `Configuration()`'s values, without building its providers.
    static let defaults = (providers: Set(["sh", "exec"]), maxTimeout: 1800.0, maxRequestBytes: 1_048_576)

    /// The rules of the configuration at `path` (the built-in defaults when
    /// there is no file); an error names the file and the key.
    static func load(path: String) throws(HopperError) -> SubmitRules {
        let bytes: [UInt8]
        do {
            bytes = try AtomicFile.read(path: path, limit: 16 << 20)
        } catch let e where e.errno == .noEntry {
            return SubmitRules(providers: defaults.providers, maxTimeout: defaults.maxTimeout, maxRequestBytes: defaults.maxRequestBytes)
        } catch {
            throw HopperError(.config, "\(path): \(error.errno)", underlying: error)
        }
        do throws(HopperError) {
            let json: JSONValue
            do { json = try JSONParser.parse(bytes) } catch { throw HopperError(error) }
            if let rules = try read(json) { return rules }
        } catch {
            throw HopperError(.config, "\(path): \(error.message)", field: error.field, underlying: error)
        }
        return SubmitRules(try Configuration.load(path: path))
    }

    /// The three values from a configuration document; nil when the
    /// providers need the full decoder to say what is wrong with them.
    static func read(_ json: JSONValue) throws(HopperError) -> SubmitRules? {
        let root = try FieldReader(json)
        // The ranges and defaults are Configuration's; SubmitEachTests holds the two readers together.
        var maxRequestBytes = SubmitRules.defaults.maxRequestBytes
        if let v = root.object["limits"], v != .null {
            var limits = try FieldReader(v, path: "limits")
            maxRequestBytes = try limits.int("max_request_bytes", in: 2...(1 << 30)) ?? maxRequestBytes
        }
        var maxTimeout = SubmitRules.defaults.maxTimeout
        if let v = root.object["timeouts"], v != .null {
            var timeouts = try FieldReader(v, path: "timeouts")
            if let c = timeouts.value("command") {
                var command = try FieldReader(c, path: "timeouts.command")
                maxTimeout = try command.seconds("max_timeout", exclusive: true) ?? maxTimeout
            }
        }
        var providers = SubmitRules.defaults.providers
        if let v = root.object["providers"], v != .null {
            guard case .object(let configured) = v else { return nil }
            for (name, _) in configured {
                guard TaskID(name) != nil else { return nil }
                providers.insert(name)
            }
        }
        return SubmitRules(providers: providers, maxTimeout: maxTimeout, maxRequestBytes: maxRequestBytes)
    }
}
