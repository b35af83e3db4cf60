import Foundation
import Synchronization
import MLInfraCore
import MLInfraJSON
import VectorIndex

/// The built-in provider for `vector_store` and `vector_collection`: collections in the
/// VectorIndex engine's files under `<data_dir>/vectors/<store>/` (`kind: local`, the default),
/// or tables in PostgreSQL with pgvector (`kind: pgvector, url: …`), behind one `CollectionStore`.
///
/// Ids: `vector_store.NAME` → `NAME` (local) or `pgvector:NAME` (the schema NAME); a
/// `vector_collection` → `STORE_ID/NAME`. A pgvector store's URL is sensitive: it is learnt from
/// the store's config when the spec is validated or planned (in dependency order, so before the
/// collections that name the store) and kept in memory only; state holds its HMAC.
/// Changing a collection's `dimension` or `metric` replaces it (the plan warns that its records
/// will be dropped; `prevent_destroy` guards it); changing `hnsw.ef_search` or `ivfflat.probes`
/// updates it in place; changing `hnsw.m`, `hnsw.ef_construction`, `ivfflat.lists` or `index`
/// rebuilds its index in place, keeping the records.
public struct VectorProvider: Provider {
    private let state = ProviderState()

    public init() {}

    public func schema() async throws -> ProviderSchema {
        ProviderSchema(
            name: "local", version: MLInfraVersion.current,
            config: [
                "data_dir": AttributeSchema(.string, description: "Where the local engines keep their data (default .mlinfra, relative to the spec)")
            ],
            resourceTypes: [
                "vector_store": ResourceSchema(
                    description: "A vector database: a directory of collections (SQLite records, HNSW index files), or a PostgreSQL schema of pgvector tables",
                    attributes: [
                        "name": AttributeSchema(.string, forceNew: true, description: "Store name; defaults to the resource name (for pgvector, the schema)"),
                        "kind": AttributeSchema(
                            .string, forceNew: true, allowed: StoreKind.allCases.map(\.rawValue),
                            description: "local (default): files under data_dir; pgvector: tables in the PostgreSQL database at url"),
                        "url": AttributeSchema(
                            .string, sensitive: true,
                            description: "pgvector only: postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=…]; never shown, stored as a hash"),
                        "id": .computed(.string, description: "The store name (pgvector:NAME for a pgvector store)"),
                        "path": .computed(.string, description: "The store's directory, or its database (without the password) and schema"),
                    ]),
                "vector_collection": ResourceSchema(
                    description: "A collection of vectors with metadata, searched by k-NN (HNSW, IVFFlat on pgvector, or exact)",
                    attributes: [
                        "store": AttributeSchema(.string, required: true, forceNew: true, referenceType: "vector_store", description: "The vector_store holding it"),
                        "name": AttributeSchema(.string, forceNew: true, description: "Collection name; defaults to the resource name (for pgvector, the table)"),
                        "dimension": AttributeSchema(.int, required: true, forceNew: true, description: "Vector length; changing it replaces the collection and drops its records"),
                        "metric": AttributeSchema(.string, forceNew: true, allowed: Metric.allCases.map(\.rawValue), description: "l2 (default), cosine or ip; changing it replaces the collection and drops its records"),
                        "index": AttributeSchema(.string, allowed: ["hnsw", "exact", "ivfflat"], description: "hnsw (default), exact, or ivfflat (pgvector only); changing it rebuilds in place"),
                        "hnsw": AttributeSchema(.object([
                            "m": AttributeSchema(.int, description: "Links per node (default 16); changing it rebuilds the graph, keeping records"),
                            "ef_construction": AttributeSchema(.int, description: "Build-time candidate list (default 200); changing it rebuilds the graph"),
                            "ef_search": AttributeSchema(.int, description: "Default query-time candidate list (default 64); updated in place"),
                        ]), description: "HNSW settings"),
                        "ivfflat": AttributeSchema(.object([
                            "lists": AttributeSchema(.int, description: "Clusters (default 100); changing it rebuilds the index, keeping records"),
                            "probes": AttributeSchema(.int, description: "Clusters searched per query (default 10); updated in place"),
                        ]), description: "IVFFlat settings (pgvector stores, index: ivfflat)"),
                        "id": .computed(.string, description: "STORE/NAME"),
                    ]),
            ])
    }

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        var dataDir = EngineDataDirectory.defaultName
        if let value = request.config["data_dir"] {
            guard let text = value.stringValue, !text.isEmpty else {
                return ConfigureResponse(diagnostics: [.error("data_dir must be a non-empty string", detail: "Set providers: local: { data_dir: DIR }.")])
            }
            dataDir = text
        }
        if !dataDir.hasPrefix("/") { dataDir = (request.workingDirectory as NSString).appendingPathComponent(dataDir) }
        state.setDataDir(dataDir)
        return ConfigureResponse()
    }

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        switch request.type {
        case "vector_store":
            let (spec, problems) = StoreSpec.read(request.config, address: request.address)
            if let spec, case .pgvector(let url) = spec.location { state.learn(store: spec.name, url: url) }
            return ValidateResponse(diagnostics: problems)
        case "vector_collection":
            return ValidateResponse(diagnostics: CollectionSpec.problems(request.config))
        default:
            return ValidateResponse(diagnostics: [AttributeDiagnostic(.error("unknown resource type \(request.type)", detail: "The vector provider manages vector_store and vector_collection."))])
        }
    }

    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 128 && name.first != "."
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
    }

    static func objectName(_ config: [String: Value], address: String) -> String {
        config["name"]?.stringValue ?? ResourceAddress(parsing: address)?.objectName ?? address
    }

    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        switch request.type {
        case "vector_store":
            let (spec, problems) = StoreSpec.read(request.proposed, address: request.address)
            guard let spec, !problems.contains(where: { $0.diagnostic.severity == .error }) else {
                return PlanResponse(planned: request.proposed, diagnostics: problems)
            }
            if case .pgvector(let url) = spec.location { state.learn(store: spec.name, url: url) }
            return PlanResponse(planned: storeAttributes(spec, config: request.proposed))
        case "vector_collection":
            var problems = CollectionSpec.problems(request.proposed).filter { $0.diagnostic.severity == .error }
            let spec = CollectionSpec(request.proposed, address: request.address)
            if spec.index == "ivfflat", let store = spec.store, !StoreID(store).isPgvector {
                problems.append(AttributeDiagnostic(attribute: "index", .error(
                    "index ivfflat needs a pgvector store; \(store) is a local store",
                    detail: "Use index: hnsw or exact, or put the collection in a vector_store with kind: pgvector.")))
            }
            if !problems.isEmpty { return PlanResponse(planned: request.proposed, diagnostics: problems) }
            var planned = spec.attributes
            var replace: [String] = []
            var diagnostics: [AttributeDiagnostic] = []
            if let prior = request.prior {
                let old = CollectionSpec(prior.attributes, address: request.address)
                let records = await recordCount(prior.id)
                let dropped = records.map { "its \($0) record\($0 == 1 ? "" : "s")" } ?? "its records"
                for (attribute, before, after) in [
                    ("dimension", old.dimension.map(String.init), spec.dimension.map(String.init)),
                    ("metric", old.metric, spec.metric),
                ] where before != nil && after != nil && before != after {
                    replace.append(attribute)
                    diagnostics.append(AttributeDiagnostic(attribute: attribute, .warning(
                        "changing \(attribute) from \(before!) to \(after!) replaces vector collection \(prior.id): \(dropped) will be dropped",
                        detail: "Vectors of another \(attribute) cannot be carried over. Re-upsert them after apply, or keep the old collection and add a new one; lifecycle.prevent_destroy blocks this change.",
                        address: request.address)))
                }
                if replace.isEmpty, let before = old.config, let after = spec.config, after.rebuildsIndex(from: before) {
                    let pgvector = StoreID(spec.store ?? "").isPgvector
                    diagnostics.append(AttributeDiagnostic(attribute: spec.index == "ivfflat" || old.index == "ivfflat" ? "ivfflat" : "hnsw", .warning(
                        "vector collection \(prior.id) will rebuild its index in place (\(records.map { "\($0) records kept" } ?? "records kept"))",
                        detail: pgvector
                            ? "Changing m, ef_construction, lists or index builds the new index with CREATE INDEX CONCURRENTLY beside the old one, then swaps them; reads and writes go on meanwhile."
                            : "Changing m, ef_construction or index rebuilds the graph from the stored records; queries wait while it builds.",
                        address: request.address)))
                }
                if replace.isEmpty { planned["id"] = .string(prior.id) }
            }
            return PlanResponse(planned: planned, requiresReplace: replace, diagnostics: diagnostics)
        default:
            throw ProviderError(provider: "local", message: "unknown resource type \(request.type)")
        }
    }

    /// A store's attributes; a pgvector store's `url` is passed through as given (core stores its HMAC).
    /// A local store has `kind` only when the spec writes it, so stores made before there were
    /// kinds read back unchanged.
    private func storeAttributes(_ spec: StoreSpec, config: [String: Value]) -> [String: Value] {
        var out: [String: Value] = ["name": .string(spec.name), "kind": .string(spec.kind.rawValue)]
        switch spec.location {
        case .local:
            out["kind"] = config["kind"]
            out["id"] = .string(spec.name)
            out["path"] = .string(VectorStore.directory(dataDir: state.dataDir, store: spec.name))
        case .pgvector(let url):
            out["id"] = .string(StoreID.pgvector(spec.name))
            out["path"] = .string("\(url.parsed) (schema \(spec.name))")
            out["url"] = config["url"]
        case .unknownURL:
            out["id"] = .string(StoreID.pgvector(spec.name))
            out["path"] = .unknown
            out["url"] = config["url"]
        }
        return out
    }

    private func recordCount(_ id: String) async -> Int? {
        guard let (store, name) = CollectionSpec.split(id),
            let target = try? state.collectionStore(StoreID(store), mustExist: true),
            let info = try? await target.info(name)
        else { return nil }
        return info.count
    }

    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        do {
            switch (request.type, request.action) {
            case ("vector_store", .create), ("vector_store", .update):
                let (spec, problems) = StoreSpec.read(request.config, address: request.address)
                guard let spec, !problems.contains(where: { $0.diagnostic.severity == .error }) else {
                    return ApplyResponse(new: nil, diagnostics: problems.map(\.diagnostic))
                }
                switch spec.location {
                case .local:
                    _ = try state.collectionStore(StoreID(spec.name), mustExist: false)
                case .pgvector(let url):
                    state.learn(store: spec.name, url: url)
                    try await state.pgvectorStore(StoreID(StoreID.pgvector(spec.name))).prepare()
                case .unknownURL:
                    return ApplyResponse(new: nil, diagnostics: [.error("vector store \(request.address) has no url yet", address: request.address)])
                }
                let attributes = storeAttributes(spec, config: request.config)
                return ApplyResponse(new: ResourceObject(id: attributes["id"]?.stringValue ?? spec.name, attributes: attributes))
            case ("vector_store", .delete):
                guard let prior = request.prior else { return ApplyResponse(new: nil) }
                let id = StoreID(prior.id)
                if id.isPgvector {
                    try await state.pgvectorStore(id).dropStore()
                } else {
                    let dir = VectorStore.directory(dataDir: state.dataDir, store: prior.id)
                    state.forget(dir)
                    try? FileManager.default.removeItem(atPath: dir)
                }
                return ApplyResponse(new: nil)
            case ("vector_collection", .create), ("vector_collection", .update):
                let spec = CollectionSpec(request.config, address: request.address)
                guard let storeID = spec.store, let config = spec.config,
                    let store = try state.collectionStore(StoreID(storeID), mustExist: false)
                else {
                    return ApplyResponse(new: nil, diagnostics: [.error("vector collection \(request.address) has an incomplete configuration", address: request.address)])
                }
                try await store.ensureCollection(spec.name, config: config)
                try await store.flush()
                return ApplyResponse(new: ResourceObject(id: "\(storeID)/\(spec.name)", attributes: spec.attributes))
            case ("vector_collection", .delete):
                guard let prior = request.prior, let (storeID, name) = CollectionSpec.split(prior.id),
                    let store = try state.collectionStore(StoreID(storeID), mustExist: true)
                else { return ApplyResponse(new: nil) }
                if (try? await store.info(name)) != nil { try await store.dropCollection(name) }
                return ApplyResponse(new: nil)
            default:
                throw ProviderError(provider: "local", message: "unknown resource type \(request.type)")
            }
        } catch let error as VectorError {
            return ApplyResponse(new: request.prior, diagnostics: [.error("\(request.address): \(error.description)", address: request.address)])
        }
    }

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        do {
            return ReadResponse(current: try await lookup(type: request.type, id: request.id, prior: request.prior))
        } catch let error as VectorError {
            return ReadResponse(current: request.prior, diagnostics: [.error("\(request.address): \(error.description)", address: request.address)])
        }
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        let found: ResourceObject?
        do {
            found = try await lookup(type: request.type, id: request.id, prior: nil)
        } catch let error as VectorError {
            return ImportResponse(imported: nil, diagnostics: [.error("\(request.address): \(error.description)", address: request.address)])
        }
        guard let found else {
            let pgvector = StoreID(CollectionSpec.split(request.id)?.0 ?? request.id).isPgvector
            return ImportResponse(imported: nil, diagnostics: [.error(
                "no \(request.type) with id \(Value.string(request.id).rendered) in \(pgvector ? "the pgvector store's database" : "\(state.dataDir)/vectors")",
                detail: request.type == "vector_collection"
                    ? "Collection ids are STORE/NAME (pgvector:SCHEMA/TABLE for a table in PostgreSQL)."
                    : "Store ids are the store name (pgvector:SCHEMA for a pgvector store).",
                address: request.address)])
        }
        return ImportResponse(imported: found)
    }

    private func lookup(type: String, id: String, prior: ResourceObject?) async throws -> ResourceObject? {
        switch type {
        case "vector_store":
            let storeID = StoreID(id)
            guard let store = try state.collectionStore(storeID, mustExist: true) else { return nil }
            guard let pgvector = store as? PgVectorStore else {
                var attributes: [String: Value] = ["name": .string(id), "id": .string(id), "path": .string(store.location)]
                attributes["kind"] = prior?.attributes["kind"]
                return ResourceObject(id: id, attributes: attributes)
            }
            guard try await pgvector.exists() else { return nil }
            var attributes = prior?.attributes ?? [:]
            attributes["name"] = .string(storeID.name)
            attributes["kind"] = .string(StoreKind.pgvector.rawValue)
            attributes["id"] = .string(id)
            attributes["path"] = .string("\(pgvector.location) (schema \(storeID.name))")
            if let url = state.url(store: storeID.name) { attributes["url"] = .string(url.text) }
            return ResourceObject(id: id, attributes: attributes)
        case "vector_collection":
            guard let (storeID, name) = CollectionSpec.split(id),
                let store = try state.collectionStore(StoreID(storeID), mustExist: true)
            else { return nil }
            let info: CollectionInfo
            do {
                info = try await store.info(name)
            } catch let error as VectorError where error.code == .notFound {
                return nil
            }
            return ResourceObject(id: id, attributes: CollectionSpec(store: storeID, name: name, config: info.config).attributes)
        default:
            throw ProviderError(provider: "local", message: "unknown resource type \(type)")
        }
    }
}

