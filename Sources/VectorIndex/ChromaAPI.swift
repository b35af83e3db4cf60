import Foundation
import Hummingbird
import MLInfraJSON
import Synchronization

/// The part of Chroma's HTTP API v2 that `chromadb.HttpClient` uses, over a `CollectionStore`:
/// the default tenant and database, collections, and add / upsert / update / get / delete /
/// count / query with `where` and `where_document`, under `/api/v2`.
///
/// Embeddings are explicit: no embedding model is bundled, so a query without
/// `query_embeddings` is refused with a message saying so. A Chroma collection takes its
/// dimension from its first add (Chroma's rule), so one created by the client and still empty
/// lives only in the catalog (`chroma.json` beside the store's data); its first add creates the
/// store's collection, exact until it grows (`hnsw` as the store's defaults). Collections
/// declared in a spec appear under their names, with ids derived from the names.
/// See docs/decisions/vector-index.md.
struct ChromaAPI: Sendable {
    static let tenant = "default_tenant"
    static let database = "default_database"

    let store: any CollectionStore
    let catalog: ChromaCatalog

    func add(to router: Router<BasicRequestContext>) {
        let base = "api/v2"
        let scope = "\(base)/tenants/:tenant/databases/:database"
        router.get("\(base)/heartbeat") { _, _ in
            Self.reply(.object(["nanosecond heartbeat": .int(Int(Date().timeIntervalSince1970 * 1e9))]))
        }
        router.get("\(base)/version") { _, _ in Self.reply(.string("1.0.0")) }
        router.get("\(base)/pre-flight-checks") { _, _ in
            Self.reply(.object(["max_batch_size": .int(Self.maxBatch), "supports_base64_encoding": .bool(true)]))
        }
        router.get("\(base)/auth/identity") { _, _ in
            Self.reply(.object(["user_id": .string(""), "tenant": .string(Self.tenant), "databases": .array([.string(Self.database)])]))
        }
        router.get("\(base)/tenants/:tenant") { _, context in
            try await handle { .object(["name": .string(try Self.tenant(context))]) }
        }
        router.get("\(scope)") { _, context in
            try await handle {
                let (tenant, database) = try Self.scope(context)
                return .object(["id": .string(Self.uuid("database:" + database)), "name": .string(database), "tenant": .string(tenant)])
            }
        }
        router.get("\(base)/tenants/:tenant/databases") { _, context in
            try await handle {
                let tenant = try Self.tenant(context)
                return .array([.object(["id": .string(Self.uuid("database:" + Self.database)), "name": .string(Self.database), "tenant": .string(tenant)])])
            }
        }
        router.get("\(scope)/collections") { request, context in
            try await handle {
                _ = try Self.scope(context)
                var all = try await collections()
                let offset = Int(request.uri.queryParameters["offset"].map(String.init) ?? "") ?? 0
                all = Array(all.dropFirst(max(offset, 0)))
                if let limit = request.uri.queryParameters["limit"].flatMap({ Int(String($0)) }) { all = Array(all.prefix(max(limit, 0))) }
                return .array(all.map(\.json))
            }
        }
        router.get("\(scope)/collections_count") { _, context in
            try await handle {
                _ = try Self.scope(context)
                return .int(try await collections().count)
            }
        }
        router.post("\(scope)/collections") { request, context in
            try await handle {
                _ = try Self.scope(context)
                return try await create(try await Self.body(request)).json
            }
        }
        router.get("\(scope)/collections/:collection") { _, context in
            try await handle { try await collection(named: try context.parameters.require("collection")).json }
        }
        router.put("\(scope)/collections/:collection") { request, context in
            try await handle {
                let target = try await collection(id: try context.parameters.require("collection"))
                let body = try await Self.body(request)
                if case .string(let newName)? = body["new_name"], newName != target.name {
                    throw ChromaError(.invalidArgument, "renaming a collection is not supported here: its name is its address in the spec")
                }
                if let metadata = body["new_metadata"], metadata != .null {
                    try catalog.update(target.name) { $0.metadata = metadata }
                }
                return .object([:])
            }
        }
        router.delete("\(scope)/collections/:collection") { _, context in
            try await handle {
                let target = try await collection(named: try context.parameters.require("collection"))
                if target.dimension != nil { try await store.dropCollection(target.name) }
                try catalog.remove(target.name)
                return .object([:])
            }
        }
        for verb in ["add", "upsert", "update"] {
            router.post("\(scope)/collections/:collection/\(verb)") { request, context in
                try await handle {
                    let target = try await collection(id: try context.parameters.require("collection"))
                    try await write(verb, target, try await Self.body(request))
                    return .bool(true)
                }
            }
        }
        router.get("\(scope)/collections/:collection/count") { _, context in
            try await handle {
                let target = try await collection(id: try context.parameters.require("collection"))
                return .int(target.dimension == nil ? 0 : try await store.count(target.name, where: nil))
            }
        }
        router.post("\(scope)/collections/:collection/get") { request, context in
            try await handle {
                let target = try await collection(id: try context.parameters.require("collection"))
                return try await get(target, try await Self.body(request))
            }
        }
        router.post("\(scope)/collections/:collection/delete") { request, context in
            try await handle {
                let target = try await collection(id: try context.parameters.require("collection"))
                let body = try await Self.body(request)
                let ids = try await matching(target, body).map(\.id)
                let deleted = target.dimension == nil || ids.isEmpty ? 0 : try await store.delete(target.name, ids: ids)
                return .object(["deleted": .int(deleted)])
            }
        }
        router.post("\(scope)/collections/:collection/query") { request, context in
            try await handle {
                let target = try await collection(id: try context.parameters.require("collection"))
                return try await query(target, try await Self.body(request))
            }
        }
    }

