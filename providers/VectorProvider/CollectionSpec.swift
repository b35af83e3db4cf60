import Foundation
import MLInfraCore
import MLInfraJSON
import VectorIndex

/// A `vector_collection`'s attributes, normalised with their defaults.
struct CollectionSpec {
    var store: String?
    var name: String
    var dimension: Int?
    var metric: String
    var index: String
    var m: Int
    var efConstruction: Int
    var efSearch: Int
    var lists: Int
    var probes: Int
    /// True when the store reference is not known yet (plan time).
    var storeUnknown = false

    init(_ config: [String: Value], address: String) {
        let hnsw = config["hnsw"]?.mapValue ?? [:]
        let ivfflat = config["ivfflat"]?.mapValue ?? [:]
        storeUnknown = config["store"]?.isUnknown ?? false
        store = config["store"]?.stringValue
        name = VectorProvider.objectName(config, address: address)
        dimension = config["dimension"]?.intValue
        metric = config["metric"]?.stringValue ?? "l2"
        index = config["index"]?.stringValue ?? "hnsw"
        let defaults = HNSWParameters()
        m = hnsw["m"]?.intValue ?? defaults.m
        efConstruction = hnsw["ef_construction"]?.intValue ?? defaults.efConstruction
        efSearch = hnsw["ef_search"]?.intValue ?? defaults.efSearch
        lists = ivfflat["lists"]?.intValue ?? IVFFlatParameters().lists
        probes = ivfflat["probes"]?.intValue ?? IVFFlatParameters().probes
    }

    init(store: String, name: String, config: CollectionConfig) {
        self.store = store
        self.name = name
        dimension = config.dimension
        metric = config.metric.rawValue
        index = config.indexKind
        let h = config.hnsw ?? HNSWParameters()
        m = h.m
        efConstruction = h.efConstruction
        efSearch = h.efSearch
        let i = config.ivfflat ?? IVFFlatParameters()
        lists = i.lists
        probes = i.probes
    }

    var config: CollectionConfig? {
        guard let dimension, let metric = Metric(rawValue: metric) else { return nil }
        return CollectionConfig(
            dimension: dimension, metric: metric,
            hnsw: index == "hnsw" ? HNSWParameters(m: m, efConstruction: efConstruction, efSearch: efSearch) : nil,
            ivfflat: index == "ivfflat" ? IVFFlatParameters(lists: lists, probes: probes) : nil)
    }

    var attributes: [String: Value] {
        var out: [String: Value] = [
            "name": .string(name), "metric": .string(metric), "index": .string(index),
            "hnsw": .map(["m": .int(m), "ef_construction": .int(efConstruction), "ef_search": .int(efSearch)]),
        ]
        if index == "ivfflat" { out["ivfflat"] = .map(["lists": .int(lists), "probes": .int(probes)]) }
        out["dimension"] = dimension.map(Value.int) ?? .unknown
        if let store {
            out["store"] = .string(store)
            out["id"] = .string("\(store)/\(name)")
        } else {
            out["store"] = .unknown
            out["id"] = .unknown
        }
        return out
    }

    static func split(_ id: String) -> (String, String)? {
        let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (parts[0], parts[1])
    }

    /// Every problem with a collection's config, each naming its attribute.
    static func problems(_ config: [String: Value]) -> [AttributeDiagnostic] {
        var out: [AttributeDiagnostic] = []
        func bad(_ attribute: String, _ summary: String, _ detail: String) {
            out.append(AttributeDiagnostic(attribute: attribute, .error(summary, detail: detail)))
        }
        let known: Set = ["store", "name", "dimension", "metric", "index", "hnsw", "ivfflat"]
        for key in config.keys.sorted() where !known.contains(key) && !["depends_on", "lifecycle", "for_each", "count"].contains(key) {
            bad(key, "unknown attribute \(key) on vector_collection", "Known attributes: \(known.sorted().joined(separator: ", ")).")
        }
        if let store = config["store"], !store.isUnknown, store.stringValue == nil {
            bad("store", "store must reference a vector_store", "Write store: ${vector_store.NAME}.")
        }
        if config["store"] == nil { bad("store", "store is required", "Write store: ${vector_store.NAME}.") }
        if let name = config["name"], !name.isUnknown {
            if let text = name.stringValue {
                if !VectorProvider.validName(text) {
                    bad("name", "invalid collection name \(name.rendered)", "Use 1-128 letters, digits, '_', '-' or '.'.")
                }
            } else {
                bad("name", "name must be a string", "Give the collection's name as a string.")
            }
        }
        switch config["dimension"] {
        case nil: bad("dimension", "dimension is required", "Set the length of the vectors, e.g. dimension: 384.")
        case let v? where v.isUnknown: break
        case let v?:
            if let d = v.intValue, (1...65_536).contains(d) {} else {
                bad("dimension", "dimension must be a whole number from 1 to 65536, got \(v.rendered)", "Set the length of the vectors, e.g. dimension: 384.")
            }
        }
        if let metric = config["metric"], !metric.isUnknown, Metric(rawValue: metric.stringValue ?? "") == nil {
            bad("metric", "unknown metric \(metric.rendered)", "Use l2, cosine or ip.")
        }
        if let index = config["index"], !index.isUnknown, !["hnsw", "exact", "ivfflat"].contains(index.stringValue ?? "") {
            bad("index", "unknown index \(index.rendered)", "Use hnsw or exact (or ivfflat, on a pgvector store).")
        }
        /// A settings block: a map of whole numbers, each in its range.
        func block(_ name: String, _ limits: [String: ClosedRange<Int>], remedy: String, example: String) {
            guard let value = config[name], !value.isUnknown else { return }
            guard let map = value.mapValue else { return bad(name, "\(name) must be a block", "Write \(name): \(example).") }
            for key in map.keys.sorted() {
                guard let range = limits[key] else {
                    bad("\(name).\(key)", "unknown \(name) setting \(key)", "Known settings: \(limits.keys.sorted().joined(separator: ", ")).")
                    continue
                }
                let v = map[key]!
                if v.isUnknown { continue }
                if let n = v.intValue, range.contains(n) {} else {
                    bad("\(name).\(key)", "\(name).\(key) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(v.rendered)", remedy)
                }
            }
        }
        let lists = config["ivfflat"]?.mapValue?["lists"]?.intValue ?? IVFFlatParameters().lists
        block("ivfflat", ["lists": 1...32_768, "probes": 1...max(1, lists)],
              remedy: "pgvector suggests lists = rows / 1000 (up to 1M rows) and probes = sqrt(lists).", example: "{ lists: 100, probes: 10 }")
        block("hnsw", ["m": 2...256, "ef_construction": 1...100_000, "ef_search": 1...100_000],
              remedy: "hnswlib's defaults are m 16, ef_construction 200; ef_search 64 is a good start.", example: "{ m: 16, ef_construction: 200, ef_search: 64 }")
        return out
    }
}