/// The provider's mutable settings, the pgvector URLs it has learnt and its open stores, shared by copies of the struct.
final class ProviderState: Sendable {
    private struct Inner {
        var dataDir = EngineDataDirectory.defaultName
        var stores: [String: any CollectionStore] = [:]
        var urls: [String: StoreURL] = [:]
    }

    private let inner = Mutex(Inner())

    var dataDir: String { inner.withLock { $0.dataDir } }
    func setDataDir(_ dir: String) { inner.withLock { $0.dataDir = dir } }

    /// Remembers a pgvector store's URL (a new URL for the same store reconnects).
    func learn(store name: String, url: StoreURL) {
        inner.withLock {
            if $0.urls[name]?.text != url.text { $0.stores[StoreID.pgvector(name)] = nil }
            $0.urls[name] = url
        }
    }

    func url(store name: String) -> StoreURL? { inner.withLock { $0.urls[name] } }

    /// The store an id names: a local directory under the data directory, or a pgvector schema
    /// whose URL was learnt. nil when `mustExist` and a local store has no files. A pgvector store
    /// whose URL this process has not seen is refused: its records cannot be reached without it.
    func collectionStore(_ id: StoreID, mustExist: Bool) throws -> (any CollectionStore)? {
        if id.isPgvector { return try pgvectorStore(id) }
        return try inner.withLock { state -> (any CollectionStore)? in
            let directory = VectorStore.directory(dataDir: state.dataDir, store: id.name)
            if let open = state.stores[directory] { return open }
            if mustExist && !FileManager.default.fileExists(atPath: directory + "/vectors.sqlite") { return nil }
            let store = try VectorStore(directory: directory)
            state.stores[directory] = store
            return store
        }
    }

    func pgvectorStore(_ id: StoreID) throws -> PgVectorStore {
        try inner.withLock { state in
            if let open = state.stores[id.text] as? PgVectorStore { return open }
            guard let url = state.urls[id.name] else {
                throw VectorError(.storage, field: "store",
                    "vector store \(id.text) is a pgvector store whose url this run has not been given; "
                        + "run mlinfra with the spec that declares vector_store \(id.name) (its url reaches the tables)")
            }
            let store = try url.open(schema: id.name)
            state.stores[id.text] = store
            return store
        }
    }

    func forget(_ directory: String) { inner.withLock { $0.stores[directory] = nil } }
}