    static let maxBatch = 10_000

    // MARK: Collections

    /// A collection as Chroma sees it: the store's (with a dimension) or the catalog's alone (empty, no dimension yet).
    struct Collection {
        var name: String
        var dimension: Int?
        var metric: Metric
        var metadata: JSONValue
        var configuration: JSONValue

        var id: String { ChromaAPI.uuid("collection:" + name) }

        var json: JSONValue {
            .object([
                "id": .string(id), "name": .string(name), "metadata": metadata,
                "configuration_json": configuration,
                "dimension": dimension.map { .int($0) } ?? .null,
                "tenant": .string(ChromaAPI.tenant), "database": .string(ChromaAPI.database),
                "version": .int(0), "log_position": .int(0),
            ])
        }
    }

    func collections() async throws -> [Collection] {
        let stored = try await store.listCollections()
        let entries = catalog.entries()
        var out: [String: Collection] = [:]
        for info in stored {
            let entry = entries[info.name]
            out[info.name] = Collection(
                name: info.name, dimension: info.config.dimension, metric: info.config.metric, metadata: entry?.metadata ?? .null,
                configuration: entry?.configuration ?? Self.configuration(info.config.metric))
        }
        for (name, entry) in entries where out[name] == nil {
            out[name] = Collection(name: name, dimension: nil, metric: entry.metric, metadata: entry.metadata, configuration: entry.configuration)
        }
        return out.values.sorted { $0.name < $1.name }
    }

    func collection(named name: String) async throws -> Collection {
        guard let found = try await collections().first(where: { $0.name == name }) else {
            throw ChromaError(.notFound, "Collection [\(name)] does not exist")
        }
        return found
    }

    func collection(id: String) async throws -> Collection {
        guard let found = try await collections().first(where: { $0.id == id.lowercased() }) else {
            throw ChromaError(.notFound, "Collection [\(id)] does not exist")
        }
        return found
    }

    static func configuration(_ metric: Metric) -> JSONValue {
        .object(["hnsw": .object(["space": .string(metric.rawValue)]), "embedding_function": .object(["type": .string("legacy")])])
    }

