/// How distance between two vectors is measured.
///
/// Distances are "smaller is closer" for every metric, as in Chroma:
/// `l2` is the squared Euclidean distance, `ip` is `1 - a·b`, and `cosine`
/// is `1 - cos(a, b)` (vectors are normalised on the way in, so cosine search
/// runs on the inner-product kernel).
public enum Metric: String, Sendable, Hashable, Codable, CaseIterable {
    case l2
    case cosine
    case ip
}

/// The index a collection keeps: an HNSW graph, or none (every query is exact).
public struct HNSWParameters: Sendable, Hashable, Codable {
    /// Links per node on the upper layers; layer 0 keeps `2 * m`.
    public var m: Int
    /// Candidate list size while inserting: larger builds a better graph, more slowly.
    public var efConstruction: Int
    /// Default candidate list size while searching (a query may pass its own `ef`).
    public var efSearch: Int

    public init(m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64) {
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
    }

    enum CodingKeys: String, CodingKey {
        case m
        case efConstruction = "ef_construction"
        case efSearch = "ef_search"
    }
}

/// An IVFFlat index (pgvector stores only): `lists` clusters, `probes` of them searched per query.
public struct IVFFlatParameters: Sendable, Hashable, Codable {
    public var lists: Int
    public var probes: Int

    public init(lists: Int = 100, probes: Int = 10) {
        self.lists = lists
        self.probes = probes
    }
}

/// What a collection is: its vectors' dimension, the metric, and the index it keeps.
public struct CollectionConfig: Sendable, Hashable, Codable {
    public var dimension: Int
    public var metric: Metric
    /// nil: no graph, every query is an exact scan.
    public var hnsw: HNSWParameters?
    /// An IVFFlat index instead of HNSW (pgvector stores only; `hnsw` is then nil).
    public var ivfflat: IVFFlatParameters?

    public init(dimension: Int, metric: Metric = .l2, hnsw: HNSWParameters? = HNSWParameters(), ivfflat: IVFFlatParameters? = nil) {
        self.dimension = dimension
        self.metric = metric
        self.hnsw = ivfflat == nil ? hnsw : nil
        self.ivfflat = ivfflat
    }

    /// `hnsw`, `ivfflat` or `exact`, as the spec's `index` attribute spells it.
    public var indexKind: String { hnsw != nil ? "hnsw" : ivfflat != nil ? "ivfflat" : "exact" }

    /// Whether going from `old` to this config rebuilds the index (kind, `m`, `ef_construction`
    /// or `lists` changed); `ef_search` and `probes` are query settings, changed in place.
    public func rebuildsIndex(from old: CollectionConfig) -> Bool {
        indexKind != old.indexKind || hnsw?.m != old.hnsw?.m || hnsw?.efConstruction != old.hnsw?.efConstruction
            || ivfflat?.lists != old.ivfflat?.lists
    }

    /// Problems with the settings, each naming its field; empty when they are usable.
    public func problems() -> [VectorError] {
        var out: [VectorError] = []
        if dimension < 1 || dimension > 65_536 {
            out.append(.invalidField("dimension", "must be between 1 and 65536, got \(dimension)"))
        }
        if let hnsw {
            if hnsw.m < 2 || hnsw.m > 256 {
                out.append(.invalidField("hnsw.m", "must be between 2 and 256, got \(hnsw.m)"))
            }
            if hnsw.efConstruction < 1 || hnsw.efConstruction > 100_000 {
                out.append(.invalidField("hnsw.ef_construction", "must be between 1 and 100000, got \(hnsw.efConstruction)"))
            }
            if hnsw.efSearch < 1 || hnsw.efSearch > 100_000 {
                out.append(.invalidField("hnsw.ef_search", "must be between 1 and 100000, got \(hnsw.efSearch)"))
            }
        }
        if let ivfflat {
            if ivfflat.lists < 1 || ivfflat.lists > 32_768 {
                out.append(.invalidField("ivfflat.lists", "must be between 1 and 32768, got \(ivfflat.lists)"))
            }
            if ivfflat.probes < 1 || ivfflat.probes > ivfflat.lists {
                out.append(.invalidField("ivfflat.probes", "must be between 1 and lists (\(ivfflat.lists)), got \(ivfflat.probes)"))
            }
        }
        return out
    }
}
