/// `hopper report`: a summary of the records in done/, as a table, JSON, or
/// a self-contained HTML page with charts.
enum ReportCommand {
    static let command = HopperCLI.Command(
        name: "report", summary: "summarise the records: per provider, states, durations, cost, failures",
        usage: "[--since TIME] [--provider P]... [--json] [--html FILE]",
        help: """
        Reads every record in done/ and prints, per provider: tasks by state,
        the success rate (succeeded out of succeeded, failed and error;
        cancelled tasks do not count), p50/p95/max duration, the cost
        recorded in cost_usd; then the reasons, the cost per UTC day, and the
        most common failure messages. Works with or without a daemon.

        --since TIME    only records finished at or after TIME: an RFC 3339
                        time, a date (YYYY-MM-DD, midnight UTC), or an age
                        such as 90s, 30m, 24h, 7d
        --provider P    only this provider (repeatable)
        --json          one JSON object instead of the tables
        --html FILE     write one self-contained page (inline SVG charts, no
                        network) to FILE instead of printing the tables

        example: hopper report --since 24h --html /var/www/hopper.html
        """,
        spec: .init(valued: ["since", "provider", "html"], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.isEmpty else { throw HopperError(.usage, "unexpected argument \(args.operands[0])") }
        let now = Timestamp.now()
        let since = try args.value("since").map { text throws(HopperError) in try parseSince(text, now: now) }
        let providers = Set(args.values("provider"))
        let reader = try SpoolReader.open(args.spoolPath)
        defer { reader.spool.close() }
        var summary = ReportSummary()
        var scan = RecordScan()
        defer { scan.release() }
        _ = scan.scan(reader.spool[.done]) { entry in
            if let since, entry.finishedAt < since { return }
            if !providers.isEmpty && !providers.contains(entry.provider) { return }
            summary.add(entry)
        }
        let context = ReportContext(spool: reader.spool.path, since: since, providers: providers.sorted(), generatedAt: now)
        if let path = args.value("html") {
            let page = ReportPage.render(summary, context)
            do { try AtomicFile.replace(path: path, Array(page.utf8)) } catch {
                throw HopperError(.io, "cannot write report \(path): \(error)", underlying: error)
            }
        }
        var out = Output()
        if args.has("json") {
            out.line(JSONValue.object(json(summary, context)).serialized())
        } else if args.value("html") == nil {
            text(summary, context, into: &out)
        }
        out.flush()
        return 0
    }

    /// RFC 3339, a date (midnight UTC), or an age (`90s`, `30m`, `24h`, `7d`).
    static func parseSince(_ text: String, now: Timestamp) throws(HopperError) -> Timestamp {
        if let t = Timestamp(rfc3339: text) { return t }
        if text.count == 10, let t = Timestamp(rfc3339: text + "T00:00:00Z") { return t }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800]
        if let unit = text.last.flatMap({ units[$0] }), let n = Double(text.dropLast()), n.isFinite, n >= 0 {
            return now.adding(seconds: -n * unit)
        }
        throw HopperError(.usage, "option --since expects an RFC 3339 time, a date YYYY-MM-DD or an age such as 24h, got \(text)")
    }

    /// The table rows, one per provider, and a total row when there are several.
    static func overviewRows(_ s: ReportSummary) -> [[String]] {
        s.providerNames.map { name in
            let p = s.providers[name]!
            let pct = s.percentiles(name)
            return [name, String(p.total), String(p.count(.succeeded)), String(p.count(.failed)), String(p.count(.error)),
                    String(p.count(.cancelled)), p.successRate.map(ReportFormat.percent) ?? "-",
                    pct.map { ReportFormat.duration($0.p50) } ?? "-", pct.map { ReportFormat.duration($0.p95) } ?? "-",
                    pct.map { ReportFormat.duration($0.max) } ?? "-", p.totalCost.map(ReportFormat.usd) ?? "-"]
        }
    }

    static let overviewHeader = ["PROVIDER", "TASKS", "SUCCEEDED", "FAILED", "ERROR", "CANCELLED", "SUCCESS", "P50", "P95", "MAX", "COST"]

