import Testing
@testable import HopperCore

/// A strict reader of the Prometheus text exposition format (version 0.0.4),
/// as node_exporter's textfile collector reads metrics.prom.
struct PrometheusText {
    struct Family {
        var name: String
        var help: String?
        var type: String?
        var samples: [Sample] = []
    }

    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Malformed: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "metrics.prom line \(line): \(reason)" }
    }

    private(set) var families: [Family] = []

    /// Reads `text`, throwing at the first line that breaks a rule: names and
    /// label names are valid, label values quoted, values numbers, every
    /// sample belongs to a family whose `# HELP` and `# TYPE` came before it,
    /// a family's lines are together and declared once, no series repeats.
    init(_ text: String) throws {
        guard text.hasSuffix("\n") else { throw Malformed(line: 0, reason: "no final newline") }
        var seen: Set<String> = []
        var series: Set<String> = []
        for (index, line) in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            func fail(_ reason: String) -> Malformed { Malformed(line: number, reason: "\(reason): \(line)") }
            if line.hasPrefix("#") {
                let words = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard words.count >= 3, words[0] == "#", ["HELP", "TYPE"].contains(words[1]) else { throw fail("a comment that is neither HELP nor TYPE") }
                let name = words[2]
                guard PrometheusText.isMetricName(name) else { throw fail("invalid metric name") }
                if families.last?.name != name {
                    guard !seen.contains(name) else { throw fail("family \(name) declared twice or split") }
                    seen.insert(name)
                    families.append(Family(name: name))
                }
                guard families[families.count - 1].samples.isEmpty else { throw fail("HELP or TYPE after the family's samples") }
                if words[1] == "HELP" {
                    guard families[families.count - 1].help == nil, words.count == 4, !words[3].isEmpty else { throw fail("a missing or repeated HELP") }
                    families[families.count - 1].help = words[3]
                } else {
                    guard families[families.count - 1].type == nil, words.count == 4,
                          ["counter", "gauge", "histogram", "summary", "untyped"].contains(words[3]) else { throw fail("a missing, repeated or unknown TYPE") }
                    families[families.count - 1].type = words[3]
                }
                continue
            }
            guard !line.isEmpty else { throw fail("an empty line") }
            let sample = try PrometheusText.sample(String(line), fail)
            guard var family = families.last, family.help != nil, let type = family.type else { throw fail("a sample before its family's HELP and TYPE") }
            let suffixes = type == "histogram" ? ["_bucket", "_sum", "_count"] : type == "summary" ? ["", "_sum", "_count"] : [""]
            guard suffixes.contains(where: { family.name + $0 == sample.name }) else { throw fail("a sample outside family \(family.name)") }
            if sample.name.hasSuffix("_bucket") && type == "histogram" {
                guard sample.labels["le"] != nil else { throw fail("a bucket without le") }
            } else if sample.labels["le"] != nil && type == "histogram" {
                throw fail("le outside a bucket")
            }
            if type == "counter" || sample.name.hasSuffix("_count") || sample.name.hasSuffix("_bucket") {
                guard sample.value >= 0, sample.value.isFinite else { throw fail("a negative or infinite count") }
            }
            let key = sample.name + "{" + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
            guard series.insert(key).inserted else { throw fail("series repeated") }
            family.samples.append(sample)
            families[families.count - 1] = family
        }
        for family in families where family.help == nil || family.type == nil {
            throw Malformed(line: 0, reason: "family \(family.name) lacks HELP or TYPE")
        }
    }

    /// `name value` or `name{label="value",...} value`.
    static func sample(_ line: String, _ fail: (String) -> Malformed) throws -> Sample {
        var rest = Substring(line)
        let name = String(rest.prefix { $0 != "{" && $0 != " " })
        guard isMetricName(name) else { throw fail("invalid metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let label = String(rest.prefix { $0 != "=" })
                guard isLabelName(label), !label.hasPrefix("__") else { throw fail("invalid label name \(label)") }
                rest = rest.dropFirst(label.count)
                guard rest.hasPrefix("=\"") else { throw fail("label \(label) without a quoted value") }
                rest = rest.dropFirst(2)
                var value = ""
                while true {
                    guard let c = rest.first else { throw fail("an unterminated label value") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\n" { throw fail("a newline in a label value") }
                    if c == "\\" {
                        guard let escaped = rest.first, ["\\", "\"", "n"].contains(escaped) else { throw fail("a bad escape") }
                        value.append(escaped == "n" ? "\n" : escaped)
                        rest = rest.dropFirst()
                    } else {
                        value.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: label) == nil else { throw fail("label \(label) repeated") }
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" { throw fail("labels not separated by commas") }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw fail("no space before the value") }
        let words = rest.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 1, let value = number(String(words[0])) else { throw fail("a value that is not one number") }
        return Sample(name: name, labels: labels, value: value)
    }

    static func number(_ text: String) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            guard let first = text.first, first.isNumber || first == "-" || first == "+" || first == "." else { return nil }
            return Double(text)
        }
    }

    static func isMetricName(_ s: String) -> Bool { isName(s, extra: ":") }
    static func isLabelName(_ s: String) -> Bool { isName(s, extra: "") }

    /// [a-zA-Z_<extra>][a-zA-Z0-9_<extra>]*
    private static func isName(_ s: String, extra: String) -> Bool {
        guard let first = s.unicodeScalars.first else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" || extra.unicodeScalars.contains(c) }
        return letter(first) && s.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }

    func family(_ name: String) -> Family? { families.first { $0.name == name } }

    /// The value of the one sample named `name` with exactly `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        families.lazy.flatMap(\.samples).first { $0.name == name && $0.labels == labels }?.value
    }
}

