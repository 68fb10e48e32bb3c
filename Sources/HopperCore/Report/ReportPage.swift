/// `hopper report --html`: one self-contained page (inline CSS and SVG, no
/// script, no network) with the report's charts and tables, meant to be
/// left open: tiles with the headline figures, tasks finished per hour by
/// state, the duration distribution and the cost per day per provider, then
/// the per-provider table, the reasons and the most common failures.
enum ReportPage {
    static let stateColors: [TaskState: String] = [
        .succeeded: "#2f9e44", .failed: "#e03131", .error: "#f08c00", .cancelled: "#868e96",
    ]
    static let providerPalette = ["#1c7ed6", "#7048e8", "#0ca678", "#d6336c", "#f59f00", "#1098ad", "#5c940d", "#ae3ec9"]

    /// Duration buckets: upper bounds in milliseconds (the last is open).
    static let durationBuckets: [(label: String, below: Int64)] = [
        ("<10ms", 10), ("10–100ms", 100), ("0.1–1s", 1000), ("1–10s", 10_000), ("10s–1m", 60_000),
        ("1–10m", 600_000), ("10m–1h", 3_600_000), ("≥1h", .max),
    ]

    /// Above this many hours the activity chart counts per day instead.
    static let maxHourlyBars = 24 * 14

    static func render(_ s: ReportSummary, _ c: ReportContext) -> String {
        var h = head(c)
        h += "<header><div><h1>Hopper report</h1><p class=\"meta\">\(HTML.escape(c.spool))</p></div>"
        h += "<p class=\"meta right\">generated \(HTML.escape(stamp(c.generatedAt)))"
        if let since = c.since { h += "<br>records finished since \(HTML.escape(stamp(since)))" }
        if !c.providers.isEmpty { h += "<br>providers: \(HTML.escape(c.providers.joined(separator: ", ")))" }
        h += "</p></header>"
        guard let first = s.first, let last = s.last else {
            return h + "<section class=\"card empty\">No records in done/ match. Nothing has finished yet, or the filter excludes everything.</section></body></html>\n"
        }
        h += tiles(s, first: first, last: last)
        h += activity(s)
        h += "<div class=\"grid2\">" + durations(s) + costs(s) + "</div>"
        h += table(s)
        h += "<div class=\"grid2\">" + reasons(s) + failures(s) + "</div>"
        h += "<footer>Hopper \(HopperCLI.version) · days and hours are UTC · success rate = succeeded ÷ (succeeded + failed + error)</footer>"
        return h + "</body></html>\n"
    }

    static func stamp(_ t: Timestamp) -> String { t.rfc3339.prefix(10) + " " + t.rfc3339.dropFirst(11).prefix(5) + " UTC" }

    static func providerColor(_ s: ReportSummary, _ name: String) -> String {
        providerPalette[(s.providerNames.firstIndex(of: name) ?? 0) % providerPalette.count]
    }

    static func tiles(_ s: ReportSummary, first: Timestamp, last: Timestamp) -> String {
        var counts: [TaskState: Int] = [:]
        var durations: [Int64] = []
        var cost = 0.0, costed = 0
        for p in s.providers.values {
            for (state, n) in p.states { counts[state, default: 0] += n }
            durations += p.durations
            if let c = p.totalCost { cost += c; costed += 1 }
        }
        let decided = (counts[.succeeded] ?? 0) + (counts[.failed] ?? 0) + (counts[.error] ?? 0)
        let rate = decided == 0 ? "–" : ReportFormat.percent(Double(counts[.succeeded] ?? 0) / Double(decided))
        durations.sort()
        let p95 = durations.isEmpty ? "–" : ReportFormat.duration(durations[max(0, Int((0.95 * Double(durations.count)).rounded(.up)) - 1)])
        let bad = (counts[.failed] ?? 0) + (counts[.error] ?? 0)
        func tile(_ label: String, _ value: String, _ note: String, _ cls: String = "") -> String {
            "<div class=\"tile \(cls)\"><div class=\"label\">\(label)</div><div class=\"value\">\(HTML.escape(value))</div><div class=\"note\">\(HTML.escape(note))</div></div>"
        }
        var t = "<section class=\"tiles\">"
        t += tile("Tasks finished", String(s.total), "\(stamp(first)) → \(stamp(last))")
        t += tile("Success rate", rate, "\(counts[.succeeded] ?? 0) succeeded of \(decided)", decided > 0 && bad * 20 > decided ? "warn" : "ok")
        t += tile("Failed or error", String(bad), "\(counts[.cancelled] ?? 0) cancelled", bad > 0 ? "bad" : "")
        t += tile("p95 duration", p95, durations.isEmpty ? "no task ran" : "max \(ReportFormat.duration(durations.last!))")
        t += tile("Cost", costed == 0 ? "–" : ReportFormat.usd(cost), costed == 0 ? "no record carries cost_usd" : "recorded cost_usd")
        return t + "</section>"
    }

