import Foundation

/// Renders a drift report as a self-contained HTML page (inline CSS and SVG, no scripts,
/// nothing fetched) or as JSON.
public enum ReportRenderer {
    /// A report, or any other monitor value the commands print, as JSON: sorted keys, snake case,
    /// ISO-8601 dates, and non-finite numbers as the strings `inf`, `-inf` and `nan`.
    public static func json<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        e.keyEncodingStrategy = .convertToSnakeCase
        e.dateEncodingStrategy = .iso8601
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    public static func html(_ report: DriftReport, history: [MonitorRun] = []) -> String {
        let time = ISO8601DateFormatter().string(from: report.time)
        let verdictClass = report.alerting ? "bad" : "good"
        var out = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Drift report — \(esc(report.monitor))</title>
        <style>
        :root { --ref: #4c78a8; --cur: #f58518; --bad: #c0392b; --good: #2e7d32; --ink: #1f2933; --muted: #52606d; --line: #e4e7eb; }
        * { box-sizing: border-box; }
        body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0; background: #f5f7fa; }
        header { background: #fff; border-bottom: 1px solid var(--line); padding: 20px 32px; }
        h1 { font-size: 22px; margin: 0 0 6px; }
        h2 { font-size: 17px; margin: 0 0 4px; }
        main { padding: 20px 32px 40px; max-width: 1200px; }
        .meta { color: var(--muted); font-size: 13px; }
        .meta b { color: var(--ink); font-weight: 600; }
        .badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 13px; color: #fff; vertical-align: middle; }
        .badge.bad { background: var(--bad); } .badge.good { background: var(--good); }
        .summary { display: flex; gap: 16px; margin: 14px 0 0; flex-wrap: wrap; }
        .tile { background: #f5f7fa; border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 150px; }
        .tile .n { font-size: 20px; font-weight: 700; }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
        th, td { text-align: left; padding: 7px 12px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
        th { background: #f0f3f7; font-weight: 600; font-size: 13px; color: var(--muted); }
        td.num { text-align: right; } th.num { text-align: right; }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 16px; margin-top: 20px; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
        .card .stat { color: var(--muted); font-size: 13px; margin-bottom: 6px; }
        .legend { font-size: 12px; color: var(--muted); }
        .sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 10px; vertical-align: -1px; }
        svg text { font: 11px -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #52606d; }
        footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
        </style></head><body>
        <header>
          <h1>Drift report: \(esc(report.monitor)) <span class="badge \(verdictClass)">\(report.datasetDrift ? "Drift detected" : report.missingDrift ? "Missing values drifted"
            : report.performance?.degraded == true ? "Performance degraded" : report.predictionDrift?.drifted == true ? "Prediction drift" : "No drift")</span></h1>
          <div class="meta">Run at <b>\(esc(time))</b> · reference <b>\(esc(report.reference))</b> (\(count(report.referenceRows)) rows) · current <b>\(esc(report.current))</b> (\(count(report.currentRows)) rows)</div>
          <div class="summary">
            <div class="tile"><div class="n">\(report.driftedCount) / \(report.features.count)</div>features drifted</div>
            <div class="tile"><div class="n">\(fmt(report.features.isEmpty ? 0 : Double(report.driftedCount) / Double(report.features.count) * 100))%</div>share drifted (dataset drift at ≥ \(fmt(report.driftShare * 100))%)</div>
          </div>
        </header>
        <main>
        <table><thead><tr><th>Feature</th><th>Type</th><th>Method</th><th class="num">Value</th><th class="num">Threshold</th><th>Rule</th><th>Verdict</th><th class="num">Missing (reference → current)</th></tr></thead><tbody>

        """
        for f in report.features {
            let rule = f.method.isPValue ? (f.method == .ks ? "drift if ≤" : "drift if <") : "drift if ≥"
            out += "<tr><td><b>\(esc(f.feature))</b></td><td>\(f.kind.rawValue)</td><td>\(esc(f.method.displayName))\(f.defaultMethod ? " <span class=\"meta\">(default)</span>" : "")</td>"
            out += "<td class=\"num\">\(fmt(f.value))</td><td class=\"num\">\(fmt(f.threshold))</td><td>\(rule)</td>"
            out += "<td><span class=\"badge \(f.drifted ? "bad" : "good")\">\(f.drifted ? "drift" : "ok")</span></td>"
            if let m = f.missing {
                out += "<td class=\"num\">\(fmt(m.referenceShare * 100))% → \(fmt(m.currentShare * 100))% (\(count(m.currentMissing)) rows)"
                out += m.drifted ? " <span class=\"badge bad\">drift</span></td></tr>\n" : "</td></tr>\n"
            } else {
                out += "<td class=\"num\">-</td></tr>\n"
            }
        }
        out += "</tbody></table>\n<div class=\"cards\">\n"
        for f in report.features {
            out += "<section class=\"card\"><h2>\(esc(f.feature)) <span class=\"badge \(f.drifted ? "bad" : "good")\">\(f.drifted ? "drift" : "ok")</span></h2>\n"
            var stat = "\(esc(f.method.displayName)) = <b>\(fmt(f.value))</b>, threshold \(fmt(f.threshold))"
            if let s = f.statistic { stat += f.method == .ks ? " · D = \(fmt(s))" : " · χ² = \(fmt(s))" }
            stat += " · \(count(f.referenceCount)) reference / \(count(f.currentCount)) current values"
            if let m = f.missing, m.currentMissing + m.referenceMissing > 0 {
                stat += " (missing, left out: \(count(m.referenceMissing)) reference / \(count(m.currentMissing)) current)"
            }
            out += "<div class=\"stat\">\(stat)</div>\n"
            out += "<div class=\"legend\"><span class=\"sw\" style=\"background:var(--ref)\"></span>reference<span class=\"sw\" style=\"background:var(--cur)\"></span>current <span style=\"margin-left:8px\">(share of rows per bin)</span></div>\n"
            out += histogramSVG(f.histogram) + "</section>\n"
        }
        out += "</div>\n"
        if let p = report.performance { out += performanceSection(p, prediction: report.predictionDrift, history: history) }
        if !history.isEmpty {
            out += "<h2 style=\"margin-top:28px\">Recent runs</h2>\n<table><thead><tr><th>Time</th><th>Trigger</th><th>Verdict</th><th class=\"num\">Drifted</th><th>Alert</th></tr></thead><tbody>\n"
            let formatter = ISO8601DateFormatter()
            for r in history.prefix(20) {
                out += "<tr><td>\(formatter.string(from: r.time))</td><td>\(r.trigger.rawValue)</td><td>\(esc(r.verdict))</td><td class=\"num\">\(r.driftedCount) / \(r.featureCount)</td><td>\(esc(r.alert))</td></tr>\n"
            }
            out += "</tbody></table>\n"
        }
        out += "<footer>Generated by mlinfra \(esc("monitors report")). Statistics: KS and Wasserstein as SciPy, Jensen–Shannon and defaults as Evidently, PSI on 10 reference-quantile bins.</footer>\n</main></body></html>\n"
        return out
    }

    /// The performance section: a table per version, the ROC curve of each classifier version,
    /// and the monitored metric over the recent runs' windows.
    static func performanceSection(_ p: PerformanceReport, prediction: FeatureDrift?, history: [MonitorRun]) -> String {
        let palette = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d"]
        var out = ""
        if let d = prediction {
            out += "<h2 style=\"margin-top:28px\">Prediction drift: \(esc(d.feature)) <span class=\"badge \(d.drifted ? "bad" : "good")\">\(d.drifted ? "drift" : "ok")</span></h2>\n"
            out += "<div class=\"stat\">\(esc(d.method.displayName)) = <b>\(fmt(d.value))</b>, threshold \(fmt(d.threshold)) · \(count(d.referenceCount)) reference / \(count(d.currentCount)) current outputs</div>\n"
            out += "<div class=\"cards\"><section class=\"card\">" + histogramSVG(d.histogram) + "</section></div>\n"
        }
        out += "<h2 style=\"margin-top:28px\">Performance: \(esc(p.metric.rawValue)) (reference \(p.referenceValue.map(fmt) ?? "n/a"), alert when worse by more than \(fmt(p.maxDrop)))</h2>\n"
        out += "<table><thead><tr><th>Version</th><th class=\"num\">Labelled / predictions</th><th class=\"num\">\(esc(p.metric.rawValue))</th><th class=\"num\">Drop</th><th>Verdict</th><th>All metrics</th></tr></thead><tbody>\n"
        for v in p.versions {
            var all = ""
            if let c = v.metrics?.classification {
                all = "accuracy \(fmt(c.accuracy)) · precision \(fmt(c.precision)) · recall \(fmt(c.recall)) · F1 \(fmt(c.f1)) · ROC AUC \(c.rocAUC.map(fmt) ?? "n/a") · log loss \(fmt(c.logLoss))"
            } else if let r = v.metrics?.regression {
                all = "MAE \(fmt(r.mae)) · RMSE \(fmt(r.rmse)) · R² \(r.r2.map(fmt) ?? "n/a")"
            }
            let badge = v.degraded ? "<span class=\"badge bad\">degraded</span>" : v.value == nil ? "n/a" : "<span class=\"badge good\">ok</span>"
            out += "<tr><td><b>\(esc(v.version))</b></td><td class=\"num\">\(count(v.labelled)) / \(count(v.predictions)) (\(fmt(v.coverage * 100))%)</td>"
            out += "<td class=\"num\">\(v.value.map(fmt) ?? "n/a")</td><td class=\"num\">\(v.drop.map(fmt) ?? "-")</td><td>\(badge)</td><td class=\"meta\">\(all)</td></tr>\n"
        }
        out += "</tbody></table>\n"
        if let unmatched = p.unmatchedLabels, unmatched > 0 {
            out += "<div class=\"meta\">\(count(unmatched)) label\(unmatched == 1 ? "" : "s") matched no captured prediction of the window (unknown request or entity, or older than the entity's first prediction).</div>\n"
        }
        out += "<div class=\"cards\">\n"
        let curves = p.versions.enumerated().compactMap { i, v in v.rocCurve.map { (v.version, $0, palette[i % palette.count]) } }
        if !curves.isEmpty {
            out += "<section class=\"card\"><h2>ROC curve</h2><div class=\"legend\">"
            for (version, _, color) in curves { out += "<span class=\"sw\" style=\"background:\(color)\"></span>\(esc(version))" }
            out += "</div>\n" + lineChart(curves.map { ($0.1.map { ($0[0], $0[1]) }, $0.2) }, xLabel: "false positive rate", yLabel: "true positive rate",
                                          yRange: (0, 1), diagonal: true) + "</section>\n"
        }
        // The metric per version over the windows of the recent runs, oldest first.
        var series = [String: [(Double, Double)]]()
        for run in history.reversed() {
            for v in run.report?.performance?.versions ?? [] {
                if let value = v.value { series[v.version, default: []].append((run.time.timeIntervalSince1970, value)) }
            }
        }
        if series.values.contains(where: { $0.count > 1 }) {
            let names = series.keys.sorted()
            out += "<section class=\"card\"><h2>\(esc(p.metric.rawValue)) over windows</h2><div class=\"legend\">"
            for (i, name) in names.enumerated() { out += "<span class=\"sw\" style=\"background:\(palette[i % palette.count])\"></span>\(esc(name))" }
            out += "</div>\n" + lineChart(names.enumerated().map { (series[$0.element]!, palette[$0.offset % palette.count]) },
                                          xLabel: "run time (UTC)", yLabel: p.metric.rawValue, yRange: nil, diagonal: false, times: true) + "</section>\n"
        }
        return out + "</div>\n"
    }

    /// Lines through points on linear axes, with four grid lines on each axis.
    static func lineChart(_ lines: [([(Double, Double)], String)], xLabel: String, yLabel: String, yRange: (Double, Double)?,
                          diagonal: Bool, times: Bool = false) -> String {
        let width = 520.0, height = 260.0, left = 48.0, right = 12.0, top = 10.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = lines.flatMap { $0.0.map(\.0) }, ys = lines.flatMap { $0.0.map(\.1) }
        let x0 = times ? (xs.min() ?? 0) : 0.0, x1 = times ? max((xs.max() ?? 1), x0 + 1) : 1.0
        var (y0, y1) = yRange ?? ((ys.min() ?? 0), (ys.max() ?? 1))
        if yRange == nil { let pad = max((y1 - y0) * 0.1, 0.01); y0 -= pad; y1 += pad }
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotH }
        var s = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\">"
        let clock = DateFormatter()
        clock.dateFormat = "HH:mm"
        clock.timeZone = TimeZone(identifier: "UTC")
        for i in 0...4 {
            let fy = y0 + (y1 - y0) * Double(i) / 4, fx = x0 + (x1 - x0) * Double(i) / 4
            s += "<line x1=\"\(r(left))\" x2=\"\(r(width - right))\" y1=\"\(r(py(fy)))\" y2=\"\(r(py(fy)))\" stroke=\"#e4e7eb\"/>"
            s += "<text x=\"\(r(left - 6))\" y=\"\(r(py(fy) + 4))\" text-anchor=\"end\">\(fmt(fy))</text>"
            let label = times ? clock.string(from: Date(timeIntervalSince1970: fx)) : fmt(fx)
            s += "<text x=\"\(r(px(fx)))\" y=\"\(r(top + plotH + 16))\" text-anchor=\"middle\">\(label)</text>"
        }
        if diagonal { s += "<line x1=\"\(r(px(0)))\" y1=\"\(r(py(0)))\" x2=\"\(r(px(1)))\" y2=\"\(r(py(1)))\" stroke=\"#9aa5b1\" stroke-dasharray=\"4 4\"/>" }
        for (points, color) in lines {
            let path = points.map { "\(r(px($0.0))),\(r(py($0.1)))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>"
            if points.count < 30 { for p in points { s += "<circle cx=\"\(r(px(p.0)))\" cy=\"\(r(py(p.1)))\" r=\"3\" fill=\"\(color)\"/>" } }
        }
        s += "<text x=\"\(r(left + plotW / 2))\" y=\"\(r(height - 6))\" text-anchor=\"middle\">\(esc(xLabel))</text>"
        s += "<text x=\"12\" y=\"\(r(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(r(top + plotH / 2)))\">\(esc(yLabel))</text>"
        return s + "</svg>"
    }

    static func histogramSVG(_ h: DriftStatistics.Binned) -> String {
        let width = 520.0, height = 210.0
        let left = 44.0, right = 10.0, top = 10.0, bottom = h.labels != nil ? 46.0 : 30.0
        let plotW = width - left - right, plotH = height - top - bottom
        let n = max(h.reference.count, 1)
        let maxY = max(h.reference.max() ?? 0, h.current.max() ?? 0, 1e-12)
        let step = niceStep(maxY / 4)
        let gridLines = max(1, Int((maxY / step).rounded(.up)))
        let niceMax = step * Double(gridLines)
        var s = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\">"
        // Grid and y labels.
        for i in 0...gridLines {
            let v = step * Double(i)
            let y = top + plotH - plotH * v / niceMax
            s += "<line x1=\"\(r(left))\" x2=\"\(r(width - right))\" y1=\"\(r(y))\" y2=\"\(r(y))\" stroke=\"#e4e7eb\"/>"
            s += "<text x=\"\(r(left - 6))\" y=\"\(r(y + 4))\" text-anchor=\"end\">\(String(format: "%g%%", (v * 10000).rounded() / 100))</text>"
        }
        let slot = plotW / Double(n)
        let gap = max(min(slot * 0.15, 4), 0.5)
        let barW = max((slot - gap) / 2, 0.5)
        for i in 0..<h.reference.count {
            let x0 = left + Double(i) * slot + gap / 2
            let hr = plotH * h.reference[i] / niceMax, hc = plotH * h.current[i] / niceMax
            s += "<rect x=\"\(r(x0))\" y=\"\(r(top + plotH - hr))\" width=\"\(r(barW))\" height=\"\(r(hr))\" fill=\"#4c78a8\"><title>reference \(percent(h.reference[i]))</title></rect>"
            s += "<rect x=\"\(r(x0 + barW))\" y=\"\(r(top + plotH - hc))\" width=\"\(r(barW))\" height=\"\(r(hc))\" fill=\"#f58518\"><title>current \(percent(h.current[i]))</title></rect>"
        }
        s += "<line x1=\"\(r(left))\" x2=\"\(r(width - right))\" y1=\"\(r(top + plotH))\" y2=\"\(r(top + plotH))\" stroke=\"#9aa5b1\"/>"
        if let labels = h.labels {
            let every = max(1, Int((Double(labels.count) / 14).rounded(.up)))
            for (i, label) in labels.enumerated() where i % every == 0 {
                let x = left + (Double(i) + 0.5) * slot
                let text = label.count > 12 ? String(label.prefix(11)) + "…" : label
                s += "<text x=\"\(r(x))\" y=\"\(r(top + plotH + 14))\" text-anchor=\"middle\">\(esc(text))</text>"
            }
        } else if let edges = h.edges, edges.count >= 2 {
            let ticks = 5
            for t in 0...ticks {
                let idx = Int((Double(edges.count - 1) * Double(t) / Double(ticks)).rounded())
                let x = left + Double(idx) * slot
                s += "<line x1=\"\(r(x))\" x2=\"\(r(x))\" y1=\"\(r(top + plotH))\" y2=\"\(r(top + plotH + 4))\" stroke=\"#9aa5b1\"/>"
                let anchor = t == 0 ? "start" : (t == ticks ? "end" : "middle")
                s += "<text x=\"\(r(x))\" y=\"\(r(top + plotH + 16))\" text-anchor=\"\(anchor)\">\(esc(fmt(edges[idx])))</text>"
            }
        }
        return s + "</svg>"
    }

    /// The smallest of 1, 2, 2.5, 5 × 10^k that is at least x: a grid step that reads well.
    static func niceStep(_ x: Double) -> Double {
        let exponent = pow(10, (log10(x)).rounded(.down))
        for m in [1.0, 2, 2.5, 5, 10] where m * exponent >= x { return m * exponent }
        return 10 * exponent
    }

    /// An integer with thousands separators.
    static func count(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    static func percent(_ v: Double) -> String {
        let p = v * 100
        if p == 0 { return "0%" }
        return p < 1 ? String(format: "%.2f%%", p) : (p < 10 ? String(format: "%.1f%%", p) : String(format: "%.0f%%", p))
    }

    static func r(_ v: Double) -> String { String(format: "%.1f", v) }

    static func fmt(_ x: Double) -> String {
        if x.isNaN { return "n/a" }
        if x == 0 { return "0" }
        if abs(x) >= 1e-3 && abs(x) < 1e5 { return String(format: "%.4g", x) }
        return String(format: "%.3e", x)
    }

    static func esc(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
