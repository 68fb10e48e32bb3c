import Glibc
@testable import HopperCore

/// Checks a spool from outside, as a client would, after the daemon stopped:
/// the promise that nothing dropped is ever lost or done twice.
///
/// - every good drop has exactly one record in done/ (found by its `source`)
///   and is not in rejected/; every bad drop is in rejected/ beside its
///   `.error.json` and has no record; rejected/ holds nothing else;
/// - every record is whole JSON with the contract's fields, a terminal
///   state, its id as its file name, and its output files beside it once
///   it ran;
/// - incoming/, pending/, queued/, running/ and `.hopper/claimed/` are empty;
/// - every line of events.jsonl (and events.jsonl.1) is a JSON object with
///   `ts` and `event`.
///
/// `spool` is a path, so a spool inside another mount namespace can be read
/// through `/proc/PID/root`.
struct SpoolAudit {
    let spool: String
    var good: [String]
    var bad: [String] = []

    static let recordFields = ["id", "source", "provider", "state", "reason", "message", "exit_code", "signal", "attempts",
                               "session", "submitted_at", "started_at", "finished_at", "duration_ms", "stdout", "stderr",
                               "stdout_bytes", "stderr_bytes", "truncated", "labels", "result"]

    func names(_ directory: String) -> [String] {
        guard let d = try? Directory.open(spool + "/" + directory) else { return [] }
        defer { d.close() }
        return ((try? d.entries()) ?? []).map(\.escaped).sorted()
    }

    func read(_ relative: String) -> String? {
        (try? AtomicFile.read(path: spool + "/" + relative)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Records in done/ by file name; nil for one that does not parse.
    func records() -> [String: JSONObject?] {
        var result: [String: JSONObject?] = [:]
        for name in names("done") where name.hasSuffix(".json") {
            result[name] = read("done/" + name).flatMap { try? JSONParser.parse($0).objectValue }
        }
        return result
    }

    /// Whether the daemon is through: every drop recorded or rejected, no
    /// task file left in a non-terminal directory. Cheap enough to poll.
    var isSettled: Bool {
        let sources = Set(records().values.compactMap { $0?["source"]?.stringValue })
        let rejected = Set(names("rejected"))
        return good.allSatisfy(sources.contains) && bad.allSatisfy { rejected.contains($0 + ".error.json") }
            && ["incoming", "pending", "queued", "running"].allSatisfy { names($0).filter { !$0.hasPrefix(".") }.isEmpty }
    }

    /// Every broken promise, one sentence each; empty when all hold.
    func problems() -> [String] {
        var problems: [String] = []
        let records = records()
        let doneNames = Set(names("done"))
        var bySource: [String: [String]] = [:]
        for (name, record) in records {
            guard let record else {
                problems.append("done/\(name) is not a JSON object")
                continue
            }
            let missing = SpoolAudit.recordFields.filter { record[$0] == nil }
            if !missing.isEmpty { problems.append("done/\(name) lacks \(missing)") }
            if record["id"]?.stringValue.map({ $0 + ".json" }) != name { problems.append("done/\(name) has id \(record["id"] ?? .null)") }
            guard let state = record["state"]?.stringValue.flatMap(TaskState.init(rawValue:)), state.isTerminal else {
                problems.append("done/\(name) has state \(record["state"] ?? .null)")
                continue
            }
            if case .int(let attempts)? = record["attempts"], attempts > 0 {
                for key in ["stdout", "stderr"] {
                    if let file = record[key]?.stringValue, !doneNames.contains(file) { problems.append("done/\(name): its \(key) \(file) is not in done/") }
                }
            }
            bySource[record["source"]?.stringValue ?? "?", default: []].append(name)
        }
        let rejected = Set(names("rejected"))
        for source in good {
            let found = bySource[source] ?? []
            if found.count != 1 { problems.append("\(source) has \(found.count) records: \(found)") }
            if rejected.contains(source) { problems.append("\(source) was accepted but is in rejected/") }
        }
        for source in bad {
            if bySource[source] != nil { problems.append("\(source) should be rejected but has a record") }
            if !rejected.contains(source) { problems.append("\(source) is not in rejected/") }
            let explanation = read("rejected/\(source).error.json").flatMap { try? JSONParser.parse($0).objectValue }
            if explanation?["error"]?.stringValue == nil { problems.append("rejected/\(source).error.json is missing or not whole") }
        }
        let expected = Set(bad.flatMap { [$0, $0 + ".error.json"] })
        for name in rejected.subtracting(expected) { problems.append("rejected/ holds \(name), which was never dropped as bad") }
        for directory in ["incoming", "pending", "queued", "running", ".hopper/claimed"] {
            let left = names(directory)
            if !left.isEmpty { problems.append("\(directory)/ still holds \(left)") }
        }
        for log in ["events.jsonl", "events.jsonl.1"] {
            guard let text = read(log) else { continue }
            if !text.isEmpty && !text.hasSuffix("\n") { problems.append("\(log) ends in a torn line") }
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
                let object = (try? JSONParser.parse(String(line)))?.objectValue
                if object?["ts"] == nil || object?["event"] == nil { problems.append("\(log) line \(n + 1) is not a whole event: \(line.prefix(120))") }
            }
        }
        return problems
    }
}
