import DriftMonitor
import Foundation

/// Renders runs and monitors for the terminal (human) or as JSON.
enum MonitorViews {
    static var iso: ISO8601DateFormatter { ISO8601DateFormatter() }

    static func json<T: Encodable>(_ value: T) throws -> String { try ReportRenderer.json(value) }

    static func format(_ x: Double) -> String {
        if x.isNaN { return "n/a" }
        if x == 0 { return "0" }
        if abs(x) >= 1e-4 && abs(x) < 1e6 { return String(format: "%.4g", x) }
        return String(format: "%.3e", x)
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

    static func human(_ run: MonitorRun) -> String {
        guard let report = run.report else { return "monitor \(run.monitor): run failed: \(run.error ?? "unknown error")" }
        let verdict = report.alerting ? Terminal.paint("DRIFT", "1;31") : Terminal.paint("NO DRIFT", "1;32")
        var out = "monitor \(report.monitor) · \(iso.string(from: report.time)) · \(verdict) "
        out += "(\(report.driftedCount)/\(report.features.count) features drifted; dataset drift at ≥ \(format(report.driftShare * 100))%)\n"
        out += "current:   \(report.current) (\(report.currentRows) rows)\nreference: \(report.reference) (\(report.referenceRows) rows)\n\n"
        let width = max(8, report.features.map(\.feature.count).max() ?? 0) + 2
        out += pad("FEATURE", width) + pad("TYPE", 12) + pad("METHOD", 14) + pad("STATISTIC", 12) + pad("VALUE", 12) + pad("THRESHOLD", 11) + pad("RULE", 12) + pad("VERDICT", 9) + "MISSING (reference → current)\n"
        for f in report.features {
            let rule = f.method.isPValue ? (f.method == .ks ? "drift if <=" : "drift if <") : "drift if >="
            let stat = f.statistic.map(format) ?? "-"
            let verdictText = f.drifted ? Terminal.paint(pad("drift", 9), "31") : Terminal.paint(pad("ok", 9), "32")
            out += pad(f.feature, width) + pad(f.kind.rawValue, 12) + pad(f.method.rawValue + (f.defaultMethod ? "*" : ""), 14)
            out += pad(stat, 12) + pad(format(f.value), 12) + pad(format(f.threshold), 11) + pad(rule, 12) + verdictText + missingText(f.missing) + "\n"
        }
        if report.missingDrift { out += "missing values drifted (two-proportion Z-test, p < 0.05): values are left out of the statistic, counted here\n" }
        if report.features.contains(where: \.defaultMethod) { out += "* method chosen by default (Evidently's rule: column type, reference size, distinct values)\n" }
        if let d = report.predictionDrift {
            out += "prediction drift: \(d.feature) \(d.method.rawValue) \(format(d.value)) vs \(format(d.threshold)) → \(d.drifted ? Terminal.paint("drift", "31") : "ok")\n"
        }
        if let p = report.performance { out += performance(p) }
        out += "alert: \(run.alert)"
        return out
    }

    /// One line per model version: the monitored metric against the reference, label coverage, every metric.
    static func performance(_ p: PerformanceReport) -> String {
        var out = "\nperformance: \(p.metric.rawValue), reference \(p.referenceValue.map(format) ?? "n/a"), alert when worse by more than \(format(p.maxDrop))\n"
        out += pad("VERSION", 16) + pad("LABELLED", 18) + pad(p.metric.rawValue.uppercased(), 12) + pad("DROP", 10) + pad("VERDICT", 10) + "ALL METRICS\n"
        for v in p.versions {
            let coverage = "\(v.labelled)/\(v.predictions) (\(String(format: "%.0f%%", v.coverage * 100)))"
            let verdict = v.degraded ? Terminal.paint(pad("degraded", 10), "31") : Terminal.paint(pad(v.value == nil ? "n/a" : "ok", 10), "32")
            var all = [String]()
            if let c = v.metrics?.classification {
                all = ["accuracy \(format(c.accuracy))", "precision \(format(c.precision))", "recall \(format(c.recall))", "f1 \(format(c.f1))",
                       "roc_auc \(c.rocAUC.map(format) ?? "n/a (one class)")", "log_loss \(format(c.logLoss))"]
            } else if let r = v.metrics?.regression {
                all = ["mae \(format(r.mae))", "rmse \(format(r.rmse))", "r2 \(r.r2.map(format) ?? "n/a")"]
            }
            out += pad(v.version, 16) + pad(coverage, 18) + pad(v.value.map(format) ?? "n/a", 12) + pad(v.drop.map(format) ?? "-", 10) + verdict
            out += all.joined(separator: ", ") + "\n"
        }
        return out
    }

    /// `0.0% → 12.5% (40 of 320)`, with the verdict of the missing-value check when it drifted.
    static func missingText(_ m: MissingValues?) -> String {
        guard let m else { return "-" }
        let text = String(format: "%.1f%% → %.1f%% (%d of %d)", m.referenceShare * 100, m.currentShare * 100, m.currentMissing, m.currentRows)
        return m.drifted ? Terminal.paint(text + " drift (p \(format(m.pValue)))", "31") : text
    }

    struct RunSummary: Encodable {
        var id: Int64
        var time: Date
        var trigger: String
        var verdict: String
        var drifted: Int
        var features: Int
        var alert: String
        var error: String?
        var values: [String: FeatureValue]?
        struct FeatureValue: Encodable { var method: String; var value: Double; var threshold: Double; var drifted: Bool }
    }

    static func summary(_ r: MonitorRun) -> RunSummary {
        RunSummary(id: r.id, time: r.time, trigger: r.trigger.rawValue, verdict: r.verdict, drifted: r.driftedCount, features: r.featureCount,
                   alert: r.alert, error: r.error,
                   values: r.report.map { Dictionary(uniqueKeysWithValues: $0.features.map { ($0.feature, RunSummary.FeatureValue(method: $0.method.rawValue, value: $0.value, threshold: $0.threshold, drifted: $0.drifted)) }) })
    }

    static func history(_ name: String, _ runs: [MonitorRun]) -> String {
        if runs.isEmpty { return "monitor \(name) has no runs yet (run it with `mlinfra monitors run \(name) --now`)" }
        var out = pad("TIME", 22) + pad("TRIGGER", 10) + pad("VERDICT", 10) + pad("DRIFTED", 9) + "ALERT / ERROR\n"
        for r in runs {
            let verdict = r.verdict == "drift" ? Terminal.paint(pad(r.verdict, 10), "31") : (r.verdict == "error" ? Terminal.paint(pad(r.verdict, 10), "33") : pad(r.verdict, 10))
            out += pad(iso.string(from: r.time), 22) + pad(r.trigger.rawValue, 10) + verdict + pad("\(r.driftedCount)/\(r.featureCount)", 9)
            out += (r.error.map { $0.split(separator: "\n").first.map(String.init) ?? $0 } ?? r.alert) + "\n"
        }
        return String(out.dropLast())
    }

    struct Listing: Encodable {
        var name: String
        var source: String
        var reference: String
        var schedule: String?
        var checks: Int
        var lastRun: Date?
        var lastVerdict: String?
        enum CodingKeys: String, CodingKey { case name, source, reference, schedule, checks, lastRun = "last_run", lastVerdict = "last_verdict" }
    }

    static func listing(_ m: MonitorDefinition, _ last: MonitorRun?) -> Listing {
        Listing(name: m.name, source: m.source.description, reference: m.reference, schedule: m.schedule, checks: m.checks.count,
                lastRun: last?.time, lastVerdict: last?.verdict)
    }

    static func list(_ rows: [(MonitorDefinition, MonitorRun?)]) -> String {
        if rows.isEmpty { return "no monitors (declare a monitor resource and run `mlinfra apply`)" }
        let width = max(6, rows.map(\.0.name.count).max() ?? 0) + 2
        var out = pad("NAME", width) + pad("SCHEDULE", 16) + pad("LAST RUN", 22) + pad("VERDICT", 10) + "SOURCE\n"
        for (m, last) in rows {
            out += pad(m.name, width) + pad(m.schedule ?? "manual", 16) + pad(last.map { iso.string(from: $0.time) } ?? "never", 22)
            out += pad(last?.verdict ?? "-", 10) + m.source.description + "\n"
        }
        return String(out.dropLast())
    }
}
