/// `hopper retry ID...`: resubmits finished tasks as new tasks.
///
/// The new request is the old record's `request` object (the request as it
/// was accepted) without its `id`, with the label `retry_of: <old id>` added,
/// delivered like `hopper submit` delivers (write, then rename into
/// incoming/). The new id keeps the old id's stem: `make-1k11eqxh08k8ag`
/// is retried as `make-<new suffix>`.
enum RetryCommand {
    static let command = HopperCLI.Command(
        name: "retry", summary: "resubmit finished tasks as new tasks; prints the new ids", usage: "ID... [--json]",
        help: """
        Each ID must have finished (its record is in done/). Its request is
        submitted again as a new task, with a new id and the label
        retry_of=ID. Prints the new ids, one a line; --json prints
        {"id":NEW,"retry_of":ID} per task. Exit 1 if a task has not finished,
        2 if an id is invalid or unknown.

        example: hopper list --state failed --json | jq -r .id | xargs hopper retry
        """,
        spec: .init(valued: [], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard !args.operands.isEmpty else { throw HopperError(.usage, "expected at least one task id") }
        let config = try Configuration.load(path: args.configPath)
        let reader = try SpoolReader.open(args.spoolPath)
        var suffixes = IDSuffixGenerator(salt: IDSuffixGenerator.random(3))
        var status: Int32 = 0
        var out = Output()
        for old in args.taskIDs(verb: "retry", status: &status) {
            let location = reader.locate(old)
            guard case .found(let found) = location else {
                if case .submitted = location { Output.error("cannot retry \(old): submitted, not yet accepted") } else { Output.error("cannot retry \(old): no such task") }
                status = 2
                continue
            }
            guard found.state.isTerminal else {
                Output.error("cannot retry \(old): it is \(found.state.rawValue), not finished")
                status = max(status, 1)
                continue
            }
            guard var request = found.object["request"]?.objectValue else {
                Output.error("cannot retry \(old): its record has no \"request\" object")
                status = max(status, 1)
                continue
            }
            let new = TaskID.generate(stem: stem(of: old), suffix: suffixes.next())
            request = retried(request, as: new, of: old)
            let bytes = Array(JSONValue.object(request).serialized().utf8) + [UInt8(ascii: "\n")]
            do throws(HopperError) {
                do { _ = try TaskRequest.parse(bytes, rules: TaskRequest.Rules(config)) } catch {
                    // A record written under another configuration (a provider since removed, say).
                    throw HopperError(.invalidField, "cannot retry \(old): \(error.message)", field: error.field)
                }
                try SubmitCommand.deliver(bytes, as: new.rawValue + ".json", spoolPath: args.spoolPath)
            } catch {
                let reason = error.message.hasPrefix("cannot submit: ") ? String(error.message.dropFirst("cannot submit: ".count)) : error.message
                Output.error(reason.hasPrefix("cannot retry") ? reason : "cannot retry \(old): \(reason)")
                status = max(status, 1)
                continue
            }
            if args.has("json") {
                out.jsonLine([("id", .string(new.rawValue)), ("retry_of", .string(old.rawValue))])
            } else {
                out.line(new.rawValue)
            }
        }
        out.flush()
        return status
    }

    /// `request` with `id` set to `new` (in the place the old one had) and
    /// `labels.retry_of` set to `old`; every other field kept, in order.
    static func retried(_ request: JSONObject, as new: TaskID, of old: TaskID) -> JSONObject {
        var result = JSONObject()
        result["id"] = .string(new.rawValue)
        for (key, value) in request where key != "id" { result[key] = value }
        var labels = result["labels"]?.objectValue ?? JSONObject()
        labels["retry_of"] = .string(old.rawValue)
        result["labels"] = .object(labels)
        return result
    }

    /// The id without the suffix a generated id ends with (`-`, 11 base-32
    /// characters of time and 3 random ones), or the whole id when it has none.
    static func stem(of id: TaskID) -> String {
        let bytes = Array(id.rawValue.utf8)
        let suffixLength = 14
        guard bytes.count > suffixLength + 1, bytes[bytes.count - suffixLength - 1] == UInt8(ascii: "-"),
              bytes.suffix(suffixLength).allSatisfy(IDSuffixGenerator.alphabet.contains) else { return id.rawValue }
        return String(decoding: bytes.dropLast(suffixLength + 1), as: UTF8.self)
    }
}