/// metrics.prom as a scraper reads it, after a few tasks (one failing).
@Suite(.serialized) struct MetricsTests {
    @Test func metricsFileIsStrictPrometheusText() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("one.json", #"{"id": "one", "command": "true"}"#)
        try t.drop("two.json", #"{"id": "two", "command": "sleep 0.02"}"#)
        try t.drop("broken.json", #"{"id": "broken", "command": "exit 3"}"#)
        try t.drop("bad.json", #"{"command": 42}"#)
        for id in ["one", "two", "broken"] { _ = try await eventuallyValue("\(id)'s record") { t.record(id) } }
        #expect(t.record("broken")?["state"] == .string("failed"))

        // Rewritten at most once a second: wait for the file that counts all three.
        let metrics = try await eventuallyValue("metrics.prom counting three finished tasks") { () -> PrometheusText? in
            guard let text = t.read("metrics.prom") else { return nil }
            let parsed = try PrometheusText(text)
            return parsed.value("hopper_task_duration_seconds_count") == 3 ? parsed : nil
        }

        #expect(metrics.value("hopper_up") == 1)
        #expect(metrics.value("hopper_tasks_total", ["state": "failed"]) == 1)
        #expect(metrics.value("hopper_tasks_total", ["state": "succeeded"]) == 2)
        #expect(metrics.value("hopper_tasks_total", ["state": "error"]) == 0)
        #expect(metrics.value("hopper_tasks_accepted_total") == 3)
        #expect(metrics.value("hopper_tasks_rejected_total") == 1)
        #expect(metrics.value("hopper_workers") == 2)
        for state in ["pending", "queued", "running"] { #expect(metrics.value("hopper_queue_depth", ["state": state]) == 0) }
        for family in metrics.families where family.name.hasPrefix("hopper_") == false {
            Issue.record("family \(family.name) lacks the hopper_ prefix")
        }
        #expect(metrics.family("hopper_tasks_total")?.type == "counter")

        // The histogram: cumulative buckets in ascending le, ending at +Inf = _count.
        let histogram = try #require(metrics.family("hopper_task_duration_seconds"))
        #expect(histogram.type == "histogram")
        let buckets = histogram.samples.filter { $0.name.hasSuffix("_bucket") }
        let bounds = buckets.map { PrometheusText.number($0.labels["le"] ?? "") }
        #expect(!bounds.contains(nil), "every le is a number")
        #expect(bounds.compactMap { $0 } == bounds.compactMap { $0 }.sorted() && Set(bounds).count == bounds.count, "le ascending")
        #expect(buckets.last?.labels["le"] == "+Inf")
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value }, "buckets cumulative")
        #expect(buckets.last?.value == metrics.value("hopper_task_duration_seconds_count"))
        let sum = try #require(metrics.value("hopper_task_duration_seconds_sum"))
        #expect(sum >= 0.02 && sum < 60)
        #expect(try await daemon.stop() == .exited(0))

        // A clean exit leaves hopper_up 0 in a file that still parses.
        let last = try PrometheusText(try #require(t.read("metrics.prom")))
        #expect(last.value("hopper_up") == 0)
        #expect(last.value("hopper_tasks_total", ["state": "failed"]) == 1)
        #expect(t.survivors().isEmpty)
    }

    /// status.json never counts a task whose record is not yet in done/:
    /// with `fsync` a turn's renames wait for its background sync, and the
    /// published counters are those of the last turn carried out. SIGUSR1
    /// (what `hopper status` sends) has it rewritten at every look, and
    /// every sample read while 300 tasks run is checked against done/ read
    /// after it.
    @Test func statusNeverCountsATaskWhoseRecordIsNotInDone() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""durability": "fsync""#))
        let daemon = try await DaemonProcess(t).ready()
        let n = 300
        for i in 0..<n { try t.drop("t\(i).json", #"{"id": "t\#(i)", "command": "true"}"#) }
        var samples = 0
        try await eventually("status.json counting all \(n)", timeout: 60) {
            daemon.signal(.user1)
            guard let text = t.read("status.json"),
                  let object = (try? JSONParser.parse(Array(text.utf8)))?.objectValue,
                  let finished = object["finished_since_start"]?.objectValue?["succeeded"]?.intValue else { return false }
            let records = (SystemTestProbe.directoryEntries(t.spool + "/done") ?? []).filter { $0.hasSuffix(".json") }.count
            #expect(Int64(records) >= finished, "status.json counts \(finished) finished, done/ holds \(records) records")
            samples += 1
            return finished == Int64(n)
        }
        #expect(samples > 0)
        #expect(try await daemon.stop() == .exited(0))
    }

    @Test func readerRefusesWhatAScraperWould() {
        let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n"
        #expect((try? PrometheusText(good)) != nil)
        for bad in [
            "a_total 2\n",                                                   // no HELP/TYPE
            "# HELP a_total A.\na_total 2\n",                                // no TYPE
            "# HELP a_total A.\n# TYPE a_total counter\nb_total 2\n",        // another family
            "# HELP a_total A.\n# TYPE a_total counter\na_total{x=1} 2\n",   // unquoted label
            "# HELP a_total A.\n# TYPE a_total counter\na_total two\n",      // not a number
            "# HELP 1a A.\n# TYPE 1a gauge\n1a 2\n",                         // bad name
            "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",                       // repeated series
            "# HELP a A.\n# TYPE a gauge\na 1",                              // no final newline
            "# HELP h H.\n# TYPE h histogram\nh_bucket 1\n",                  // bucket without le
        ] {
            #expect((try? PrometheusText(bad)) == nil, "accepted: \(bad)")
        }
    }
}