    static func legend(_ items: [(String, String)]) -> String {
        "<div class=\"legend\">" + items.map { "<span><i style=\"background:\($0.1)\"></i>\(HTML.escape($0.0))</span>" }.joined() + "</div>"
    }

    static func activity(_ s: ReportSummary) -> String {
        let hours = s.hourly.keys
        let lo = hours.min()!, hi = hours.max()!
        let daily = hi - lo + 1 > Int64(maxHourlyBars)
        // At least a day of hours, so a short run reads as a moment in a day, not one wide bar.
        let start = daily ? lo / 24 : min(lo, hi - 23), end = daily ? hi / 24 : hi
        var buckets: [Int64: [TaskState: Int]] = [:]
        for (hour, counts) in s.hourly {
            let key = daily ? hour / 24 : hour
            for (state, n) in counts { buckets[key, default: [:]][state, default: 0] += n }
        }
        let keys = Array(start...end)
        let chart = BarChart(
            categories: keys.map { String((daily ? ReportSummary.dayLabel($0) : ReportSummary.hourLabel($0)).dropFirst(5)) },
            series: ReportSummary.states.map { state in
                .init(name: state.rawValue, color: stateColors[state]!, values: keys.map { Double(buckets[$0]?[state] ?? 0) })
            })
        let title = daily ? "Tasks finished per day, by state" : "Tasks finished per hour, by state"
        return "<section class=\"card\"><h2>\(title)</h2>"
            + legend(ReportSummary.states.map { ($0.rawValue, stateColors[$0]!) }) + chart.svg() + "</section>"
    }

    static func durations(_ s: ReportSummary) -> String {
        let names = s.providerNames.filter { !(s.providers[$0]!.durations.isEmpty) }
        var body = "<section class=\"card\"><h2>Duration distribution per provider</h2>"
        guard !names.isEmpty else { return body + "<p class=\"empty\">No task ran.</p></section>" }
        let series: [BarChart.Series] = names.map { name in
            var counts = [Int](repeating: 0, count: durationBuckets.count)
            let all = s.providers[name]!.durations
            for d in all { counts[durationBuckets.firstIndex { d < $0.below } ?? durationBuckets.count - 1] += 1 }
            return .init(name: name, color: providerColor(s, name), values: counts.map { 100 * Double($0) / Double(all.count) })
        }
        var chart = BarChart(categories: durationBuckets.map(\.label), series: series, stacked: false)
        chart.width = 545
        chart.height = 240
        chart.format = { ReportFormat.fixed($0, $0 >= 10 || $0 == 0 ? 0 : 1) + "%" }
        body += legend(names.map { name in
            let p = s.percentiles(name)!
            return ("\(name) (p50 \(ReportFormat.duration(p.p50)), p95 \(ReportFormat.duration(p.p95)))", providerColor(s, name))
        })
        return body + chart.svg() + "<p class=\"caption\">share of each provider's tasks that ran, by how long they took</p></section>"
    }

    static func costs(_ s: ReportSummary) -> String {
        var body = "<section class=\"card\"><h2>Cost per day per provider</h2>"
        let days = s.costDays
        guard let lo = days.first, let hi = days.last else {
            return body + "<p class=\"empty\">No record carries <code>cost_usd</code> (agent providers report it).</p></section>"
        }
        let all = Array(lo...hi)
        let names = s.providerNames.filter { s.providers[$0]!.costed > 0 }
        var chart = BarChart(categories: all.map { String(ReportSummary.dayLabel($0).dropFirst(5)) },
                             series: names.map { name in
                                 .init(name: name, color: providerColor(s, name), values: all.map { s.providers[name]!.costPerDay[$0] ?? 0 })
                             })
        chart.width = 545
        chart.height = 240
        chart.maxLabels = 8
        chart.format = { "$" + ReportFormat.fixed($0, 2) }
        body += legend(names.map { ($0 + " " + ReportFormat.usd(s.providers[$0]!.totalCost ?? 0), providerColor(s, $0)) })
        return body + chart.svg() + "<p class=\"caption\">recorded cost_usd summed per UTC day</p></section>"
    }

    static func table(_ s: ReportSummary) -> String {
        var t = "<section class=\"card\"><h2>Providers</h2><table><thead><tr>"
        for (i, h) in ReportCommand.overviewHeader.enumerated() { t += "<th\(i == 0 ? "" : " class=\"num\"")>\(h.lowercased())</th>" }
        t += "</tr></thead><tbody>"
        for (row, name) in zip(ReportCommand.overviewRows(s), s.providerNames) {
            let p = s.providers[name]!
            t += "<tr>"
            for (i, cell) in row.enumerated() {
                if i == 0 {
                    t += "<td><i class=\"dot\" style=\"background:\(providerColor(s, name))\"></i>\(HTML.escape(cell))</td>"
                } else if i == 6, let rate = p.successRate {
                    let cls = rate >= 0.95 ? "ok" : rate >= 0.8 ? "warn" : "bad"
                    t += "<td class=\"num\"><span class=\"rate \(cls)\"><b style=\"width:\(ReportFormat.fixed(rate * 100, 1))%\"></b></span>\(cell)</td>"
                } else {
                    let cls = (i == 3 || i == 4) && cell != "0" ? "num badtext" : "num"
                    t += "<td class=\"\(cls)\">\(HTML.escape(cell))</td>"
                }
            }
            t += "</tr>"
        }
        return t + "</tbody></table></section>"
    }

