import Glibc
import HopperCore

/// One row of the table: a Hopper figure beside its baseline from the same run.
struct Row {
    var scenario: String
    var unit: String
    var value: Double
    var baseline: Double?
}

/// The rows of one run: printed as one Markdown table, and written as JSON.
struct Report {
    private(set) var rows: [Row] = []

    /// Adds a row and logs it to stderr as it is measured.
    mutating func add(_ scenario: String, _ value: Double, _ unit: String, baseline: Double? = nil) {
        rows.append(Row(scenario: scenario, unit: unit, value: value, baseline: baseline))
        Harness.log("\(scenario): \(Self.format(value, unit))" + (baseline.map { " (baseline \(Self.format($0, unit)))" } ?? ""))
    }

    /// Three significant digits, at most two decimals, a whole number from 100 up.
    static func format(_ v: Double, _ unit: String) -> String {
        let text: String
        if v >= 100 || v == v.rounded() { text = String(Int(v.rounded())) }
        else if v >= 10 { text = String((v * 10).rounded() / 10) }
        else { text = String((v * 100).rounded() / 100) }
        return unit.isEmpty ? text : "\(text) \(unit)"
    }

    var table: String {
        var text = "| scenario | Hopper | baseline (same run) | ratio |\n|---|---|---|---|\n"
        for r in rows {
            let baseline = r.baseline.map { Self.format($0, r.unit) } ?? "—"
            let ratio = r.baseline.flatMap { $0 == 0 ? nil : "\((r.value / $0 * 100).rounded() / 100)×" } ?? "—"
            text += "| \(r.scenario) | \(Self.format(r.value, r.unit)) | \(baseline) | \(ratio) |\n"
        }
        return text
    }

    /// `[{"scenario", "unit", "hopper", "baseline"}]`, every figure unrounded.
    var json: String {
        var w = JSONWriter()
        w.beginArray()
        for r in rows {
            w.beginObject()
            w.field("scenario", r.scenario)
            w.field("unit", r.unit)
            w.field("hopper", r.value)
            w.field("baseline", r.baseline)
            w.endObject()
        }
        w.endArray()
        return w.string + "\n"
    }
}

/// Percentiles of a sample, nearest rank.
struct Percentiles {
    let sorted: [Double]
    init(_ samples: [Double]) { sorted = samples.sorted() }

    /// The value at or below which `p` percent of the samples lie.
    func at(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}
