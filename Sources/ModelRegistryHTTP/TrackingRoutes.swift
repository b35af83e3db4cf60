import Foundation
import Hummingbird
import MLInfraJSON
import ModelRegistry

/// The tracking subset of the MLflow REST API (`/api/2.0/mlflow/experiments|runs|metrics|logged-models/…`)
/// that MLflow 3's client calls from a training script: experiments, runs with params, metrics and
/// tags, metric history, and logged models. Ids are strings on the wire, times milliseconds.
struct TrackingRoutes {
    let registry: ModelRegistry

    func add(to router: Router<BasicRequestContext>) {
        let base = "/api/2.0/mlflow"
        let routes: [(HTTPRequest.Method, String, @Sendable (Parameters, ChangeContext) throws -> JSONValue)] = [
            (.post, "experiments/create", createExperiment),
            (.get, "experiments/get", getExperiment),
            (.get, "experiments/get-by-name", getExperimentByName),
            (.post, "experiments/search", searchExperiments),
            (.get, "experiments/search", searchExperiments),
            (.post, "experiments/update", updateExperiment),
            (.post, "experiments/delete", deleteExperiment),
            (.post, "experiments/restore", restoreExperiment),
            (.post, "experiments/set-experiment-tag", setExperimentTag),
            (.post, "experiments/delete-experiment-tag", deleteExperimentTag),
            (.post, "runs/create", createRun),
            (.get, "runs/get", getRun),
            (.post, "runs/update", updateRun),
            (.post, "runs/delete", deleteRun),
            (.post, "runs/restore", restoreRun),
            (.post, "runs/log-metric", logMetric),
            (.post, "runs/log-parameter", logParam),
            (.post, "runs/set-tag", setTag),
            (.post, "runs/delete-tag", deleteTag),
            (.post, "runs/log-batch", logBatch),
            (.post, "runs/search", searchRuns),
            (.post, "runs/outputs", logOutputs),
            (.get, "metrics/get-history", metricHistory),
            (.post, "logged-models", createLoggedModel),
            (.post, "logged-models/search", searchLoggedModels),
            (.get, "logged-models/:model_id", getLoggedModel),
            (.patch, "logged-models/:model_id", finalizeLoggedModel),
            (.patch, "logged-models/:model_id/tags", setLoggedModelTags),
            (.delete, "logged-models/:model_id/tags/:tag_key", deleteLoggedModelTag),
            (.post, "logged-models/:model_id/params", logLoggedModelParams),
        ]
        for (method, path, handler) in routes { MLflowRoutes.route(router, method, "\(base)/\(path)", handler) }
        // The rest of MLflow's API (datasets, traces, prompts, the gateway, …) answers in MLflow's
        // error shape, so the client raises an error that says what is missing.
        for prefix in ["/api/2.0/mlflow/**", "/api/3.0/mlflow/**"] {
            for method in [HTTPRequest.Method.get, .post, .patch, .delete, .put] {
                router.on(RouterPath(prefix), method: method) { request, _ in
                    HTTPSupport.json(
                        [
                            "error_code": "ENDPOINT_NOT_FOUND",
                            "message": .string(
                                "\(request.method) \(request.uri.path) is not served by mlinfra's registry: it serves MLflow's model registry, "
                                    + "experiments, runs, metrics, logged models and the artifact proxy (docs/decisions/mlflow-tracking.md)"),
                        ], status: .notFound)
                }
            }
        }
    }

    // MARK: - Experiments

    func createExperiment(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let location = p.string("artifact_location").flatMap { $0.isEmpty ? nil : $0 }
        let experiment = try registry.createExperiment(try p.requireString("name"), artifactLocation: location, tags: try p.tags())
        return ["experiment_id": .string(String(experiment.id))]
    }

    func getExperiment(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        ["experiment": Self.experimentJSON(try requireExperiment(p))]
    }

    func getExperimentByName(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let name = try p.requireString("experiment_name")
        guard let experiment = try registry.experiment(named: name) else {
            throw RegistryError(.trackingNotFound, "experiment '\(name)' does not exist", remedy: "Create it first.", field: "experiment_name")
        }
        return ["experiment": Self.experimentJSON(experiment)]
    }