    static func reasons(_ s: ReportSummary) -> String {
        var t = "<section class=\"card\"><h2>Counts by state and reason</h2><table><thead><tr><th>provider</th><th>state</th><th>reason</th><th class=\"num\">count</th></tr></thead><tbody>"
        for row in ReportCommand.reasonRows(s) {
            let state = TaskState(rawValue: row[1]) ?? .succeeded
            t += "<tr><td>\(HTML.escape(row[0]))</td><td><i class=\"dot\" style=\"background:\(stateColors[state] ?? "#999")\"></i>\(row[1])</td><td>\(HTML.escape(row[2]))</td><td class=\"num\">\(row[3])</td></tr>"
        }
        return t + "</tbody></table></section>"
    }

    static func failures(_ s: ReportSummary) -> String {
        var t = "<section class=\"card\"><h2>Most common failure messages</h2>"
        let rows = s.providerNames.flatMap { name in s.providers[name]!.topFailures.map { (name, $0.count, $0.message) } }
        guard !rows.isEmpty else { return t + "<p class=\"empty\">No task failed or erred.</p></section>" }
        t += "<table><thead><tr><th>provider</th><th class=\"num\">count</th><th>message</th></tr></thead><tbody>"
        for (name, count, message) in rows {
            t += "<tr><td>\(HTML.escape(name))</td><td class=\"num\">\(count)</td><td class=\"msg\">\(HTML.escape(message))</td></tr>"
        }
        return t + "</tbody></table></section>"
    }

    static func head(_ c: ReportContext) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Hopper report · \(HTML.escape(c.spool))</title>
        <style>
        :root { color-scheme: light; --ink:#1f2328; --muted:#656d76; --line:#d8dee4; --bg:#f4f6f8; --card:#fff; }
        * { box-sizing: border-box; }
        body { margin: 0; padding: 24px 32px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
        header { display: flex; justify-content: space-between; align-items: flex-end; gap: 24px; margin-bottom: 18px; }
        h1 { margin: 0; font-size: 24px; letter-spacing: -0.01em; }
        h2 { margin: 0 0 10px; font-size: 15px; font-weight: 600; }
        .meta { margin: 2px 0 0; color: var(--muted); font-size: 13px; }
        .right { text-align: right; }
        .tiles { display: grid; grid-template-columns: repeat(5, 1fr); gap: 14px; margin-bottom: 14px; }
        .tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; border-top: 4px solid #adb5bd; }
        .tile.ok { border-top-color: #2f9e44; } .tile.warn { border-top-color: #f08c00; } .tile.bad { border-top-color: #e03131; }
        .tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
        .tile .value { font-size: 28px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums; }
        .tile .note { color: var(--muted); font-size: 12px; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; margin-bottom: 14px; }
        .grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
        .grid2 > .card { margin-bottom: 14px; min-width: 0; }
        .chart { width: 100%; height: auto; display: block; }
        .chart .grid { stroke: #eaeef2; stroke-width: 1; }
        .chart .axis { stroke: #8c959f; stroke-width: 1; }
        .chart text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: var(--muted); }
        .chart .ylabel { text-anchor: end; } .chart .xlabel { text-anchor: middle; }
        .legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: -2px 0 8px; font-size: 12px; color: var(--muted); }
        .legend i, .dot { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
        .caption { margin: 6px 0 0; color: var(--muted); font-size: 12px; }
        table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
        th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; border-bottom: 1px solid var(--line); padding: 6px 8px; }
        td { border-bottom: 1px solid #eef1f4; padding: 6px 8px; vertical-align: top; }
        tr:last-child td { border-bottom: 0; }
        .num { text-align: right; white-space: nowrap; }
        .badtext { color: #c92a2a; font-weight: 600; }
        .msg { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-word; }
        .rate { display: inline-block; width: 60px; height: 6px; background: #eef1f4; border-radius: 3px; margin-right: 8px; vertical-align: middle; overflow: hidden; }
        .rate b { display: block; height: 100%; }
        .rate.ok b { background: #2f9e44; } .rate.warn b { background: #f08c00; } .rate.bad b { background: #e03131; }
        .empty { color: var(--muted); }
        footer { color: var(--muted); font-size: 12px; margin-top: 6px; }
        @media (max-width: 900px) { .tiles { grid-template-columns: repeat(2, 1fr); } .grid2 { grid-template-columns: 1fr; } }
        </style></head><body>
        """
    }
}
