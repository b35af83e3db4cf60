import FeatureStore
import Foundation
import MLInfraCore
import Synchronization

/// The built-in provider for `feature_store`, `entity`, `feature_view` and `feature_service`,
/// backed by the FeatureStore engine under `<data_dir>/features/<store>/`.
///
/// Ids: `feature_store.main` → `main`; entities, views and services → `STORE/NAME`.
public struct FeatureStoreProvider: Provider {
    private struct Settings: Sendable {
        var dataDir = EngineDataDirectory.defaultName
        var workingDirectory = FileManager.default.currentDirectoryPath
    }

    private final class Box: Sendable {
        let settings = Mutex(Settings())
        /// Open stores by directory, so repeated calls reuse one SQLite pool.
        let stores = Mutex([String: LocalFeatureStore]())
        /// The features of each view the spec declares, by view name, as validate saw them. The
        /// core validates a view before the services that name it (the name makes an edge), so
        /// a service's `VIEW:FEATURE` can be checked before anything exists.
        let declaredViews = Mutex([String: [Set<String>]]())
    }

    private let box = Box()

    public init() {}

    // MARK: Schema

    public func schema() async throws -> ProviderSchema {
        Self.providerSchema
    }

    static let storeRef = AttributeSchema(
        .string, required: true, forceNew: true, referenceType: "feature_store", description: "The feature store: ${feature_store.NAME}.")
    static let nameAttr = AttributeSchema(
        .string, computed: true, optional: true, forceNew: true, description: "The object's name in the store; defaults to the resource name.")

