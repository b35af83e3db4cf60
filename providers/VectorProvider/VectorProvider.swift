import Foundation
import MLInfraCore
import MLInfraJSON
import VectorIndex

/// The built-in provider for `vector_store` and `vector_collection`, backed by
/// the VectorIndex engine under `<data_dir>/vectors/<store>/`.
///
/// Ids: `vector_store.NAME` → `NAME`; `vector_collection` → `STORE/NAME`.
/// Changing a collection's `dimension` or `metric` replaces it (the plan warns
/// that its records will be dropped; `prevent_destroy` guards it); changing
/// `hnsw.ef_search` updates it in place; changing `hnsw.m`,
/// `hnsw.ef_construction` or `index` rebuilds its graph in place, keeping
/// the records.
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
                    description: "A vector database: a directory of collections (SQLite records, HNSW index files)",
                    attributes: [
                        "name": AttributeSchema(.string, forceNew: true, description: "Store name; defaults to the resource name"),
                        "id": .computed(.string, description: "The store name"),
                        "path": .computed(.string, description: "The store's directory"),
                    ]),
                "vector_collection": ResourceSchema(
                    description: "A collection of vectors with metadata, searched by k-NN (HNSW or exact)",
                    attributes: [
                        "store": AttributeSchema(.string, required: true, forceNew: true, referenceType: "vector_store", description: "The vector_store holding it"),
                        "name": AttributeSchema(.string, forceNew: true, description: "Collection name; defaults to the resource name"),
                        "dimension": AttributeSchema(.int, required: true, forceNew: true, description: "Vector length; changing it replaces the collection and drops its records"),
                        "metric": AttributeSchema(.string, forceNew: true, allowed: Metric.allCases.map(\.rawValue), description: "l2 (default), cosine or ip; changing it replaces the collection and drops its records"),
                        "index": AttributeSchema(.string, allowed: ["hnsw", "exact"], description: "hnsw (default) or exact; changing it rebuilds in place"),
                        "hnsw": AttributeSchema(.object([
                            "m": AttributeSchema(.int, description: "Links per node (default 16); changing it rebuilds the graph, keeping records"),
                            "ef_construction": AttributeSchema(.int, description: "Build-time candidate list (default 200); changing it rebuilds the graph"),
                            "ef_search": AttributeSchema(.int, description: "Default query-time candidate list (default 64); updated in place"),
                        ]), description: "HNSW settings"),
                        "id": .computed(.string, description: "STORE/NAME"),
                    ]),
            ])
    }

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        var dataDir = ".mlinfra"
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
            var out: [AttributeDiagnostic] = []
            if let name = request.config["name"], let text = name.stringValue, !Self.validName(text) {
                out.append(AttributeDiagnostic(attribute: "name", .error("invalid store name \(Value.string(text).rendered)", detail: "Use 1-128 letters, digits, '_', '-' or '.'.")))
            }
            return ValidateResponse(diagnostics: out)
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
            let name = Self.objectName(request.proposed, address: request.address)
            return PlanResponse(planned: [
                "name": .string(name), "id": .string(name),
                "path": .string(VectorStore.directory(dataDir: state.dataDir, store: name)),
            ])
        case "vector_collection":
            let problems = CollectionSpec.problems(request.proposed).filter { $0.diagnostic.severity == .error }
            if !problems.isEmpty { return PlanResponse(planned: request.proposed, diagnostics: problems) }
            let spec = CollectionSpec(request.proposed, address: request.address)
            var planned = spec.attributes
            var replace: [String] = []
            var diagnostics: [AttributeDiagnostic] = []
            if let prior = request.prior {
                let old = CollectionSpec(prior.attributes, address: request.address)
                let records = recordCount(prior.id)
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
                if replace.isEmpty && (old.index != spec.index || old.m != spec.m || old.efConstruction != spec.efConstruction) {
                    diagnostics.append(AttributeDiagnostic(attribute: "hnsw", .warning(
                        "vector collection \(prior.id) will rebuild its index in place (\(records.map { "\($0) records kept" } ?? "records kept"))",
                        detail: "Changing m, ef_construction or index rebuilds the graph from the stored records; queries wait while it builds.",
                        address: request.address)))
                }
                if replace.isEmpty { planned["id"] = .string(prior.id) }
            }
            return PlanResponse(planned: planned, requiresReplace: replace, diagnostics: diagnostics)
        default:
            throw ProviderError(provider: "local", message: "unknown resource type \(request.type)")
        }
    }

    private func recordCount(_ id: String) -> Int? {
        guard let (store, name) = CollectionSpec.split(id) else { return nil }
        let dir = VectorStore.directory(dataDir: state.dataDir, store: store)
        guard FileManager.default.fileExists(atPath: dir + "/vectors.sqlite"),
            let s = try? state.store(dir), let info = try? s.info(name)
        else { return nil }
        return info.count
    }

    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        do {
            switch (request.type, request.action) {
            case ("vector_store", .create), ("vector_store", .update):
                let name = Self.objectName(request.config, address: request.address)
                let dir = VectorStore.directory(dataDir: state.dataDir, store: name)
                _ = try state.store(dir)
                return ApplyResponse(new: ResourceObject(id: name, attributes: ["name": .string(name), "id": .string(name), "path": .string(dir)]))
            case ("vector_store", .delete):
                guard let prior = request.prior else { return ApplyResponse(new: nil) }
                let dir = VectorStore.directory(dataDir: state.dataDir, store: prior.id)
                state.forget(dir)
                try? FileManager.default.removeItem(atPath: dir)
                return ApplyResponse(new: nil)
            case ("vector_collection", .create), ("vector_collection", .update):
                let spec = CollectionSpec(request.config, address: request.address)
                guard let storeName = spec.store, let config = spec.config else {
                    return ApplyResponse(new: nil, diagnostics: [.error("vector collection \(request.address) has an incomplete configuration", address: request.address)])
                }
                let store = try state.store(VectorStore.directory(dataDir: state.dataDir, store: storeName))
                try store.createCollection(spec.name, config: config)
                try store.saveIndexes()
                return ApplyResponse(new: ResourceObject(id: "\(storeName)/\(spec.name)", attributes: spec.attributes))
            case ("vector_collection", .delete):
                guard let prior = request.prior, let (storeName, name) = CollectionSpec.split(prior.id) else { return ApplyResponse(new: nil) }
                let dir = VectorStore.directory(dataDir: state.dataDir, store: storeName)
                guard FileManager.default.fileExists(atPath: dir + "/vectors.sqlite") else { return ApplyResponse(new: nil) }
                let store = try state.store(dir)
                if (try? store.info(name)) != nil { try store.dropCollection(name) }
                return ApplyResponse(new: nil)
            default:
                throw ProviderError(provider: "local", message: "unknown resource type \(request.type)")
            }
        } catch let error as VectorError {
            return ApplyResponse(new: request.prior, diagnostics: [.error("\(request.address): \(error.description)", address: request.address)])
        }
    }

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        ReadResponse(current: try lookup(type: request.type, id: request.id))
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        let found = try lookup(type: request.type, id: request.id)
        if found == nil {
            return ImportResponse(imported: nil, diagnostics: [.error(
                "no \(request.type) with id \(Value.string(request.id).rendered) in \(state.dataDir)/vectors",
                detail: request.type == "vector_collection" ? "Collection ids are STORE/NAME." : "Store ids are the store name.",
                address: request.address)])
        }
        return ImportResponse(imported: found)
    }

    private func lookup(type: String, id: String) throws -> ResourceObject? {
        switch type {
        case "vector_store":
            let dir = VectorStore.directory(dataDir: state.dataDir, store: id)
            guard FileManager.default.fileExists(atPath: dir + "/vectors.sqlite") else { return nil }
            return ResourceObject(id: id, attributes: ["name": .string(id), "id": .string(id), "path": .string(dir)])
        case "vector_collection":
            guard let (storeName, name) = CollectionSpec.split(id) else { return nil }
            let dir = VectorStore.directory(dataDir: state.dataDir, store: storeName)
            guard FileManager.default.fileExists(atPath: dir + "/vectors.sqlite") else { return nil }
            let store = try state.store(dir)
            guard let info = try? store.info(name) else { return nil }
            return ResourceObject(id: id, attributes: CollectionSpec(store: storeName, name: name, config: info.config).attributes)
        default:
            throw ProviderError(provider: "local", message: "unknown resource type \(type)")
        }
    }
}

/// The provider's mutable settings and open stores, shared by copies of the struct.
final class ProviderState: @unchecked Sendable {
    // Every field is read and written under `lock`.
    private let lock = NSLock()
    private var _dataDir = ".mlinfra"
    private var stores: [String: VectorStore] = [:]

    var dataDir: String { lock.withLock { _dataDir } }
    func setDataDir(_ dir: String) { lock.withLock { _dataDir = dir } }

    func store(_ directory: String) throws -> VectorStore {
        try lock.withLock {
            if let open = stores[directory] { return open }
            let store = try VectorStore(directory: directory)
            stores[directory] = store
            return store
        }
    }

    func forget(_ directory: String) { lock.withLock { stores[directory] = nil } }
}