    static func text(_ s: ReportSummary, _ c: ReportContext, into out: inout Output) {
        guard let first = s.first, let last = s.last else {
            out.line("no records in \(c.spool)/done\(c.since.map { " finished since \($0.rfc3339)" } ?? "")")
            return
        }
        out.line("\(s.total) record(s) finished \(first.rfc3339.prefix(19))Z … \(last.rfc3339.prefix(19))Z")
        out.line("")
        out.table(overviewHeader, overviewRows(s))
        out.line("")
        out.table(["PROVIDER", "STATE", "REASON", "COUNT"], reasonRows(s))
        let days = s.costDays
        if !days.isEmpty {
            out.line("")
            var rows: [[String]] = []
            for day in days {
                for name in s.providerNames {
                    if let cost = s.providers[name]?.costPerDay[day] { rows.append([ReportSummary.dayLabel(day), name, ReportFormat.usd(cost)]) }
                }
            }
            out.table(["DAY (UTC)", "PROVIDER", "COST"], rows)
        }
        let failures = s.providerNames.flatMap { name in s.providers[name]!.topFailures.map { [name, String($0.count), abbreviate($0.message, 100)] } }
        if !failures.isEmpty {
            out.line("")
            out.table(["PROVIDER", "COUNT", "MOST COMMON FAILURE MESSAGES"], failures)
        }
    }

    /// Counts by state and reason: each reason belongs to the states it ended.
    static func reasonRows(_ s: ReportSummary) -> [[String]] {
        s.providerNames.flatMap { name in
            s.providers[name]!.reasonsByState.map { [name, $0.state.rawValue, $0.reason, String($0.count)] }
        }
    }

    static func json(_ s: ReportSummary, _ c: ReportContext) -> JSONObject {
        var o = JSONObject()
        o["spool"] = .string(c.spool)
        o["generated_at"] = .string(c.generatedAt.rfc3339)
        o["since"] = c.since.map { .string($0.rfc3339) } ?? .null
        o["records"] = .int(Int64(s.total))
        o["first_finished_at"] = s.first.map { .string($0.rfc3339) } ?? .null
        o["last_finished_at"] = s.last.map { .string($0.rfc3339) } ?? .null
        var providers = JSONObject()
        for name in s.providerNames {
            let p = s.providers[name]!
            var states = JSONObject()
            for state in ReportSummary.states { states[state.rawValue] = .int(Int64(p.count(state))) }
            var reasons = JSONObject()
            for (reason, n) in p.reasons.sorted(by: { $0.key < $1.key }) { reasons[reason] = .int(Int64(n)) }
            var entry = JSONObject()
            entry["tasks"] = .int(Int64(p.total))
            entry["states"] = .object(states)
            entry["reasons"] = .object(reasons)
            entry["success_rate"] = p.successRate.map { .double($0) } ?? .null
            if let pct = s.percentiles(name) {
                entry["duration_ms"] = .object(JSONObject([("p50", .int(pct.p50)), ("p95", .int(pct.p95)), ("max", .int(pct.max))]))
            } else {
                entry["duration_ms"] = .null
            }
            var perDay = JSONObject()
            for (day, cost) in p.costPerDay.sorted(by: { $0.key < $1.key }) { perDay[ReportSummary.dayLabel(day)] = .double(cost) }
            entry["cost_usd"] = p.totalCost.map { .double($0) } ?? .null
            entry["cost_usd_per_day"] = .object(perDay)
            entry["top_failures"] = .array(p.topFailures.map {
                .object(JSONObject([("message", .string($0.message)), ("count", .int(Int64($0.count)))]))
            })
            providers[name] = .object(entry)
        }
        o["providers"] = .object(providers)
        return o
    }
}

/// What a report says about itself: where it came from and what it covers.
struct ReportContext {
    var spool: String
    var since: Timestamp?
    var providers: [String]
    var generatedAt: Timestamp
}

extension ReportSummary.ProviderStats {
    /// Each reason with the state it ended in, most frequent first. A reason
    /// names one outcome (`exit` is succeeded or failed by the exit code), so
    /// this is read from the counts kept per state and reason.
    var reasonsByState: [(state: TaskState, reason: String, count: Int)] {
        stateReasons.map { (key, n) in (key.state, key.reason, n) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : ($0.state.rawValue, $0.reason) < ($1.state.rawValue, $1.reason) }
    }
}