    func searchExperiments(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let filter = try SearchFilter(parsing: p.string("filter") ?? "", keys: ["name", "creation_time", "last_update_time"])
        let view = try Self.viewType(p, "view_type")
        var found = try registry.experiments().filter { e in
            view.includes(deleted: e.deleted) && filter.matches { key in
                switch key {
                case "name": e.name
                case "creation_time": String(e.createdAt)
                case "last_update_time": String(e.updatedAt)
                default: key.hasPrefix("tags.") ? e.tags[String(key.dropFirst(5))] : nil
                }
            }
        }
        found = try SearchOrder(p.strings("order_by"), allowed: ["name", "experiment_id", "creation_time", "last_update_time"])
            .sorted(found, default: [("creation_time", false), ("experiment_id", false)]) { e, key in
                switch key {
                case "name": .string(e.name)
                case "creation_time": .int(Int(e.createdAt))
                case "last_update_time": .int(Int(e.updatedAt))
                default: .int(Int(e.id))
                }
            }
        let (page, next) = try Pagination.page(found, p, defaultMax: 1000)
        var body: [String: JSONValue] = ["experiments": .array(page.map(Self.experimentJSON))]
        if let next { body["next_page_token"] = .string(next) }
        return .object(body)
    }

    func updateExperiment(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.updateExperiment(try experimentID(p), name: try p.requireString("new_name"))
        return [:]
    }

    func deleteExperiment(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.updateExperiment(try experimentID(p), deleted: true)
        return [:]
    }

    func restoreExperiment(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.updateExperiment(try experimentID(p), deleted: false)
        return [:]
    }

