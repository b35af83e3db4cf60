import CaptureStorage
import DriftMonitor
import EnginePostgres
import Foundation
import MLInfraCore
import Synchronization

/// The built-in provider for `monitor` resources, backed by the DriftMonitor engine.
///
/// A monitor's current data is an endpoint's capture (`endpoint`) or a CSV (`dataset`),
/// compared with a `reference` CSV that is profiled at apply time (a changed reference
/// file shows as a change of `reference_sha256` in the plan). Checks, schedule, window and
/// alert change in place; `name` forces a replacement. Refresh reports the last run.
///
/// `control: { postgres: { url: … } }` keeps the monitor in the control store's database, where
/// the agents of the serving hosts schedule it (each due time on one of them) over the capture
/// the hosts write there; without it the monitor lives in the data directory and its agent runs it.
public struct MonitoringProvider: Provider {
    public init() {}

    static let providerName = "local"
    let state = ConfiguredState()
    let shared = SharedStores()

    /// Where a monitor is kept.
    enum Control: Hashable, Sendable {
        case local
        /// The URL's text (the capture store is opened from it) and the control schema.
        case postgres(url: String, schema: String)

        static let defaultSchema = "mlinfra_control"
    }

    /// The PostgreSQL monitor stores opened so far: opening one migrates its schema and starts
    /// connections, which the provider's calls then share.
    final class SharedStores: Sendable {
        private let opened = Mutex<[Control: PostgresMonitorStore]>([:])
        /// Where the spec keeps each monitor, as validate saw it: state holds the control URL
        /// sealed (it is sensitive), so refresh and delete learn it from the spec.
        let chosen = Mutex<[String: Control]>([:])

        /// The store for a monitor in state: the spec's choice for `address`, else (a monitor gone
        /// from the spec) the one PostgreSQL store the spec names, else what `attributes` say.
        func control(of attributes: [String: Value], address: String) -> Control {
            let chosen = self.chosen.withLock { $0 }
            if let choice = chosen[address] { return choice }
            let parsed = MonitoringProvider.control(attributes) { _, _, _ in }
            if case .postgres = parsed { return parsed! }
            let shared = Set(chosen.values.filter { $0 != .local })
            if attributes["control"].map({ !$0.isNull }) == true, shared.count == 1 { return shared.first! }
            return parsed ?? .local
        }

        func store(url text: String, schema: String) throws -> PostgresMonitorStore {
            let key = Control.postgres(url: text, schema: schema)
            if let store = opened.withLock({ $0[key] }) { return store }
            let url: PostgresURL
            do { url = try PostgresURL(parsing: text) } catch {
                throw DriftError(.badConfig, "the control store's PostgreSQL URL \(error.what) (the URL itself is not shown, as it may hold a password)",
                                 remedy: "give a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE, through a sensitive variable")
            }
            let store = try PostgresMonitorStore(url: url, schema: schema)
            return opened.withLock { $0[key, default: store] }
        }
    }

    /// Settings from `configure`, shared by the calls that follow.
    final class ConfiguredState: Sendable {
        private struct Settings {
            var dataDir: String?
            var workingDirectory = FileManager.default.currentDirectoryPath
        }
        private let settings = Mutex(Settings())
        func set(dataDir: String, workingDirectory: String) {
            settings.withLock { $0 = Settings(dataDir: dataDir, workingDirectory: workingDirectory) }
        }
        var values: (dataDir: String, workingDirectory: String) {
            settings.withLock {
                let wd = $0.workingDirectory
                return ($0.dataDir ?? MonitoringProvider.resolve(EngineDataDirectory.defaultName, in: wd), wd)
            }
        }
    }

    static func resolve(_ path: String, in directory: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        return ((directory as NSString).appendingPathComponent(expanded) as NSString).standardizingPath
    }