    static let providerSchema = ProviderSchema(
        name: "local",
        version: MLInfraVersion.current,
        config: [
            "data_dir": AttributeSchema(.string, description: "Where the local engines keep their files (default .mlinfra).")
        ],
        resourceTypes: [
            "feature_store": ResourceSchema(
                description: "A feature store: definitions and materialization log in SQLite (WAL) or PostgreSQL, online store in SQLite or on Redis.",
                attributes: [
                    "name": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "Store name; defaults to the resource name."),
                    "online": AttributeSchema(
                        .object([
                            "kind": AttributeSchema(.string, allowed: ["sqlite", "redis"], description: "Online store kind: sqlite (default) or redis."),
                            "url": AttributeSchema(
                                .string, sensitive: true,
                                description: "kind redis: redis://[:PASSWORD@]HOST[:PORT][/DB]. Sensitive: never shown, sealed in state."),
                            "namespace": AttributeSchema(
                                .string, description: "kind redis: the keys' prefix, mlinfra:NAMESPACE: (default: the store name)."),
                        ]),
                        description: "Online store settings: { kind: sqlite } or { kind: redis, url: … }. Changing it does not move values; materialize again."),
                    "storage": AttributeSchema(
                        .object([
                            "sqlite": AttributeSchema(.object([:]), description: "store.sqlite in the store's directory (the default)."),
                            "postgres": AttributeSchema(
                                .object([
                                    "url": AttributeSchema(
                                        .string, required: true, sensitive: true,
                                        description: "postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=…]; give it through a sensitive variable."),
                                    "schema": AttributeSchema(.string, description: "The schema of the store's tables; default mlinfra_features."),
                                ]),
                                description: "Definitions and the materialization log in a PostgreSQL schema shared by every machine that names it."),
                        ]),
                        description: "Where definitions, watermarks and run history are kept: { sqlite: {} } (default) or { postgres: { url: … } }. "
                            + "A change copies the definitions to the new place; materialize again for watermarks."),
                    "description": AttributeSchema(.string, description: "Free text."),
                    "id": .computed(.string, description: "The store name."),
                    "path": .computed(.string, description: "The store's directory."),
                ]),
            "entity": ResourceSchema(
                description: "An entity and its join keys.",
                attributes: [
                    "store": storeRef,
                    "name": nameAttr,
                    "join_keys": AttributeSchema(.list(.string), required: true, forceNew: true, description: "Key columns."),
                    "value_type": AttributeSchema(
                        .string, forceNew: true, allowed: ["int64", "int32", "string"], description: "Type of the join keys (default int64)."),
                    "description": AttributeSchema(.string, description: "Free text."),
                    "id": .computed(.string, description: "STORE/NAME."),
                ]),
            "feature_view": ResourceSchema(
                description: "Typed features read from a CSV file or SQLite table, keyed by entities.",
                attributes: [
                    "store": storeRef,
                    "name": nameAttr,
                    "entities": AttributeSchema(
                        .list(.string), required: true, forceNew: true, referenceType: "entity", description: "Entities: [${entity.NAME}, …]."),
                    "source": AttributeSchema(
                        .object([
                            "csv": AttributeSchema(.string, description: "CSV file with a header, relative to the spec."),
                            "sqlite": AttributeSchema(.string, description: "SQLite database file, relative to the spec."),
                            "table": AttributeSchema(.string, description: "Table in the SQLite file."),
                            "timestamp": AttributeSchema(.string, description: "Event-time column (default event_timestamp)."),
                            "created_timestamp": AttributeSchema(.string, description: "Tie-break column: the later-created row wins."),
                        ]),
                        required: true, forceNew: true, description: "Where rows come from."),
                    "features": AttributeSchema(
                        .map(.string), required: true,
                        description: "Feature name → type (int64, int32, float64, float32, string, bool). A type change replaces the view."),
                    "ttl": AttributeSchema(.duration, description: "How old a row may be and still count (0 or unset: no limit)."),
                    "online": AttributeSchema(.bool, description: "Materialize into the online store (default true)."),
                    "description": AttributeSchema(.string, description: "Free text."),
                    "id": .computed(.string, description: "STORE/NAME."),
                ]),
            "feature_service": ResourceSchema(
                description: "A named list of features a model consumes.",
                attributes: [
                    "store": storeRef,
                    "name": nameAttr,
                    "features": AttributeSchema(
                        .list(.string), required: true, namesResource: NameReference(type: "feature_view", separator: ":"),
                        description: "VIEW:FEATURE references."),
                    "description": AttributeSchema(.string, description: "Free text."),
                    "id": .computed(.string, description: "STORE/NAME."),
                ]),
        ]
    )

    // MARK: Configure

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        var dataDir = EngineDataDirectory.defaultName
        if let value = request.config["data_dir"], !value.isNull {
            guard let s = value.stringValue, !s.isEmpty else {
                return ConfigureResponse(diagnostics: [
                    .error("providers.local.data_dir must be a non-empty string", detail: "Set it to a directory, e.g. .mlinfra.")
                ])
            }
            dataDir = s
        }
        box.settings.withLock {
            $0.dataDir = dataDir
            $0.workingDirectory = request.workingDirectory
        }
        return ConfigureResponse()
    }

    /// `<data_dir>/features`, resolved against the working directory.
    var featuresDirectory: String {
        let s = box.settings.withLock { $0 }
        return Self.absolute(s.dataDir, relativeTo: s.workingDirectory) + "/features"
    }

    var workingDirectory: String { box.settings.withLock { $0.workingDirectory } }

    static func absolute(_ path: String, relativeTo dir: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: dir).appendingPathComponent(path).standardizedFileURL.path
    }

    func storeDirectory(_ name: String) -> String { featuresDirectory + "/" + name }

    /// The open store `name`; with `online` or `storage`, one that uses them (and saves them for later opens).
    func openStore(_ name: String, online: OnlineStoreSetting? = nil, storage: CatalogSetting? = nil) throws -> LocalFeatureStore {
        let dir = storeDirectory(name)
        let held = box.stores.withLock { $0[dir] }
        if let held, online == nil || held.onlineSetting == online, storage == nil || held.catalogSetting == storage { return held }
        // Definitions kept elsewhere before: carried to the new place, so the store keeps its views.
        let before = try storage == nil ? nil : (held ?? existingStore(name)).flatMap { $0.catalogSetting == storage ? nil : try $0.definitions() }
        let store = try LocalFeatureStore(directory: dir, online: online, storage: storage)
        if let before { try store.adopt(before) }
        box.stores.withLock { $0[dir] = store }
        return store
    }

    func existingStore(_ name: String) throws -> LocalFeatureStore? {
        guard FileManager.default.fileExists(atPath: storeDirectory(name) + "/store.sqlite") else { return nil }
        return try openStore(name)
    }

    // MARK: Validate

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        var problems: [AttributeDiagnostic] = []
        let c = request.config
        func err(_ attr: String?, _ summary: String, _ detail: String) {
            problems.append(AttributeDiagnostic(attribute: attr, .error(summary, detail: detail, address: request.address)))
        }
        switch request.type {
        case "feature_store":
            if let problem = Convert.onlineProblem(c["online"]) { err(problem.attribute, problem.summary, problem.detail) }
            if let problem = Convert.storageProblem(c["storage"]) { err(problem.attribute, problem.summary, problem.detail) }
        case "entity":
            if let keys = c["join_keys"], !keys.containsUnknown {
                if (keys.listValue ?? []).isEmpty || !(keys.listValue ?? []).allSatisfy({ $0.stringValue?.isEmpty == false }) {
                    err("join_keys", "join_keys must be a non-empty list of column names", "For example: join_keys: [customer_id]")
                }
            }
            if let t = c["value_type"]?.stringValue, ValueType(name: t) == nil {
                err("value_type", "unknown value type '\(t)'", "Use int64, int32 or string.")
            }
        case "feature_view":
            var source: DataSource?
            if let value = c["source"], !value.containsUnknown {
                do { source = try Convert.source(value, workingDirectory: workingDirectory) } catch let e as Convert.Problem {
                    err(e.attribute, e.summary, e.detail)
                }
            }
            var features: [Feature]?
            if let value = c["features"], !value.containsUnknown {
                do { features = try Convert.features(value) } catch let e as Convert.Problem { err(e.attribute, e.summary, e.detail) }
            }
            if let features, c["name"]?.isUnknown != true {
                let name = c["name"]?.stringValue ?? ResourceAddress(parsing: request.address)?.objectName ?? request.address
                box.declaredViews.withLock { $0[name, default: []].append(Set(features.map(\.name))) }
            }
            if let source, case .csv(let path) = source.kind, problems.isEmpty {
                problems += Self.csvProblems(path: path, written: c["source"]?["csv"]?.stringValue ?? path, source: source,
                                             features: features ?? [], address: request.address)
            }
            if let ttl = c["ttl"], !ttl.isUnknown, !ttl.isNull {
                do { _ = try Convert.ttl(ttl) } catch let e as Convert.Problem { err(e.attribute, e.summary, e.detail) }
            }
        case "feature_service":
            if let features = c["features"], !features.containsUnknown {
                do {
                    let references = try Convert.references(features)
                    let declared = box.declaredViews.withLock { $0 }
                    for (i, reference) in references.enumerated() {
                        if let views = declared[reference.view] {
                            if !views.contains(where: { $0.contains(reference.feature) }) {
                                let known = views.reduce(into: Set<String>()) { $0.formUnion($1) }.sorted()
                                err("features.\(i)", "feature view \(reference.view) has no feature \"\(reference.feature)\"",
                                    "Its features: \(known.joined(separator: ", "))." + Suggestions.didYouMean(reference.feature, in: known)
                                        + " Fix the name, or add the feature to the view.")
                            }
                        } else if let store = c["store"]?.stringValue, let problem = engineProblem(reference, store: store) {
                            err("features.\(i)", problem.summary, problem.detail)
                        }
                    }
                } catch let e as Convert.Problem { err(e.attribute, e.summary, e.detail) }
            }
        default:
            err(nil, "unknown resource type \(request.type)", "The local feature store provider manages feature_store, entity, feature_view and feature_service.")
        }
        return ValidateResponse(diagnostics: problems)
    }

    /// A reference to a view the spec does not declare must name one the store already has.
    private func engineProblem(_ reference: FeatureReference, store: String) -> (summary: String, detail: String)? {
        guard let definitions = try? existingStore(store)?.definitions() else {
            return ("feature view \(reference.view) is not declared in the spec",
                    "Declare `feature_view.\(reference.view)` with store ${feature_store.\(store)}, or fix the view's name.")
        }
        guard let view = try? definitions.view(named: reference.view) else {
            let known = definitions.views.keys.sorted()
            return ("feature view \(reference.view) is neither in the spec nor in store \(store)",
                    "Its views: \(known.isEmpty ? "none" : known.joined(separator: ", "))." + Suggestions.didYouMean(reference.view, in: known))
        }
        let names = view.features.map(\.name)
        guard names.contains(reference.feature) else {
            return ("feature view \(reference.view) has no feature \"\(reference.feature)\"",
                    "Its features: \(names.joined(separator: ", "))." + Suggestions.didYouMean(reference.feature, in: names))
        }
        return nil
    }

    /// A CSV source must be there and have the columns the view reads: every feature, the event
    /// time and the created time. (The entities' join keys are checked at materialize, where the
    /// entities are known.)
    static func csvProblems(path: String, written: String, source: DataSource, features: [Feature], address: String) -> [AttributeDiagnostic] {
        let header: [String]
        do {
            header = try CSVFile.header(path: path)
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            return [AttributeDiagnostic(attribute: "source.csv", .error(
                exists ? "cannot read the source \(written)" : "source file not found: \(written)",
                detail: exists ? "\(error)" : "Paths are relative to the spec directory; create the file or fix the path.", address: address))]
        }
        var problems: [AttributeDiagnostic] = []
        func missing(_ column: String, attribute: String, what: String) {
            guard !header.contains(column) else { return }
            problems.append(AttributeDiagnostic(attribute: attribute, .error(
                "\(what) \"\(column)\" is not a column of \(written)",
                detail: "Its columns: \(header.joined(separator: ", "))." + Suggestions.didYouMean(column, in: header)
                    + " Add the column to the file, or fix the name.", address: address)))
        }
        for feature in features { missing(feature.name, attribute: "features.\(feature.name)", what: "feature") }
        missing(source.timestampField, attribute: "source.timestamp", what: "the event-time column")
        if let created = source.createdTimestampField { missing(created, attribute: "source.created_timestamp", what: "the created-time column") }
        return problems
    }

    // MARK: Plan

    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        // A plan of an invalid config reports what validate finds, and plans nothing from it (a
        // service's store is known now, so a view the spec does not declare is checked against the
        // store). A view is the exception: it plans (its id, its replace paths) without its source file;
        // checking the file is validate's part, which the core runs before planning.
        if request.type != "feature_view" {
            let problems = try await validate(ValidateRequest(type: request.type, address: request.address, config: request.proposed)).diagnostics
            if problems.contains(where: { $0.diagnostic.severity == .error }) {
                return PlanResponse(planned: request.proposed, diagnostics: problems)
            }
        }
        var planned = request.proposed
        let objectName = ResourceAddress(parsing: request.address)?.objectName ?? request.address
        if planned["name"] == nil || planned["name"]?.isNull == true { planned["name"] = .string(objectName) }
        let name = planned["name"]!
        switch request.type {
        case "feature_store":
            planned["id"] = name
            if let n = name.stringValue { planned["path"] = .string(storeDirectory(n)) } else { planned["path"] = .unknown }
        default:
            if let store = planned["store"]?.stringValue, let n = name.stringValue {
                planned["id"] = .string("\(store)/\(n)")
            } else {
                planned["id"] = .unknown
            }
        }
        var replace: [String] = []
        if request.type == "feature_view", let prior = request.prior {
            replace = Convert.featureTypeChanges(prior: prior.attributes["features"], proposed: request.proposed["features"])
        }
        return PlanResponse(planned: planned, requiresReplace: replace)
    }

    // MARK: Apply

    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        do {
            switch request.action {
            case .delete:
                guard let prior = request.prior else { return ApplyResponse(new: nil) }
                try delete(type: request.type, id: prior.id)
                return ApplyResponse(new: nil)
            case .create, .update:
                var attrs = request.config
                let objectName = ResourceAddress(parsing: request.address)?.objectName ?? request.address
                if attrs["name"]?.stringValue == nil { attrs["name"] = .string(objectName) }
                let id = try write(type: request.type, attributes: attrs)
                attrs["id"] = .string(id)
                if request.type == "feature_store" { attrs["path"] = .string(storeDirectory(id)) }
                return ApplyResponse(new: ResourceObject(id: id, attributes: attrs))
            }
        } catch let e as Convert.Problem {
            return ApplyResponse(new: nil, diagnostics: [.error(e.summary, detail: e.detail, address: request.address)])
        } catch {
            return ApplyResponse(
                new: nil, diagnostics: [.error("\(request.type) \(request.address) failed", detail: "\(error)", address: request.address)])
        }
    }

    private func write(type: String, attributes a: [String: Value]) throws -> String {
        let name = a["name"]!.stringValue!
        switch type {
        case "feature_store":
            _ = try openStore(name, online: try Convert.online(a["online"], store: name), storage: try Convert.storage(a["storage"]))
            return name
        case "entity":
            let (store, _) = try Convert.storeName(a)
            try openStore(store).apply(try Convert.entity(a))
            return "\(store)/\(name)"
        case "feature_view":
            let (store, _) = try Convert.storeName(a)
            try openStore(store).apply(try Convert.view(a, workingDirectory: workingDirectory))
            return "\(store)/\(name)"
        case "feature_service":
            let (store, _) = try Convert.storeName(a)
            try openStore(store).apply(try Convert.service(a))
            return "\(store)/\(name)"
        default:
            throw Convert.Problem(attribute: nil, summary: "unknown resource type \(type)", detail: "")
        }
    }

    private func delete(type: String, id: String) throws {
        if type == "feature_store" {
            let dir = storeDirectory(id)
            // Values on a server are not in the directory: remove them first.
            if let store = try existingStore(id) { try store.removeOnlineValues() }
            box.stores.withLock { $0[dir] = nil }
            if FileManager.default.fileExists(atPath: dir) { try FileManager.default.removeItem(atPath: dir) }
            return
        }
        let (store, name) = try Convert.splitID(id)
        guard let s = try existingStore(store) else { return }
        let kind: LocalFeatureStore.ObjectKind = type == "entity" ? .entity : type == "feature_view" ? .view : .service
        try s.remove(kind, named: name)
    }

    // MARK: Read and import

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        do {
            guard let current = try current(type: request.type, id: request.id) else { return ReadResponse(current: nil) }
            // Same definition as the prior attributes describe: keep them as written (ttl "2160h" stays).
            if let priorDefinition = try? definition(type: request.type, attributes: request.prior.attributes), priorDefinition == current.definition {
                return ReadResponse(current: request.prior)
            }
            var attrs = current.attributes
            for key in ["store", "name"] where attrs[key] == nil { attrs[key] = request.prior.attributes[key] }
            return ReadResponse(current: ResourceObject(id: request.id, attributes: attrs))
        } catch {
            return ReadResponse(current: request.prior, diagnostics: [.error("reading \(request.address) failed", detail: "\(error)", address: request.address)])
        }
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        do {
            guard let current = try current(type: request.type, id: request.id) else {
                return ImportResponse(
                    imported: nil,
                    diagnostics: [.error("no \(request.type) with id \(request.id)", detail: "Ids are STORE for feature_store and STORE/NAME otherwise.")])
            }
            return ImportResponse(imported: ResourceObject(id: request.id, attributes: current.attributes))
        } catch {
            return ImportResponse(imported: nil, diagnostics: [.error("importing \(request.address) failed", detail: "\(error)")])
        }
    }

    /// A comparable form of a definition (the engine's value, or the store's name).
    enum Definition: Equatable {
        case store(String)
        case entity(Entity)
        case view(FeatureView)
        case service(FeatureService)
    }

    private func definition(type: String, attributes a: [String: Value]) throws -> Definition {
        switch type {
        case "feature_store": return .store(a["name"]?.stringValue ?? "")
        case "entity": return .entity(try Convert.entity(a))
        case "feature_view": return .view(try Convert.view(a, workingDirectory: workingDirectory))
        default: return .service(try Convert.service(a))
        }
    }

    private func current(type: String, id: String) throws -> (definition: Definition, attributes: [String: Value])? {
        if type == "feature_store" {
            guard try existingStore(id) != nil else { return nil }
            return (.store(id), ["name": .string(id), "id": .string(id), "path": .string(storeDirectory(id))])
        }
        let (storeName, name) = try Convert.splitID(id)
        guard let store = try existingStore(storeName) else { return nil }
        let defs = try store.definitions()
        var attrs: [String: Value] = ["store": .string(storeName), "name": .string(name), "id": .string(id)]
        switch type {
        case "entity":
            guard let e = defs.entities[name] else { return nil }
            attrs.merge(Convert.attributes(e, store: storeName)) { _, new in new }
            return (.entity(e), attrs)
        case "feature_view":
            guard let v = defs.views[name] else { return nil }
            attrs.merge(Convert.attributes(v, store: storeName, workingDirectory: workingDirectory)) { _, new in new }
            return (.view(v), attrs)
        case "feature_service":
            guard let s = defs.services[name] else { return nil }
            attrs.merge(Convert.attributes(s)) { _, new in new }
            return (.service(s), attrs)
        default:
            return nil
        }
    }
}