    func create(_ body: [String: JSONValue]) async throws -> Collection {
        guard case .string(let name)? = body["name"], !name.isEmpty else {
            throw ChromaError(.invalidArgument, "name: a collection needs a name")
        }
        let getOrCreate = body["get_or_create"] == .bool(true)
        if let existing = try await collections().first(where: { $0.name == name }) {
            guard getOrCreate else { throw ChromaError(.uniqueConstraint, "Collection [\(name)] already exists") }
            return existing
        }
        guard name.count >= 3, name.count <= 512,
            name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }),
            name.first?.isLetter == true || name.first?.isNumber == true
        else {
            throw ChromaError(
                .invalidArgument,
                "name: '\(name)' is not a valid collection name; use 3-512 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        let metadata = body["metadata"] ?? .null
        var configuration = body["configuration"] ?? .null
        let space = configuration["hnsw"]?["space"] ?? metadata["hnsw:space"]
        let metric: Metric
        switch space {
        case nil, .null?: metric = .l2
        case .string(let text)?:
            guard let m = Metric(rawValue: text) else {
                throw ChromaError(.invalidArgument, "configuration.hnsw.space: '\(text)' is not one of l2, cosine, ip")
            }
            metric = m
        default: throw ChromaError(.invalidArgument, "configuration.hnsw.space must be a string: l2, cosine or ip")
        }
        if configuration == .null { configuration = Self.configuration(metric) }
        try catalog.update(name) {
            $0.metric = metric
            $0.metadata = metadata
            $0.configuration = configuration
        }
        return Collection(name: name, dimension: nil, metric: metric, metadata: metadata, configuration: configuration)
    }

    // MARK: Records

    /// Column-oriented records of an add, upsert or update; nil columns stay nil.
    struct Columns {
        var ids: [String]
        var embeddings: [[Float]]?
        var metadatas: [[String: MetadataValue]?]?
        var documents: [String?]?
    }

    static func columns(_ body: [String: JSONValue]) throws -> Columns {
        let ids = try RequestDecoding.strings(body["ids"], field: "ids")
        guard !ids.isEmpty else { throw ChromaError(.invalidArgument, "ids: give at least one id") }
        guard ids.count <= maxBatch else { throw ChromaError(.batchSizeExceeded, "ids: \(ids.count) records is more than the \(maxBatch) of one batch") }
        var columns = Columns(ids: ids)
        if let value = body["embeddings"], value != .null {
            guard case .array(let items) = value, items.count == ids.count else {
                throw ChromaError(.invalidArgument, "embeddings: give one per id (\(ids.count))")
            }
            columns.embeddings = try items.enumerated().map { i, item in
                if case .string(let encoded) = item { return try base64Floats(encoded, field: "embeddings[\(i)]") }
                return try RequestDecoding.vector(item, field: "embeddings[\(i)]")
            }
        }
        if let value = body["metadatas"], value != .null {
            guard case .array(let items) = value, items.count == ids.count else {
                throw ChromaError(.invalidArgument, "metadatas: give one per id (\(ids.count))")
            }
            columns.metadatas = try items.enumerated().map { i, item in
                item == .null ? nil : try RequestDecoding.metadata(item, field: "metadatas[\(i)]")
            }
        }
        if let value = body["documents"], value != .null {
            guard case .array(let items) = value, items.count == ids.count else {
                throw ChromaError(.invalidArgument, "documents: give one per id (\(ids.count))")
            }
            columns.documents = try items.enumerated().map { i, item in
                switch item {
                case .null: return nil
                case .string(let text): return text
                default: throw ChromaError(.invalidArgument, "documents[\(i)] must be a string")
                }
            }
        }
        return columns
    }

    /// Chroma's base64 form of an embedding: little-endian float32s.
    static func base64Floats(_ text: String, field: String) throws -> [Float] {
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else {
            throw ChromaError(.invalidArgument, "\(field): not base64 of little-endian float32 values")
        }
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    func write(_ verb: String, _ target: Collection, _ body: [String: JSONValue]) async throws {
        let columns = try Self.columns(body)
        var target = target
        if target.dimension == nil {
            guard verb != "update" else { throw ChromaError(.invalidArgument, "ids: collection \(target.name) is empty, so none of them exist") }
            guard let first = columns.embeddings?.first else {
                throw ChromaError(.invalidArgument, "embeddings: this server has no embedding model; send the embeddings with the records")
            }
            try await store.ensureCollection(target.name, config: CollectionConfig(dimension: first.count, metric: target.metric))
            target.dimension = first.count
        }
        let existing = Dictionary(
            try await store.get(target.name, ids: columns.ids).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var records: [VectorRecord] = []
        for (i, id) in columns.ids.enumerated() {
            let held = existing[id]
            switch verb {
            case "add" where held != nil: continue  // Chroma's add keeps what an id already holds
            case "update" where held == nil: continue  // and its update skips ids it does not hold
            default: break
            }
            guard let vector = columns.embeddings?[i] ?? held?.vector else {
                throw ChromaError(.invalidArgument, "embeddings[\(i)]: this server has no embedding model; send an embedding for '\(id)'")
            }
            let metadata: [String: MetadataValue]
            if verb == "update", let held { metadata = columns.metadatas?[i].map { held.metadata.merging($0) { _, new in new } } ?? held.metadata }
            else { metadata = columns.metadatas?[i] ?? held?.metadata ?? [:] }
            let document = columns.documents.map { $0[i] } ?? held?.document
            records.append(VectorRecord(id: id, vector: vector, metadata: metadata, document: document))
        }
        guard !records.isEmpty else { return }
        do {
            try await store.upsert(target.name, records)
        } catch let error as VectorError where error.code == .invalidInput {
            throw ChromaError(error.message.contains("dimension") ? .invalidDimension : .invalidArgument, "\(error.field ?? "records"): \(error.message)")
        }
    }

    /// What `include` asks for; nil gives `fallback`.
    static func include(_ value: JSONValue?, fallback: Set<String>) throws -> Set<String> {
        guard let value, value != .null else { return fallback }
        let names = try RequestDecoding.strings(value, field: "include")
        for name in names where !["documents", "embeddings", "metadatas", "distances", "uris"].contains(name) {
            throw ChromaError(.invalidArgument, "include: '\(name)' is not one of documents, embeddings, metadatas, distances, uris")
        }
        return Set(names)
    }

    /// The records a get or delete names: by ids, by `where`, by `where_document`, all together.
    func matching(_ target: Collection, _ body: [String: JSONValue]) async throws -> [VectorRecord] {
        guard target.dimension != nil else { return [] }
        let filter = try body["where"].flatMap { $0 == .null || $0 == .object([:]) ? nil : try WhereFilter.parse($0, path: "where") }
        let documents = try body["where_document"].flatMap { $0 == .null || $0 == .object([:]) ? nil : try DocumentFilter.parse($0, path: "where_document") }
        var records: [VectorRecord]
        if let value = body["ids"], value != .null {
            records = try await store.get(target.name, ids: try RequestDecoding.strings(value, field: "ids"))
            if let filter { records = records.filter { filter.matches($0.metadata) } }
        } else {
            records = try await store.get(target.name, where: filter, limit: nil, offset: 0)
        }
        if let documents { records = records.filter { documents.matches($0.document) } }
        return records
    }

    func get(_ target: Collection, _ body: [String: JSONValue]) async throws -> JSONValue {
        let include = try Self.include(body["include"], fallback: ["metadatas", "documents"])
        var records = try await matching(target, body)
        let offset = try RequestDecoding.int(body["offset"], field: "offset", default: 0) ?? 0
        records = Array(records.dropFirst(max(offset, 0)))
        if let limit = try RequestDecoding.int(body["limit"], field: "limit", default: nil) { records = Array(records.prefix(max(limit, 0))) }
        var out: [String: JSONValue] = [
            "ids": .array(records.map { .string($0.id) }), "include": .array(include.sorted().map { .string($0) }),
        ]
        out["documents"] = include.contains("documents") ? .array(records.map { $0.document.map(JSONValue.string) ?? .null }) : .null
        out["metadatas"] = include.contains("metadatas") ? .array(records.map { Self.json($0.metadata) }) : .null
        out["embeddings"] = include.contains("embeddings") ? .array(records.map { Self.json($0.vector) }) : .null
        out["uris"] = .null
        return .object(out)
    }

    func query(_ target: Collection, _ body: [String: JSONValue]) async throws -> JSONValue {
        guard let value = body["query_embeddings"], value != .null else {
            throw ChromaError(
                .invalidArgument,
                "query_embeddings: this server has no embedding model, so query_texts cannot be embedded here; embed the text yourself and send query_embeddings")
        }
        guard case .array(let items) = value else { throw ChromaError(.invalidArgument, "query_embeddings must be a list of embeddings") }
        let queries = try items.enumerated().map { i, item in
            if case .string(let encoded) = item { return try Self.base64Floats(encoded, field: "query_embeddings[\(i)]") }
            return try RequestDecoding.vector(item, field: "query_embeddings[\(i)]")
        }
        let n = try RequestDecoding.int(body["n_results"], field: "n_results", default: 10) ?? 10
        guard n >= 1 else { throw ChromaError(.invalidArgument, "n_results must be at least 1, got \(n)") }
        let include = try Self.include(body["include"], fallback: ["metadatas", "documents", "distances"])
        let filter = try body["where"].flatMap { $0 == .null || $0 == .object([:]) ? nil : try WhereFilter.parse($0, path: "where") }
        let documents = try body["where_document"].flatMap { $0 == .null || $0 == .object([:]) ? nil : try DocumentFilter.parse($0, path: "where_document") }
        let restricted = documents != nil || (body["ids"].map { $0 != .null } ?? false)

        var batches: [[QueryMatch]] = []
        for (i, q) in queries.enumerated() {
            guard let dimension = target.dimension else {
                batches.append([])
                continue
            }
            guard q.count == dimension else {
                throw ChromaError(.invalidDimension, "query_embeddings[\(i)]: has \(q.count) components, but collection \(target.name) has dimension \(dimension)")
            }
            if restricted {
                // ids or a document filter: rank exactly the records they leave.
                let candidates = try await matching(target, body)
                let ranked = candidates.map { r in
                    QueryMatch(id: r.id, distance: Self.distance(target.metric, q, r.vector), metadata: r.metadata, document: r.document)
                }.sorted { ($0.distance, $0.id) < ($1.distance, $1.id) }
                batches.append(Array(ranked.prefix(n)))
            } else {
                batches.append(try await store.query(target.name, q, k: min(n, 10_000), ef: nil, where: filter).matches)
            }
        }
        var out: [String: JSONValue] = [
            "ids": .array(batches.map { .array($0.map { .string($0.id) }) }), "include": .array(include.sorted().map { .string($0) }),
        ]
        out["distances"] = include.contains("distances") ? .array(batches.map { .array($0.map { Self.number($0.distance) }) }) : .null
        out["documents"] = include.contains("documents") ? .array(batches.map { .array($0.map { $0.document.map(JSONValue.string) ?? .null }) }) : .null
        out["metadatas"] = include.contains("metadatas") ? .array(batches.map { .array($0.map { Self.json($0.metadata) }) }) : .null
        if include.contains("embeddings") {
            var vectors: [[JSONValue]] = []
            for batch in batches {
                let held = Dictionary(try await store.get(target.name, ids: batch.map(\.id)).map { ($0.id, $0.vector) }, uniquingKeysWith: { a, _ in a })
                vectors.append(batch.map { held[$0.id].map(Self.json) ?? .null })
            }
            out["embeddings"] = .array(vectors.map { .array($0) })
        } else {
            out["embeddings"] = .null
        }
        out["uris"] = .null
        return .object(out)
    }

    /// Chroma's distances, as `Metric` defines them: squared L2, `1 - a·b`, `1 - cos(a, b)`.
    static func distance(_ metric: Metric, _ a: [Float], _ b: [Float]) -> Float {
        var dot: Float = 0, aa: Float = 0, bb: Float = 0, l2: Float = 0
        for i in a.indices {
            dot += a[i] * b[i]
            aa += a[i] * a[i]
            bb += b[i] * b[i]
            l2 += (a[i] - b[i]) * (a[i] - b[i])
        }
        switch metric {
        case .l2: return l2
        case .ip: return 1 - dot
        case .cosine: return aa == 0 || bb == 0 ? 1 : 1 - dot / (aa.squareRoot() * bb.squareRoot())
        }
    }

    static func json(_ metadata: [String: MetadataValue]) -> JSONValue {
        guard !metadata.isEmpty else { return .null }
        return .object(metadata.mapValues { value in
            switch value {
            case .string(let s): .string(s)
            case .int(let i): .int(i)
            case .float(let d): .double(d)
            case .bool(let b): .bool(b)
            case .strings(let list): .array(list.map(JSONValue.string))
            }
        })
    }

    static func json(_ vector: [Float]) -> JSONValue { .array(vector.map(number)) }

    // MARK: Plumbing

    /// A stable UUID for a name (RFC 4122 layout, name-based), so ids survive restarts.
    static func uuid(_ name: String) -> String {
        // Two FNV-1a hashes with different bases: stable across runs and machines, not a secret.
        func fnv(_ basis: UInt64) -> UInt64 {
            var h = basis
            for byte in ("mlinfra-chroma:" + name).utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return h
        }
        var bytes: [UInt8] = []
        for word in [fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4)] { withUnsafeBytes(of: word.bigEndian) { bytes += $0 } }
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let p = Array(hex)
        return [String(p[0..<8]), String(p[8..<12]), String(p[12..<16]), String(p[16..<20]), String(p[20..<32])].joined(separator: "-")
    }

    static func tenant(_ context: BasicRequestContext) throws -> String {
        let tenant = try context.parameters.require("tenant")
        guard tenant == Self.tenant else { throw ChromaError(.notFound, "Tenant [\(tenant)] not found; this server has only \(Self.tenant)") }
        return tenant
    }

    static func scope(_ context: BasicRequestContext) throws -> (String, String) {
        let tenant = try tenant(context)
        let database = try context.parameters.require("database")
        guard database == Self.database else {
            throw ChromaError(.notFound, "Database [\(database)] not found; this server has only \(Self.database)")
        }
        return (tenant, database)
    }

    static func body(_ request: Request) async throws -> [String: JSONValue] {
        let buffer = try await request.body.collect(upTo: 256 << 20)
        guard buffer.readableBytes > 0 else { return [:] }
        guard let value = JSONValue.parse(Data(buffer.readableBytesView)) else { throw ChromaError(.invalidArgument, "body: not valid JSON") }
        guard case .object(let object) = value else { throw ChromaError(.invalidArgument, "body: must be a JSON object") }
        return object
    }

    /// The JSON text of `value`: numbers of `.double` keep their decimal point (`1.0`), so the
    /// client's numpy arrays of embeddings come out as floats, as Chroma's own server gives them.
    static func reply(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.text)))
    }

    /// A 32-bit value as the double its shortest decimal names (0.45, not 0.44999998…), as
    /// Chroma's server writes its f32s.
    static func number(_ x: Float) -> JSONValue { .double(Double(x.description) ?? Double(x)) }

    /// Runs a handler, answering errors as Chroma does: `{"error": NAME, "message": TEXT}`.
    func handle(_ body: () async throws -> JSONValue) async throws -> Response {
        do {
            return Self.reply(try await body())
        } catch let error as ChromaError {
            return Self.reply(.object(["error": .string(error.kind.rawValue), "message": .string(error.message)]), status: error.kind.status)
        } catch let error as VectorError {
            let kind: ChromaError.Kind = error.code == .notFound ? .notFound : error.code == .storage ? .internalError : .invalidArgument
            let message = error.field.map { "\($0): \(error.message)" } ?? error.message
            return Self.reply(.object(["error": .string(kind.rawValue), "message": .string(message)]), status: kind.status)
        }
    }
}