    public func schema() async throws -> ProviderSchema {
        let check = AttributeType.object([
            "feature": AttributeSchema(.string, required: true, description: "Column / input feature to compare."),
            "method": AttributeSchema(.string, allowed: DriftMethod.allCases.map(\.rawValue),
                                      description: "psi, ks, wasserstein, jensenshannon, chisquare or z; default: Evidently's choice by type and size."),
            "threshold": AttributeSchema(.number, description: "Default 0.05 for p-values (ks, chisquare, z), 0.1 for distances."),
        ])
        let alert = AttributeType.object([
            "webhook": AttributeSchema(.string, description: "URL that receives a signed JSON POST when the dataset drifts."),
            "token": AttributeSchema(.string, sensitive: true, description: "Key of the X-MLInfra-Signature HMAC-SHA256."),
            "cooldown": AttributeSchema(.duration, description: "After an alert, new problems wait this long before the next one (e.g. 1h); default 0."),
        ])
        let performance = AttributeType.object([
            "task": AttributeSchema(.string, required: true, allowed: ["classification", "regression"], description: "What the model predicts."),
            "label": AttributeSchema(.string, description: "The reference CSV's column of true values; default label."),
            "prediction": AttributeSchema(.string, description: "The model output scored (captured outputs, reference column); default prediction."),
            "metric": AttributeSchema(.string, allowed: PerformanceMetric.allCases.map(\.rawValue),
                                      description: "Compared with the reference; default roc_auc (classification) or rmse (regression)."),
            "max_drop": AttributeSchema(.number, required: true, description: "Alert when the metric is this much worse than the reference's."),
            "labels": AttributeSchema(.string, description: "A CSV of labels, besides those posted to the endpoint's /feedback: request_id and the label column (performance.label), or the entity's join key columns, event_timestamp or time (ISO 8601 or Unix seconds) and the label column, joined to the entity's latest prediction at or before that time."),
            "threshold": AttributeSchema(.number, description: "A classifier predicts 1 above this score; default 0.5."),
        ])
        let control = AttributeType.object([
            "sqlite": AttributeSchema(.object([:]), description: "The data directory's monitoring store, run by its agent (the default)."),
            "postgres": AttributeSchema(
                .object([
                    "url": AttributeSchema(.string, required: true, sensitive: true,
                                           description: "postgres://USER:PASSWORD@HOST:PORT/DATABASE: the serving hosts' control store; give it through a sensitive variable."),
                    "schema": AttributeSchema(.string, description: "The control store's schema (the agents' --control-schema); default mlinfra_control."),
                ]),
                description: "The control store the serving hosts' agents share: they schedule the monitor, one agent per due time, over the capture in that database (schema mlinfra_capture)."),
        ])
        let monitor = ResourceSchema(
            description: "Drift monitor: compares an endpoint's captured traffic or a dataset with a reference, on a schedule, and alerts.",
            attributes: [
                "name": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "Monitor name; defaults to the resource name."),
                "endpoint": AttributeSchema(.string, referenceType: "endpoint", description: "Endpoint whose data capture is the current data."),
                "dataset": AttributeSchema(.string, description: "CSV file used as the current data (instead of an endpoint)."),
                "reference": AttributeSchema(.string, required: true, description: "Reference CSV, profiled at apply."),
                "schedule": AttributeSchema(.string, description: "Five-field cron expression, @hourly/@daily/…, or @every DURATION (counted from the Unix epoch), in UTC."),
                "window": AttributeSchema(.duration, computed: true, optional: true, description: "How much capture to compare (endpoint sources); default 1h."),
                "checks": AttributeSchema(.list(check), description: "Per-feature checks; default: every reference column with default methods."),
                "alert": AttributeSchema(alert, description: "Where drift alerts go (also always logged)."),
                "drift_share": AttributeSchema(.number, computed: true, optional: true, description: "Dataset drift when at least this share of features drift; default 0.5."),
                "correction": AttributeSchema(.string, allowed: MultipleTesting.allCases.map(\.rawValue),
                                              description: "Correct the p-value checks for testing many columns: bonferroni or benjamini_hochberg."),
                "performance": AttributeSchema(performance, description: "Model performance on captured predictions once labels arrive (endpoint sources)."),
                "control": AttributeSchema(control, forceNew: true, description: "Where the monitor is kept and run: { sqlite: {} } (default) or { postgres: { url: … } }."),
                "id": .computed(.string, description: "The monitor name."),
                "reference_sha256": .computed(.string, description: "SHA-256 of the profiled reference."),
                "last_run": .computed(.string, description: "Time of the last run (ISO 8601, UTC)."),
                "last_verdict": .computed(.string, description: "drift, no drift or error."),
                "last_drifted": .computed(.int, description: "Features that drifted in the last run."),
            ])
        return ProviderSchema(
            name: Self.providerName, version: MLInfraVersion.current,
            config: ["data_dir": AttributeSchema(.string, description: "Where the local engines keep their files; default .mlinfra.")],
            resourceTypes: ["monitor": monitor])
    }

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        var diagnostics = [Diagnostic]()
        var dir = EngineDataDirectory.defaultName
        if let v = request.config["data_dir"] {
            if let s = v.stringValue { dir = s } else if !v.isNull {
                diagnostics.append(.error("providers.local.data_dir must be a string", detail: "for example data_dir: .mlinfra/dev"))
            }
        }
        state.set(dataDir: Self.resolve(dir, in: request.workingDirectory), workingDirectory: request.workingDirectory)
        return ConfigureResponse(diagnostics: diagnostics)
    }

    // MARK: Config → definition

    struct Parsed {
        var definition: MonitorDefinition
        /// nil while the spec's `control` is not known yet.
        var control: Control?
        var diagnostics: [AttributeDiagnostic]
    }

    /// Reads `control`; nil without diagnostics while its value is not known yet.
    static func control(_ config: [String: Value], error: (String?, String, String) -> Void) -> Control? {
        guard let value = config["control"], !value.isNull else { return .local }
        if value.containsUnknown { return nil }
        guard let map = value.mapValue, map.count == 1, let (kind, settings) = map.first else {
            error("control", "`control` must hold exactly one of `sqlite` or `postgres`", "e.g. control: { postgres: { url: \"${var.control_db}\" } }")
            return .local
        }
        switch kind {
        case "sqlite":
            return .local
        case "postgres":
            for key in (settings.mapValue ?? [:]).keys.sorted() where !["url", "schema"].contains(key) {
                error("control.postgres.\(key)", "unknown attribute \"\(key)\" for control.postgres", "control.postgres takes url and schema")
            }
            guard let text = settings["url"]?.stringValue, !text.isEmpty else {
                error("control.postgres.url", "`control.postgres.url` must be a postgres:// URL",
                      "Give it through a sensitive variable: url: \"${var.control_db}\", set with MLINFRA_VAR_control_db.")
                return .local
            }
            do { _ = try PostgresURL(parsing: text) } catch let problem {
                error("control.postgres.url", "the control store's PostgreSQL URL \(problem.what) (the URL itself is not shown, as it may hold a password)",
                      "Give a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE, through a sensitive variable.")
                return .local
            }
            let schema = settings["schema"]?.stringValue ?? Control.defaultSchema
            guard PostgresMigrations.isPlainIdentifier(schema) else {
                error("control.postgres.schema", "the schema name `\(schema)` is not a plain SQL identifier",
                      "Use lower-case letters, digits and `_`, starting with a letter (at most 63 characters), e.g. mlinfra_control.")
                return .local
            }
            return .postgres(url: text, schema: schema)
        default:
            error("control.\(kind)", "the control store `\(kind)` is not known", "Use `sqlite` (the default) or `postgres: { url: … }`.")
            return .local
        }
    }

    /// Reads the spec values; unknown values are allowed (validate runs before references resolve).
    static func parse(_ config: [String: Value], address: String, workingDirectory: String) -> Parsed {
        var diags = [AttributeDiagnostic]()
        func error(_ attribute: String?, _ summary: String, _ detail: String) {
            diags.append(AttributeDiagnostic(attribute: attribute, .error(summary, detail: detail, address: address)))
        }
        let known: Set<String> = ["name", "endpoint", "dataset", "reference", "schedule", "window", "checks", "alert", "drift_share", "performance", "correction",
                                  "control", "id", "reference_sha256", "last_run", "last_verdict", "last_drifted"]
        for key in config.keys.sorted() where !known.contains(key) {
            error(key, "unknown attribute \"\(key)\" for monitor", "monitor takes: endpoint or dataset, reference, schedule, window, checks, alert, drift_share, performance, correction, name")
        }
        let name = config["name"]?.stringValue ?? ResourceAddress(parsing: address)?.objectName ?? address
        var source = CurrentSource.dataset("")
        let endpoint = config["endpoint"].flatMap { $0.isNull ? nil : $0 }
        let dataset = config["dataset"].flatMap { $0.isNull ? nil : $0 }
        switch (endpoint, dataset) {
        case (nil, nil):
            error(nil, "monitor needs current data: set endpoint or dataset", "endpoint: ${endpoint.NAME} compares captured traffic; dataset: path/to.csv compares a file")
        case (.some, .some):
            error("dataset", "set either endpoint or dataset, not both", "a monitor compares one source of current data with its reference")
        case (.some(let e), nil):
            if let s = e.stringValue { source = .endpoint(s) } else if !e.isUnknown { error("endpoint", "endpoint must be a string", "use ${endpoint.NAME}") }
        case (nil, .some(let d)):
            if let s = d.stringValue { source = .dataset(resolve(s, in: workingDirectory)) } else if !d.isUnknown { error("dataset", "dataset must be a CSV path", "for example data/current.csv") }
        }
        var reference = ""
        if let r = config["reference"] {
            if let s = r.stringValue { reference = resolve(s, in: workingDirectory) } else if !r.isUnknown { error("reference", "reference must be a CSV path", "for example data/reference.csv") }
        } else {
            error("reference", "monitor needs a reference", "reference: data/reference.csv (the data the model was trained or validated on)")
        }
        var schedule: String?
        if let s = config["schedule"], !s.isNull {
            if let text = s.stringValue {
                schedule = text
                do { _ = try CronExpression(text) } catch let e as DriftError { error("schedule", e.message, e.remedy) } catch {}
            } else if !s.isUnknown { error("schedule", "schedule must be a cron expression string", "for example \"0 * * * *\" or \"@hourly\"") }
        }
        var window: TimeInterval = 3600
        if let w = config["window"], !w.isNull {
            if let text = w.stringValue, let seconds = DurationText.seconds(text), seconds > 0 {
                window = seconds
            } else if let n = w.doubleValue, n > 0 {
                window = n
            } else if !w.isUnknown {
                error("window", "window must be a duration such as 1h or 1d", "the capture of the last WINDOW is compared with the reference")
            }
        }
        var checks = [DriftCheck]()
        if let c = config["checks"], !c.isNull {
            if let list = c.listValue {
                for (i, item) in list.enumerated() {
                    guard let m = item.mapValue else {
                        if !item.isUnknown { error("checks.\(i)", "each check must be a map", "{ feature: amount, method: psi, threshold: 0.2 }") }
                        continue
                    }
                    for key in m.keys.sorted() where !["feature", "method", "threshold"].contains(key) {
                        error("checks.\(i).\(key)", "unknown check attribute \"\(key)\"", "a check takes feature, method and threshold")
                    }
                    guard let feature = m["feature"]?.stringValue else {
                        if m["feature"]?.isUnknown != true { error("checks.\(i).feature", "check \(i) needs a feature name", "feature: COLUMN") }
                        continue
                    }
                    var check = DriftCheck(feature: feature)
                    if let mv = m["method"], !mv.isNull {
                        if let s = mv.stringValue, let method = DriftMethod(rawValue: s.lowercased()) {
                            check.method = method
                        } else if !mv.isUnknown {
                            error("checks.\(i).method", "unknown method \(mv.rendered)", "use one of \(DriftMethod.allCases.map(\.rawValue).joined(separator: ", "))")
                        }
                    }
                    if let t = m["threshold"], !t.isNull {
                        if let d = t.doubleValue, d.isFinite, d >= 0 { check.threshold = d } else if !t.isUnknown {
                            error("checks.\(i).threshold", "threshold must be a non-negative number", "p-value methods use e.g. 0.05, distances e.g. 0.1 or 0.2")
                        }
                    }
                    if checks.contains(where: { $0.feature == feature }) {
                        error("checks.\(i).feature", "feature \"\(feature)\" is checked twice", "keep one check per feature")
                    }
                    checks.append(check)
                }
            } else if !c.isUnknown {
                error("checks", "checks must be a list", "checks: [{ feature: amount, method: psi, threshold: 0.2 }]")
            }
        }
        var alert: AlertTarget?
        if let a = config["alert"], !a.isNull {
            if let m = a.mapValue {
                var target = AlertTarget()
                for key in m.keys.sorted() where !["webhook", "token"].contains(key) {
                    error("alert.\(key)", "unknown alert attribute \"\(key)\"", "alert takes webhook and token")
                }
                if let w = m["webhook"], !w.isNull {
                    if let s = w.stringValue {
                        target.webhook = s
                        if let u = URL(string: s), ["http", "https"].contains(u.scheme ?? ""), u.host != nil {} else {
                            error("alert.webhook", "alert webhook \(AlertTarget.redact(s)) is not an http(s) URL", "for example http://127.0.0.1:9000/hooks/drift")
                        }
                    } else if !w.isUnknown { error("alert.webhook", "webhook must be a URL string", "for example https://hooks.example.com/drift") }
                }
                if let c = m["cooldown"], !c.isNull {
                    if let text = c.stringValue, let seconds = DurationText.seconds(text), seconds >= 0 {
                        target.cooldown = seconds
                    } else if let n = c.doubleValue, n >= 0 {
                        target.cooldown = n
                    } else if !c.isUnknown {
                        error("alert.cooldown", "cooldown must be a duration such as 30m or 1h", "new problems found within it wait for a later run")
                    }
                }
                if let t = m["token"], !t.isNull {
                    if let s = t.stringValue { target.token = s } else if !t.isUnknown { error("alert.token", "token must be a string", "use a sensitive variable: \"${var.alert_token}\"") }
                }
                if target.token != nil && target.webhook == nil && m["webhook"]?.isUnknown != true {
                    error("alert.token", "an alert token without a webhook is never used", "add alert.webhook, or remove the token")
                }
                alert = target
            } else if !a.isUnknown {
                error("alert", "alert must be a map", "alert: { webhook: URL, token: \"${var.alert_token}\" }")
            }
        }
        var share = 0.5
        if let s = config["drift_share"], !s.isNull {
            if let d = s.doubleValue, d > 0, d <= 1 { share = d } else if !s.isUnknown {
                error("drift_share", "drift_share must be a number in (0, 1]", "0.5 means: dataset drift when half the features drift")
            }
        }
        var performance: PerformanceSpec?
        if let p = config["performance"], !p.isNull {
            if let m = p.mapValue {
                let task = m["task"]?.stringValue.flatMap(PerformanceSpec.Task.init(rawValue:))
                let metric = m["metric"]?.stringValue.flatMap(PerformanceMetric.init(rawValue:))
                if task == nil, m["task"]?.isUnknown != true { error("performance.task", "task must be classification or regression", "performance: { task: classification, max_drop: 0.05 }") }
                if m["metric"]?.isNull == false, m["metric"]?.isUnknown != true, metric == nil {
                    error("performance.metric", "unknown metric", "one of: \(PerformanceMetric.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let maxDrop = m["max_drop"]?.doubleValue
                if maxDrop == nil, m["max_drop"]?.isUnknown != true { error("performance.max_drop", "max_drop must be a number", "e.g. 0.05: alert when ROC AUC falls by more than 0.05") }
                if let task, let maxDrop {
                    var spec = PerformanceSpec(task: task, label: m["label"]?.stringValue ?? "label", prediction: m["prediction"]?.stringValue ?? "prediction",
                                               metric: metric, maxDrop: maxDrop, labels: m["labels"]?.stringValue.map { resolve($0, in: workingDirectory) },
                                               threshold: m["threshold"]?.doubleValue ?? 0.5)
                    for problem in spec.problems { error("performance", problem, "see docs/monitoring.md, Performance") }
                    if spec.metric.task != task { spec.metric = task == .classification ? .rocAUC : .rmse }
                    performance = spec
                }
            } else if !p.isUnknown {
                error("performance", "performance must be a map", "performance: { task: classification, max_drop: 0.05 }")
            }
        }
        var correction: MultipleTesting?
        if let c = config["correction"], !c.isNull {
            if let s = c.stringValue, let m = MultipleTesting(rawValue: s) { correction = m } else if !c.isUnknown {
                error("correction", "correction must be bonferroni or benjamini_hochberg", "benjamini_hochberg controls the share of false alarms among drifted columns")
            }
        }
        let definition = MonitorDefinition(name: name, source: source, reference: reference, schedule: schedule, window: window,
                                           checks: checks, alert: alert, driftShare: share, performance: performance, correction: correction)
        let control = Self.control(config, error: error)
        if case .postgres = control {
            // The serving hosts run the checks: a file on the machine that applies is not there.
            if dataset != nil {
                error("dataset", "a monitor in the PostgreSQL control store reads an endpoint's capture, not a dataset file",
                      "the serving hosts' agents run it, where this file is not; use endpoint: ${endpoint.NAME}, or leave out control")
            }
            if performance?.labels != nil {
                error("performance.labels", "a monitor in the PostgreSQL control store takes labels posted to the endpoint's /feedback, not a CSV file",
                      "the serving hosts' agents run it, where this file is not; post the labels to the routers' /feedback")
            }
        }
        return Parsed(definition: definition, control: control, diagnostics: diags)
    }

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        guard request.type == "monitor" else {
            return ValidateResponse(diagnostics: [AttributeDiagnostic(.error("unknown resource type \(request.type)", address: request.address))])
        }
        let parsed = Self.parse(request.config, address: request.address, workingDirectory: state.values.workingDirectory)
        if let control = parsed.control { shared.chosen.withLock { $0[request.address] = control } }
        guard !parsed.diagnostics.contains(where: { $0.diagnostic.severity == .error }) else { return ValidateResponse(diagnostics: parsed.diagnostics) }
        return ValidateResponse(diagnostics: parsed.diagnostics + Self.fileProblems(request.config, parsed.definition, address: request.address))
    }

    /// The reference and dataset files the spec names: readable CSVs with every checked column.
    static func fileProblems(_ config: [String: Value], _ definition: MonitorDefinition, address: String) -> [AttributeDiagnostic] {
        var files: [(attribute: String, path: String)] = []
        if config["reference"]?.stringValue != nil { files.append(("reference", definition.reference)) }
        if config["dataset"]?.stringValue != nil, case .dataset(let path) = definition.source { files.append(("dataset", path)) }
        var problems: [AttributeDiagnostic] = []
        for (attribute, path) in files {
            let written = config[attribute]?.stringValue ?? path
            let header: [String]
            do {
                header = try CSVReader.header(path: path)
            } catch {
                let exists = FileManager.default.fileExists(atPath: path)
                problems.append(AttributeDiagnostic(attribute: attribute, .error(
                    exists ? "cannot read \(attribute) \(written)" : "\(attribute) file not found: \(written)",
                    detail: exists ? "\(error)" : "Paths are relative to the spec directory; create the file or fix the path.", address: address)))
                continue
            }
            for (i, check) in definition.checks.enumerated() where !header.contains(check.feature) {
                problems.append(AttributeDiagnostic(attribute: "checks.\(i).feature", .error(
                    "the \(attribute) \(written) has no column \"\(check.feature)\"",
                    detail: "Its columns: \(header.joined(separator: ", "))." + Suggestions.didYouMean(check.feature, in: header)
                        + " Check a column the reference and the current data both have.", address: address)))
            }
        }
        return problems
    }

    // MARK: Plan / apply / read

    static let inputKeys = ["endpoint", "dataset", "reference", "schedule", "checks", "alert", "performance"]

    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        let (_, wd) = state.values
        let parsed = Self.parse(request.proposed, address: request.address, workingDirectory: wd)
        if parsed.diagnostics.contains(where: { $0.diagnostic.severity == .error }) {
            return PlanResponse(planned: request.proposed, diagnostics: parsed.diagnostics)
        }
        let fileProblems = Self.fileProblems(request.proposed, parsed.definition, address: request.address)
        if !fileProblems.isEmpty { return PlanResponse(planned: request.proposed, diagnostics: fileProblems) }
        var planned = request.proposed
        let name = parsed.definition.name
        planned["name"] = .string(name)
        planned["id"] = .string(name)
        if planned["window"] == nil || planned["window"] == .null { planned["window"] = .string("1h") }
        if planned["drift_share"] == nil || planned["drift_share"] == .null { planned["drift_share"] = .number(0.5) }
        // The reference's hash: a changed file plans an update (re-profiling).
        if request.proposed["reference"]?.containsUnknown == true {
            planned["reference_sha256"] = .unknown
        } else if let hash = try? Self.fileHash(parsed.definition.reference) {
            planned["reference_sha256"] = .string(hash)
        } else {
            planned["reference_sha256"] = .unknown
            return PlanResponse(planned: planned, diagnostics: [AttributeDiagnostic(attribute: "reference",
                .error("cannot read reference \(parsed.definition.reference)", detail: "create the file or fix the path (relative to the spec directory)", address: request.address))])
        }
        for key in ["last_run", "last_verdict", "last_drifted"] {
            planned[key] = request.prior?.attributes[key] ?? .null
        }
        return PlanResponse(planned: planned, diagnostics: parsed.diagnostics)
    }

    static func fileHash(_ path: String) throws -> String {
        try DriftMonitorEngine.sha256(ofFile: path)
    }

    /// The engine over where `control` keeps monitors (the data directory when nil).
    func engine(_ control: Control? = .local) throws -> DriftMonitorEngine {
        let dataDir = state.values.dataDir
        guard case .postgres(let url, let schema) = control else { return try DriftMonitorEngine(dataDirectory: dataDir) }
        return DriftMonitorEngine(store: try shared.store(url: url, schema: schema), dataDirectory: dataDir,
                                  capture: .postgres(url: url, schema: CaptureStoreLocation.defaultSchema))
    }


    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        do {
            switch request.action {
            case .delete:
                if let prior = request.prior { try engine(shared.control(of: prior.attributes, address: request.address)).remove(prior.id) }
                return ApplyResponse(new: nil)
            case .create, .update:
                let parsed = Self.parse(request.config, address: request.address, workingDirectory: state.values.workingDirectory)
                if let bad = parsed.diagnostics.first(where: { $0.diagnostic.severity == .error }) {
                    return ApplyResponse(new: nil, diagnostics: [bad.diagnostic])
                }
                let engine = try engine(parsed.control)
                if request.action == .update, let old = request.prior?.id, old != parsed.definition.name {
                    try engine.remove(old)
                }
                try engine.apply(parsed.definition)
                var attributes = request.config
                attributes.merge(try Self.computed(engine: engine, name: parsed.definition.name)) { _, new in new }
                if attributes["window"] == nil || attributes["window"] == .null { attributes["window"] = .string("1h") }
                if attributes["drift_share"] == nil || attributes["drift_share"] == .null { attributes["drift_share"] = .number(0.5) }
                return ApplyResponse(new: ResourceObject(id: parsed.definition.name, attributes: attributes))
            }
        } catch let e as DriftError {
            return ApplyResponse(new: nil, diagnostics: [.error(e.message, detail: e.remedy, address: request.address)])
        }
    }

    /// The attributes only the engine knows: name, id, profile hash and the last run.
    static func computed(engine: DriftMonitorEngine, name: String) throws -> [String: Value] {
        var out: [String: Value] = ["name": .string(name), "id": .string(name)]
        out["reference_sha256"] = (try engine.store.profileHash(name)).map(Value.string) ?? .null
        if let run = try engine.store.lastRun(name) {
            out["last_run"] = .string(ISO8601DateFormatter().string(from: run.time))
            out["last_verdict"] = .string(run.verdict)
            out["last_drifted"] = .int(run.driftedCount)
        } else {
            out["last_run"] = .null
            out["last_verdict"] = .null
            out["last_drifted"] = .null
        }
        return out
    }

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        do {
            let engine = try engine(shared.control(of: request.prior.attributes, address: request.address))
            guard let stored = try engine.store.monitor(request.id) else { return ReadResponse(current: nil) }
            var attributes = request.prior.attributes
            attributes.merge(try Self.computed(engine: engine, name: request.id)) { _, new in new }
            // Settings changed outside mlinfra show as drift.
            if let s = attributes["schedule"], s.stringValue != stored.schedule, !(s.isNull && stored.schedule == nil) {
                attributes["schedule"] = stored.schedule.map(Value.string) ?? .null
            }
            return ReadResponse(current: ResourceObject(id: request.id, attributes: attributes))
        } catch let e as DriftError {
            return ReadResponse(current: request.prior, diagnostics: [.error(e.message, detail: e.remedy, address: request.address)])
        }
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        let engine = try engine()
        guard let m = try engine.store.monitor(request.id) else {
            return ImportResponse(imported: nil, diagnostics: [.error("no monitor named \"\(request.id)\" in \(engine.dataDirectory)",
                                                                       detail: "list them with `mlinfra monitors list`", address: request.address)])
        }
        var attributes: [String: Value] = ["reference": .string(m.reference), "window": .string(DurationText.format(seconds: m.window)),
                                           "drift_share": .number(m.driftShare)]
        switch m.source {
        case .endpoint(let e): attributes["endpoint"] = .string(e)
        case .dataset(let d): attributes["dataset"] = .string(d)
        }
        if let s = m.schedule { attributes["schedule"] = .string(s) }
        if !m.checks.isEmpty {
            attributes["checks"] = .list(m.checks.map { c in
                var v: [String: Value] = ["feature": .string(c.feature)]
                if let method = c.method { v["method"] = .string(method.rawValue) }
                if let t = c.threshold { v["threshold"] = .number(t) }
                return .map(v)
            })
        }
        if let a = m.alert {
            var v: [String: Value] = [:]
            if let w = a.webhook { v["webhook"] = .string(w) }
            if let t = a.token { v["token"] = .string(t) }
            attributes["alert"] = .map(v)
        }
        attributes.merge(try Self.computed(engine: engine, name: m.name)) { _, new in new }
        return ImportResponse(imported: ResourceObject(id: m.name, attributes: attributes))
    }
}
