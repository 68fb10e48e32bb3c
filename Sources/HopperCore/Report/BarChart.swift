/// A bar chart drawn as inline SVG: categories along x, one or more series,
/// stacked or side by side, with a y axis of round ticks, gridlines, sparse
/// x labels and a tooltip (`<title>`) on every bar. No script, no external
/// resource: the page that holds it opens from disk.
struct BarChart {
    struct Series {
        var name: String
        var color: String
        var values: [Double]
    }

    var categories: [String]
    var series: [Series]
    var stacked = true
    var width = 1120.0
    var height = 260.0
    /// How a y value is written on the axis and in tooltips.
    var format: (Double) -> String = { ReportFormat.fixed($0, $0 == $0.rounded() ? 0 : 2) }
    /// At most this many x labels are written; the others are left out.
    var maxLabels = 12

    func svg() -> String {
        let left = 56.0, right = 12.0, top = 12.0, bottom = 30.0
        let plotW = width - left - right, plotH = height - top - bottom
        let n = max(1, categories.count)
        var peak = 0.0
        for i in 0..<categories.count {
            let values = series.map { i < $0.values.count ? $0.values[i] : 0 }
            peak = max(peak, stacked ? values.reduce(0, +) : values.max() ?? 0)
        }
        let (step, top1) = BarChart.ticks(peak)
        func y(_ v: Double) -> Double { top + plotH - plotH * v / top1 }
        var s = "<svg class=\"chart\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"
        // Gridlines and y labels.
        var tick = 0.0
        while tick <= top1 + step / 2 {
            s += "<line class=\"grid\" x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(y(tick)))\" y2=\"\(f(y(tick)))\"/>"
            s += "<text class=\"ylabel\" x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\">\(HTML.escape(format(tick)))</text>"
            tick += step
        }
        let slot = plotW / Double(n)
        // Bars no wider than 64 units: a chart of a few categories stays a bar chart.
        let groupW = min(slot * (n > 60 ? 0.9 : 0.72), 64 * Double(max(1, stacked ? 1 : series.count)))
        for (i, category) in categories.enumerated() {
            let x0 = left + slot * Double(i) + (slot - groupW) / 2
            var base = 0.0
            for (k, one) in series.enumerated() {
                let v = i < one.values.count ? one.values[i] : 0
                guard v > 0 else { continue }
                let tip = "\(category) — \(one.name): \(format(v))"
                if stacked {
                    let h = y(base) - y(base + v)
                    s += "<rect x=\"\(f(x0))\" y=\"\(f(y(base + v)))\" width=\"\(f(max(groupW, 0.5)))\" height=\"\(f(max(h, 0.5)))\" fill=\"\(one.color)\"><title>\(HTML.escape(tip))</title></rect>"
                    base += v
                } else {
                    let w = groupW / Double(series.count)
                    s += "<rect x=\"\(f(x0 + w * Double(k)))\" y=\"\(f(y(v)))\" width=\"\(f(max(w - 1, 0.5)))\" height=\"\(f(max(y(0) - y(v), 0.5)))\" fill=\"\(one.color)\" rx=\"1.5\"><title>\(HTML.escape(tip))</title></rect>"
                }
            }
        }
        // Axis and sparse x labels.
        s += "<line class=\"axis\" x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(y(0)))\" y2=\"\(f(y(0)))\"/>"
        let every = max(1, Int((Double(categories.count) / Double(maxLabels)).rounded(.up)))
        for (i, category) in categories.enumerated() where i % every == 0 {
            let x = left + slot * (Double(i) + 0.5)
            s += "<text class=\"xlabel\" x=\"\(f(x))\" y=\"\(f(height - 10))\">\(HTML.escape(category))</text>"
        }
        return s + "</svg>"
    }

    /// A round tick step (1, 2 or 5 × 10ⁿ) giving at most five intervals, and the axis top.
    static func ticks(_ peak: Double) -> (step: Double, top: Double) {
        guard peak > 0 else { return (1, 1) }
        var magnitude = 1.0
        while magnitude * 10 <= peak { magnitude *= 10 }
        while magnitude > peak { magnitude /= 10 }
        for m in [0.1, 0.2, 0.5, 1, 2, 5, 10] {
            let step = magnitude * m
            if (peak / step).rounded(.up) <= 5 { return (step, step * (peak / step).rounded(.up)) }
        }
        return (magnitude * 10, magnitude * 10)
    }

    private func f(_ v: Double) -> String { ReportFormat.fixed(v, 1) }
}

/// HTML text escaping.
enum HTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