    func setExperimentTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try changeExperimentTag(p, to: p.string("value") ?? "")
    }

    func deleteExperimentTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try changeExperimentTag(p, to: nil)
    }

    private func changeExperimentTag(_ p: Parameters, to value: String?) throws -> JSONValue {
        var tags = try requireExperiment(p).tags
        tags[try p.requireString("key")] = value
        try registry.updateExperiment(try experimentID(p), tags: tags)
        return [:]
    }

    // MARK: - Runs

    func createRun(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let experiment = p.string("experiment_id").flatMap { $0.isEmpty ? nil : $0 } ?? "0"
        let run = try registry.createRun(
            experimentID: try Self.experimentID(experiment), name: p.string("run_name"), userID: p.string("user_id") ?? context.actor,
            startTime: try p.int("start_time").map(Int64.init), tags: try p.tags())
        return ["run": Self.runJSON(run)]
    }

    func getRun(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        ["run": Self.runJSON(try requireRun(p))]
    }

    func updateRun(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let status = p.string("status").flatMap { $0.isEmpty ? nil : $0 }
        let run = try registry.updateRun(
            try runID(p), status: status, endTime: try p.int("end_time").map(Int64.init), name: p.string("run_name"))
        return ["run_info": Self.runInfoJSON(run)]
    }

    func deleteRun(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.updateRun(try runID(p), deleted: true)
        return [:]
    }

    func restoreRun(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.updateRun(try runID(p), deleted: false)
        return [:]
    }

    func logMetric(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let metric = try Self.metric(p.values, field: "")
        try registry.logBatch(run: try runID(p), metrics: [metric])
        return [:]
    }

    func logParam(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.logBatch(run: try runID(p), params: [try p.requireString("key"): p.string("value") ?? ""])
        return [:]
    }

    func setTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.logBatch(run: try runID(p), tags: [try p.requireString("key"): p.string("value") ?? ""])
        return [:]
    }

    func deleteTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.logBatch(run: try runID(p), removingTags: [try p.requireString("key")])
        return [:]
    }

    func logBatch(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let metrics = try Self.list(p, "metrics").enumerated().map { i, item in
            guard case .object(let fields) = item else { throw RegistryError.invalid("metrics", "metrics[\(i)] must be an object {key, value, timestamp, step}") }
            return try Self.metric(fields, field: "metrics[\(i)].")
        }
        try registry.logBatch(run: try runID(p), metrics: metrics, params: try p.tags("params"), tags: try p.tags())
        return [:]
    }

    func logOutputs(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let models = try Self.list(p, "models").enumerated().map { i, item in
            guard let id = item["model_id"]?.stringValue, !id.isEmpty else {
                throw RegistryError.invalid("models", "models[\(i)] needs a model_id")
            }
            return id
        }
        try registry.logOutputs(run: try runID(p), models: models)
        return [:]
    }

    /// Runs of the experiments matching `filter`: attributes (`status`, `run_name`, `run_id`,
    /// `start_time`, `end_time`, `user_id`), `metrics.KEY` (the latest value), `params.KEY`, `tags.KEY`.
    func searchRuns(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let ids = try p.strings("experiment_ids").map(Self.experimentID)
        let filter = try SearchFilter(
            parsing: p.string("filter") ?? "", keys: ["status", "run_name", "run_id", "start_time", "end_time", "user_id"],
            prefixes: ["metrics.", "params."])
        let view = try Self.viewType(p, "run_view_type")
        var runs = try registry.runs(inExperiments: ids).filter { run in
            view.includes(deleted: run.deleted) && filter.matches { Self.value(of: run, key: $0)?.stringValue }
        }
        let orders = p.strings("order_by").map { clause in
            clause.replacingOccurrences(of: "attributes.", with: "").replacingOccurrences(of: "attribute.", with: "")
        }
        let orderable = Set(["status", "run_name", "run_id", "start_time", "end_time", "user_id"])
        let keys = Set(orders.compactMap { $0.split(separator: " ").first.map(String.init) })
            .filter { orderable.contains($0) || $0.hasPrefix("metrics.") || $0.hasPrefix("params.") || $0.hasPrefix("tags.") }
        runs = try SearchOrder(orders, allowed: orderable.union(keys))
            .sorted(runs, default: [("start_time", false), ("run_id", true)]) { run, key in Self.value(of: run, key: key) ?? .null }
        let (page, next) = try Pagination.page(runs, p, defaultMax: 1000)
        var body: [String: JSONValue] = ["runs": .array(page.map(Self.runJSON))]
        if let next { body["next_page_token"] = .string(next) }
        return .object(body)
    }

    func metricHistory(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let points = try registry.metricHistory(run: try runID(p), key: try p.requireString("metric_key"))
        let (page, next) = try Pagination.page(points, p, defaultMax: 25_000)
        var body: [String: JSONValue] = ["metrics": .array(page.map(Self.metricJSON))]
        if let next { body["next_page_token"] = .string(next) }
        return .object(body)
    }

    // MARK: - Logged models

    func createLoggedModel(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let model = try registry.createLoggedModel(
            experimentID: try experimentID(p), name: p.string("name"), sourceRunID: p.string("source_run_id").flatMap { $0.isEmpty ? nil : $0 },
            modelType: p.string("model_type") ?? "", params: try p.tags("params"), tags: try p.tags())
        return ["model": Self.loggedModelJSON(model)]
    }

    func getLoggedModel(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let id = try p.requireString("model_id")
        guard let model = try registry.loggedModel(id) else { throw ModelRegistry.loggedModelNotFound(id) }
        return ["model": Self.loggedModelJSON(model)]
    }

    func finalizeLoggedModel(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let model = try registry.updateLoggedModel(try p.requireString("model_id"), status: try p.requireString("status"))
        return ["model": Self.loggedModelJSON(model)]
    }

    func setLoggedModelTags(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.updateLoggedModel(try p.requireString("model_id"), settingTags: try p.tags())
        return [:]
    }

    func deleteLoggedModelTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.updateLoggedModel(try p.requireString("model_id"), removingTag: try p.requireString("tag_key"))
        return [:]
    }

    func logLoggedModelParams(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.updateLoggedModel(try p.requireString("model_id"), settingParams: try p.tags("params"))
        return [:]
    }

    /// Logged models of the experiments matching `filter` (`name`, `source_run_id`, `status`,
    /// `model_type`, `tags.KEY`, `params.KEY`).
    func searchLoggedModels(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let ids = try p.strings("experiment_ids").map(Self.experimentID)
        let filter = try SearchFilter(
            parsing: p.string("filter") ?? "", keys: ["name", "source_run_id", "status", "model_type", "model_id"], prefixes: ["params."])
        let found = try registry.loggedModels(inExperiments: ids).filter { m in
            filter.matches { key in
                switch key {
                case "name": m.name
                case "source_run_id": m.sourceRunID
                case "status": m.status
                case "model_type": m.modelType
                case "model_id": m.id
                default:
                    key.hasPrefix("tags.") ? m.tags[String(key.dropFirst(5))]
                        : key.hasPrefix("params.") ? m.params[String(key.dropFirst(7))] : nil
                }
            }
        }
        let (page, next) = try Pagination.page(found, p, defaultMax: 100)
        var body: [String: JSONValue] = ["models": .array(page.map(Self.loggedModelJSON))]
        if let next { body["next_page_token"] = .string(next) }
        return .object(body)
    }

    // MARK: - Requests

    private func experimentID(_ p: Parameters) throws -> Int64 { try Self.experimentID(try p.requireString("experiment_id")) }

    private func requireExperiment(_ p: Parameters) throws -> Experiment {
        let id = try experimentID(p)
        guard let experiment = try registry.experiment(id: id) else {
            throw RegistryError(.trackingNotFound, "experiment \(id) does not exist", remedy: "Check the experiment id.", field: "experiment_id")
        }
        return experiment
    }

    /// `run_id`, or the older `run_uuid` some clients still send.
    private func runID(_ p: Parameters) throws -> String {
        if let id = p.string("run_id"), !id.isEmpty { return id }
        if let id = p.string("run_uuid"), !id.isEmpty { return id }
        throw RegistryError.invalid("run_id", "missing value for required parameter 'run_id'")
    }

    private func requireRun(_ p: Parameters) throws -> TrackedRun {
        let id = try runID(p)
        guard let run = try registry.run(id) else {
            throw RegistryError(.trackingNotFound, "run '\(id)' does not exist", remedy: "Check the run id.", field: "run_id")
        }
        return run
    }

    /// An experiment id as the wire carries it (a string of digits).
    static func experimentID(_ text: String) throws -> Int64 {
        guard let id = Int64(text) else {
            throw RegistryError.invalid("experiment_id", "experiment_id must be a number, got '\(text)'", remedy: "Use the id experiments/create returned.")
        }
        return id
    }

    /// Which of active and deleted objects a search returns (`ACTIVE_ONLY` by default).
    enum ViewType {
        case active, deleted, all

        func includes(deleted isDeleted: Bool) -> Bool {
            switch self {
            case .active: !isDeleted
            case .deleted: isDeleted
            case .all: true
            }
        }
    }

    static func viewType(_ p: Parameters, _ key: String) throws -> ViewType {
        switch p.string(key) ?? "" {
        case "", "ACTIVE_ONLY", "1": .active
        case "DELETED_ONLY", "2": .deleted
        case "ALL", "3": .all
        case let other:
            throw RegistryError.invalid(key, "unknown \(key) '\(other)'", remedy: "Use ACTIVE_ONLY, DELETED_ONLY or ALL.")
        }
    }

    static func list(_ p: Parameters, _ key: String) throws -> [JSONValue] {
        switch p.values[key] {
        case nil, .null?: return []
        case .array(let items)?: return items
        default: throw RegistryError.invalid(key, "'\(key)' must be a list")
        }
    }

    /// A metric point from `{key, value, timestamp, step}`; `field` prefixes the names in errors.
    static func metric(_ fields: [String: JSONValue], field: String) throws -> MetricPoint {
        guard let key = fields["key"]?.stringValue, !key.isEmpty else {
            throw RegistryError.invalid("\(field)key", "missing value for required parameter '\(field)key'")
        }
        let value: Double
        switch fields["value"] {
        case .double(let d)?: value = d
        case .int(let i)?: value = Double(i)
        case .string(let s)?:
            guard let d = Double(s) else { throw RegistryError.invalid("\(field)value", "metric '\(key)' has the value '\(s)', not a number") }
            value = d
        default: throw RegistryError.invalid("\(field)value", "metric '\(key)' needs a numeric value")
        }
        func integer(_ name: String) throws -> Int64? {
            guard let v = fields[name], v != .null else { return nil }
            guard let text = v.stringValue, let n = Int64(text) else {
                throw RegistryError.invalid("\(field)\(name)", "'\(field)\(name)' must be an integer")
            }
            return n
        }
        guard let timestamp = try integer("timestamp") else {
            throw RegistryError.invalid("\(field)timestamp", "metric '\(key)' needs a timestamp (milliseconds since 1970)")
        }
        return MetricPoint(key: key, value: value, timestamp: timestamp, step: try integer("step") ?? 0)
    }

    // MARK: - Shapes

    static func experimentJSON(_ e: Experiment) -> JSONValue {
        [
            "experiment_id": .string(String(e.id)),
            "name": .string(e.name),
            "artifact_location": .string(e.artifactLocation),
            "lifecycle_stage": .string(e.deleted ? "deleted" : "active"),
            "creation_time": .int(Int(e.createdAt)),
            "last_update_time": .int(Int(e.updatedAt)),
            "tags": MLflowRoutes.tagsJSON(e.tags),
        ]
    }

    static func runInfoJSON(_ r: TrackedRun) -> JSONValue {
        var info: [String: JSONValue] = [
            "run_id": .string(r.id),
            "run_uuid": .string(r.id),
            "run_name": .string(r.name),
            "experiment_id": .string(String(r.experimentID)),
            "user_id": .string(r.userID),
            "status": .string(r.status),
            "start_time": .int(Int(r.startTime)),
            "artifact_uri": .string(r.artifactURI),
            "lifecycle_stage": .string(r.deleted ? "deleted" : "active"),
        ]
        if let end = r.endTime { info["end_time"] = .int(Int(end)) }
        return .object(info)
    }

    static func runJSON(_ r: TrackedRun) -> JSONValue {
        [
            "info": runInfoJSON(r),
            "data": [
                "metrics": .array(r.latestMetrics.map(metricJSON)),
                "params": MLflowRoutes.tagsJSON(r.params),
                "tags": MLflowRoutes.tagsJSON(r.tags),
            ],
            "inputs": [:],
            "outputs": ["model_outputs": .array(r.outputs.map { ["model_id": .string($0), "step": .int(0)] })],
        ]
    }

    static func metricJSON(_ m: MetricPoint) -> JSONValue {
        ["key": .string(m.key), "value": .double(m.value), "timestamp": .int(Int(m.timestamp)), "step": .int(Int(m.step))]
    }

    static func loggedModelJSON(_ m: LoggedModel) -> JSONValue {
        var info: [String: JSONValue] = [
            "model_id": .string(m.id),
            "experiment_id": .string(String(m.experimentID)),
            "name": .string(m.name),
            "creation_timestamp_ms": .int(Int(m.createdAt)),
            "last_updated_timestamp_ms": .int(Int(m.updatedAt)),
            "artifact_uri": .string(m.artifactLocation),
            "status": .string(m.status),
            "model_type": .string(m.modelType),
            "tags": MLflowRoutes.tagsJSON(m.tags),
        ]
        if let run = m.sourceRunID { info["source_run_id"] = .string(run) }
        return ["info": .object(info), "data": ["params": MLflowRoutes.tagsJSON(m.params), "metrics": .array([])]]
    }

    /// A run's value for a search or order key (nil: the run has none).
    static func value(of run: TrackedRun, key: String) -> JSONValue? {
        switch key {
        case "status": return .string(run.status)
        case "run_name": return .string(run.name)
        case "run_id": return .string(run.id)
        case "user_id": return .string(run.userID)
        case "start_time": return .int(Int(run.startTime))
        case "end_time": return run.endTime.map { .int(Int($0)) }
        default:
            if key.hasPrefix("metrics.") {
                return run.latestMetrics.first { $0.key == key.dropFirst(8) }.map { .double($0.value) }
            }
            if key.hasPrefix("params.") { return run.params[String(key.dropFirst(7))].map(JSONValue.string) }
            if key.hasPrefix("tags.") { return run.tags[String(key.dropFirst(5))].map(JSONValue.string) }
            return nil
        }
    }
}