/// An error in the names chromadb's client knows (`chromadb.errors`), so it raises the matching exception.
struct ChromaError: Error {
    enum Kind: String {
        case invalidArgument = "InvalidArgumentError"
        case invalidDimension = "InvalidDimension"
        case notFound = "NotFoundError"
        case uniqueConstraint = "UniqueConstraintError"
        case batchSizeExceeded = "BatchSizeExceededError"
        case internalError = "InternalError"

        var status: HTTPResponse.Status {
            switch self {
            case .notFound: .notFound
            case .uniqueConstraint: .conflict
            case .internalError: .internalServerError
            default: .badRequest
            }
        }
    }

    var kind: Kind
    var message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// Chroma's `where_document`: `$contains`, `$not_contains`, `$regex`, `$not_regex`, `$and`, `$or`.
indirect enum DocumentFilter: Sendable {
    case contains(String, negated: Bool)
    case regex(NSRegularExpression, negated: Bool)
    case and([DocumentFilter])
    case or([DocumentFilter])

    static func parse(_ value: JSONValue, path: String) throws -> DocumentFilter {
        guard case .object(let entries) = value, entries.count == 1, let (op, operand) = entries.first else {
            throw ChromaError(.invalidArgument, "\(path) must be one operator, e.g. {\"$contains\": \"text\"}")
        }
        let here = "\(path).\(op)"
        switch op {
        case "$contains", "$not_contains":
            guard case .string(let text) = operand else { throw ChromaError(.invalidArgument, "\(here) must be a string") }
            return .contains(text, negated: op == "$not_contains")
        case "$regex", "$not_regex":
            guard case .string(let pattern) = operand else { throw ChromaError(.invalidArgument, "\(here) must be a string") }
            guard let regex = try? NSRegularExpression(pattern: pattern) else {
                throw ChromaError(.invalidArgument, "\(here): '\(pattern)' is not a valid regular expression")
            }
            return .regex(regex, negated: op == "$not_regex")
        case "$and", "$or":
            guard case .array(let items) = operand, items.count >= 2 else {
                throw ChromaError(.invalidArgument, "\(here) must be a list of at least two filters")
            }
            let parts = try items.enumerated().map { try parse($0.element, path: "\(here)[\($0.offset)]") }
            return op == "$and" ? .and(parts) : .or(parts)
        default:
            throw ChromaError(.invalidArgument, "\(path): '\(op)' is not one of $contains, $not_contains, $regex, $not_regex, $and, $or")
        }
    }

    func matches(_ document: String?) -> Bool {
        switch self {
        case .contains(let text, let negated):
            guard let document else { return negated }
            return document.contains(text) != negated
        case .regex(let regex, let negated):
            guard let document else { return negated }
            let found = regex.firstMatch(in: document, range: NSRange(document.startIndex..., in: document)) != nil
            return found != negated
        case .and(let parts): return parts.allSatisfy { $0.matches(document) }
        case .or(let parts): return parts.contains { $0.matches(document) }
        }
    }
}

/// The Chroma facade's own records: collections created through it (their metric before the
/// first add gives them a dimension) and every collection's Chroma metadata. One JSON file,
/// rewritten atomically on each change.
final class ChromaCatalog: Sendable {
    struct Entry: Codable, Sendable {
        var metric: Metric = .l2
        var metadata: JSONValue = .null
        var configuration: JSONValue = .null
    }

    let path: String?
    private let state: Mutex<[String: Entry]>

    /// Reads `path` (nil keeps the catalog in memory only).
    init(path: String?) throws {
        self.path = path
        var loaded: [String: Entry] = [:]
        if let path, let data = FileManager.default.contents(atPath: path) {
            do { loaded = try JSONDecoder().decode([String: Entry].self, from: data) } catch {
                throw VectorError(.storage, field: nil, "\(path) is damaged (\(error)); remove it to forget the Chroma collection metadata")
            }
        }
        state = Mutex(loaded)
    }

    func entries() -> [String: Entry] { state.withLock { $0 } }

    func update(_ name: String, _ change: (inout Entry) -> Void) throws {
        let snapshot = state.withLock { entries -> [String: Entry] in
            change(&entries[name, default: Entry()])
            return entries
        }
        try save(snapshot)
    }

    func remove(_ name: String) throws {
        let snapshot = state.withLock { entries -> [String: Entry] in
            entries[name] = nil
            return entries
        }
        try save(snapshot)
    }

    private func save(_ entries: [String: Entry]) throws {
        guard let path else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do { try encoder.encode(entries).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw VectorError(.storage, field: nil, "cannot write \(path): \(error.localizedDescription)")
        }
    }
}
