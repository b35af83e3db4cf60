import Foundation
import Prometheus

/// The monitors' results in the Prometheus text format: runs by outcome, the last run's time,
/// and the last successful run's drift values, drift share and performance metrics per version.
///
/// Read from the store at each call, so the figures are the same whichever process ran the
/// monitor (the agent's scheduler or `mlinfra monitors run`). The engine writes them after
/// every run to `<data_dir>/monitoring/metrics.prom` (`file`), for node_exporter's textfile
/// collector; docs/monitoring.md lists the names.
public enum MonitorMetrics {
    /// Where the engine keeps the exposition of a data directory's monitors.
    public static func file(dataDirectory: String) -> URL {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("monitoring/metrics.prom")
    }

    /// The exposition of every monitor in `store`.
    public static func exposition(_ store: any MonitorStore) throws -> String {
        let out = Metrics()
        for monitor in try store.monitors() {
            let name = [("monitor", monitor.name)]
            for (outcome, count) in try store.runCounts(monitor.name) {
                out.registry.makeCounter(descriptor: .init("mlinfra_monitor_runs_total", help: "Monitor runs by outcome: drift, no drift, error."),
                                         labels: name + [("outcome", outcome)]).increment(by: Int64(count))
            }
            guard let last = try store.lastRun(monitor.name) else { continue }
            out.gauge("last_run_timestamp_seconds", name, last.time.timeIntervalSince1970, help: "When the monitor last ran (Unix time).")
            out.gauge("last_run_failed", name, last.error == nil ? 0 : 1, help: "1 when the monitor's last run failed, else 0.")
            guard let report = try store.lastSuccessfulRun(monitor.name)?.report else { continue }
            out.add(report, labels: name)
        }
        var buffer: [UInt8] = []
        out.registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Writes `exposition(store)` to `file(dataDirectory:)` atomically, so a scraper never reads half of it.
    public static func write(_ store: any MonitorStore, dataDirectory: String) throws {
        try Data(try exposition(store).utf8).write(to: file(dataDirectory: dataDirectory), options: .atomic)
    }

    /// One exposition being made.
    struct Metrics {
        let registry = PrometheusCollectorRegistry()

        /// Sets `mlinfra_monitor_<name>`; a value that is not finite (no ROC AUC in a one-class
        /// window) is left out rather than written as NaN.
        func gauge(_ name: String, _ labels: [(String, String)], _ value: Double, help: String) {
            guard value.isFinite else { return }
            registry.makeGauge(descriptor: .init("mlinfra_monitor_" + name, help: help), labels: labels).set(to: value)
        }

        func add(_ report: DriftReport, labels name: [(String, String)]) {
            let checked = report.features.count
            gauge("drifted_share", name, checked == 0 ? 0 : Double(report.driftedCount) / Double(checked),
                  help: "Share of the checked features that drifted in the last successful run.")
            gauge("drift_share_threshold", name, report.driftShare,
                  help: "The monitor's drift_share: dataset drift when at least this share of features drift.")
            gauge("dataset_drift", name, report.datasetDrift ? 1 : 0, help: "1 when the last successful run found dataset drift, else 0.")
            for (dataset, rows) in [("current", report.currentRows), ("reference", report.referenceRows)] {
                gauge("rows", name + [("dataset", dataset)], Double(rows), help: "Rows of the datasets the last successful run compared.")
            }
            for f in report.features {
                add(f, check: "feature", labels: name + [("feature", f.feature)])
                if let missing = f.missing {
                    gauge("feature_missing_share", name + [("feature", f.feature)], missing.currentShare,
                          help: "Share of the current window's rows without a value for the feature.")
                }
            }
            if let p = report.predictionDrift { add(p, check: "prediction", labels: name + [("output", p.feature)]) }
            if let unmatched = report.performance?.unmatchedLabels {
                gauge("labels_unmatched", name, Double(unmatched),
                      help: "Labels of the last successful run that matched no captured prediction of the window.")
            }
            for v in report.performance?.versions ?? [] {
                let version = name + [("version", v.version)]
                gauge("label_coverage", version, v.coverage, help: "Share of the window's captured predictions that have a label.")
                for (metric, value) in MonitorMetrics.values(v.metrics) {
                    gauge("performance", version + [("metric", metric)], value,
                          help: "The model's performance on labelled predictions in the last successful run.")
                }
                gauge("performance_degraded", version, v.degraded ? 1 : 0, help: "1 when the version's metric dropped by more than max_drop, else 0.")
            }
        }

        /// A drift check's value (p-value or distance), its threshold and whether it drifted.
        func add(_ drift: FeatureDrift, check: String, labels: [(String, String)]) {
            let labels = labels + [("method", drift.method.rawValue)]
            gauge("\(check)_drift_value", labels, drift.value,
                  help: "The \(check) drift check's p-value or distance in the last successful run.")
            gauge("\(check)_drift_threshold", labels, drift.threshold, help: "The threshold the \(check) drift check's value is held to.")
            gauge("\(check)_drifted", labels, drift.drifted ? 1 : 0, help: "1 when the \(check) drifted in the last successful run, else 0.")
        }
    }

    /// The metrics of a version as (name, value), by the names `performance.metric` takes.
    static func values(_ metrics: MetricValues?) -> [(String, Double)] {
        if let c = metrics?.classification {
            var out: [(String, Double)] = [("accuracy", c.accuracy), ("precision", c.precision), ("recall", c.recall), ("f1", c.f1), ("log_loss", c.logLoss)]
            if let auc = c.rocAUC { out.append(("roc_auc", auc)) }
            return out
        }
        if let r = metrics?.regression {
            var out: [(String, Double)] = [("mae", r.mae), ("rmse", r.rmse)]
            if let r2 = r.r2 { out.append(("r2", r2)) }
            return out
        }
        return []
    }
}

extension MetricNameDescriptor {
    /// A metric by its whole name (unit and `_total` included) and its `# HELP` text.
    init(_ name: String, help: String) { self.init(metricName: name, unitName: "", helpText: help) }
}
