import Foundation

/// Where a collection's writes go before they touch memory (SQLite in a
/// `VectorStore`; nothing for a purely in-memory collection).
protocol CollectionJournal: Sendable {
    func upsert(_ rows: [(record: VectorRecord, slot: Int)], sequence: Int) throws
    func delete(_ ids: [String], sequence: Int) throws
    func saveConfig(_ config: CollectionConfig, sequence: Int) throws
}

/// A named set of records with one vector index: exact, or an HNSW graph.
///
/// Reads (query, get, count) run concurrently; writes take the collection
/// alone. A write goes to the journal first (one SQLite transaction) and only
/// then into memory, so a failed or interrupted write changes nothing.
public final class VectorCollection: @unchecked Sendable {
    // All mutable state below is guarded by `lock` (readers-writer, so queries run side by
    // side; a Mutex around the state would serialise them).
    public let name: String
    private let lock = RWLock()
    private var _config: CollectionConfig
    private(set) var storage: VectorStorage
    private(set) var graph: HNSWGraph?
    private var slotIDs: [String?] = []
    private var slotMetadata: [[String: MetadataValue]] = []
    private var slotDocuments: [String?] = []
    /// Original length of each cosine vector, to give back what was stored.
    private var slotNorms: [Float] = []
    private var live: [UInt64] = []
    private var idToSlot: [String: Int] = [:]
    private var freeSlots: [Int] = []
    private var highWater = 0
    private var _sequence: Int
    let journal: (any CollectionJournal)?
    /// Threads used to insert a batch into the graph.
    public let buildThreads: Int

    /// An in-memory collection (no persistence).
    public convenience init(name: String, config: CollectionConfig, buildThreads: Int = 1) throws {
        try self.init(name: name, config: config, journal: nil, sequence: 0, buildThreads: buildThreads)
    }

    init(name: String, config: CollectionConfig, journal: (any CollectionJournal)?, sequence: Int, buildThreads: Int) throws {
        if let problem = config.problems().first { throw problem }
        self.name = name
        _config = config
        self.journal = journal
        _sequence = sequence
        self.buildThreads = max(1, buildThreads)
        storage = VectorStorage(dimension: config.dimension)
        if let hnsw = config.hnsw { graph = HNSWGraph(metric: config.metric, storage: storage, parameters: hnsw) }
    }

    public var config: CollectionConfig { lock.read { _config } }
    /// Incremented by every write; the index file records the one it matches.
    public var sequence: Int { lock.read { _sequence } }
    public var count: Int { lock.read { idToSlot.count } }

    // MARK: - Validation

    /// Checks a vector for the collection (`CollectionConfig.check`).
    func check(_ vector: [Float], field: String) throws {
        try _config.check(vector, field: field, collection: name)
    }

    private func validate(_ records: [VectorRecord]) throws {
        try _config.check(records, collection: name)
    }

    // MARK: - Writes

    /// Inserts records, replacing any with the same id. All or nothing.
    public func upsert(_ records: [VectorRecord], progress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        guard !records.isEmpty else { return }
        try lock.read { try validate(records) }
        try lock.write {
            var free = freeSlots
            var next = highWater
            var assigned: [(record: VectorRecord, slot: Int)] = []
            assigned.reserveCapacity(records.count)
            for record in records {
                let slot: Int
                if let reused = free.popLast() {
                    slot = reused
                } else {
                    slot = next
                    next += 1
                }
                assigned.append((record, slot))
            }
            try journal?.upsert(assigned, sequence: _sequence + 1)
            _sequence += 1
            freeSlots = free
            place(assigned, highWater: next, progress: progress)
        }
    }

    /// Puts journalled records into memory and the graph (under the write lock).
    private func place(_ assigned: [(record: VectorRecord, slot: Int)], highWater next: Int, progress: (@Sendable (Int, Int) -> Void)?) {
        highWater = max(highWater, next)
        reserveTables(highWater)
        var newSlots: [UInt32] = []
        newSlots.reserveCapacity(assigned.count)
        let normalize = _config.metric == .cosine
        var scratch = [Float](repeating: 0, count: _config.dimension)
        for (record, slot) in assigned {
            if let old = idToSlot[record.id] { removeSlot(old) }
            var norm: Float = 1
            if normalize {
                norm = record.vector.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
                for i in 0..<scratch.count { scratch[i] = record.vector[i] / norm }
                scratch.withUnsafeBufferPointer { storage.set(slot, $0) }
            } else {
                record.vector.withUnsafeBufferPointer { storage.set(slot, $0) }
            }
            slotIDs[slot] = record.id
            slotMetadata[slot] = record.metadata
            slotDocuments[slot] = record.document
            slotNorms[slot] = norm
            live[slot >> 6] |= 1 << UInt64(slot & 63)
            idToSlot[record.id] = slot
            newSlots.append(UInt32(slot))
        }
        if let graph {
            let total = newSlots.count
            graph.insertAll(newSlots, threads: buildThreads, progress: progress.map { p in { @Sendable done in p(done, total) } })
            purgeIfNeeded()
        } else {
            progress?(newSlots.count, newSlots.count)
        }
    }

    private func reserveTables(_ slots: Int) {
        storage.reserve(slots)
        graph?.syncCapacity()
        if slotIDs.count < slots {
            let extra = slots - slotIDs.count
            slotIDs.append(contentsOf: repeatElement(nil, count: extra))
            slotMetadata.append(contentsOf: repeatElement([:], count: extra))
            slotDocuments.append(contentsOf: repeatElement(nil, count: extra))
            slotNorms.append(contentsOf: repeatElement(1, count: extra))
        }
        let words = (slots + 63) / 64
        if live.count < words { live.append(contentsOf: repeatElement(0, count: words - live.count)) }
    }

    /// Forgets the record in a slot; the slot is free at once without a graph,
    /// or after the next purge with one (its node keeps routing until then).
    private func removeSlot(_ slot: Int) {
        if let id = slotIDs[slot] { idToSlot[id] = nil }
        slotIDs[slot] = nil
        slotMetadata[slot] = [:]
        slotDocuments[slot] = nil
        live[slot >> 6] &= ~(1 << UInt64(slot & 63))
        if let graph {
            graph.markDeleted(slot)
        } else {
            freeSlots.append(slot)
        }
    }

    /// Repairs the graph once deleted nodes exceed a tenth of the live ones.
    private func purgeIfNeeded() {
        guard let graph, graph.deletedCount > 0, graph.deletedCount * 10 >= max(idToSlot.count, 100) else { return }
        freeSlots.append(contentsOf: graph.purgeDeleted())
    }

    /// Deletes records by id; unknown ids are ignored. Returns how many were deleted.
    @discardableResult
    public func delete(ids: [String]) throws -> Int {
        try lock.write {
            let present = ids.filter { idToSlot[$0] != nil }
            guard !present.isEmpty else { return 0 }
            try journal?.delete(present, sequence: _sequence + 1)
            _sequence += 1
            for id in present { removeSlot(idToSlot[id]!) }
            purgeIfNeeded()
            return present.count
        }
    }

    /// Repairs and frees every deleted node now (also done before saving the index).
    public func compact() {
        lock.write {
            if let graph { freeSlots.append(contentsOf: graph.purgeDeleted()) }
        }
    }

    /// Changes the index settings: `ef_search` in place; a new `m` or
    /// `ef_construction`, or a switch between exact and HNSW, rebuilds the graph
    /// from the stored records. Dimension and metric cannot change.
    /// Returns true when the graph was rebuilt.
    @discardableResult
    public func updateIndex(_ hnsw: HNSWParameters?) throws -> Bool {
        try lock.write {
            var config = _config
            config.hnsw = hnsw
            if let problem = config.problems().first { throw problem }
            let old = _config.hnsw
            let rebuild = old?.m != hnsw?.m || old?.efConstruction != hnsw?.efConstruction || (old == nil) != (hnsw == nil)
            try journal?.saveConfig(config, sequence: _sequence + 1)
            _sequence += 1
            _config = config
            if rebuild { rebuildGraph() }
            return rebuild
        }
    }

    /// Builds a fresh graph over the live slots (under the write lock).
    func rebuildGraph(progress: (@Sendable (Int, Int) -> Void)? = nil) {
        if let graph { freeSlots.append(contentsOf: (0..<highWater).filter { graph.contains($0) && graph.isDeleted($0) }) }
        guard let hnsw = _config.hnsw else {
            graph = nil
            return
        }
        let fresh = HNSWGraph(metric: _config.metric, storage: storage, parameters: hnsw)
        fresh.syncCapacity()
        let slots = (0..<highWater).filter { slotIDs[$0] != nil }.map { UInt32($0) }
        let total = slots.count
        fresh.insertAll(slots, threads: buildThreads, progress: progress.map { p in { @Sendable done in p(done, total) } })
        graph = fresh
    }

    // MARK: - Reads

    /// The records with these ids, in the order asked; unknown ids are skipped.
    public func get(ids: [String]) -> [VectorRecord] {
        lock.read { ids.compactMap { idToSlot[$0].map(record(at:)) } }
    }

    /// Records matching a filter (all when nil), in slot order, at most `limit`.
    public func get(where filter: WhereFilter?, limit: Int? = nil, offset: Int = 0) -> [VectorRecord] {
        lock.read {
            var out: [VectorRecord] = []
            var skipped = 0
            for slot in 0..<highWater where slotIDs[slot] != nil {
                if let filter, !filter.matches(slotMetadata[slot]) { continue }
                if skipped < offset {
                    skipped += 1
                    continue
                }
                if let limit, out.count >= limit { break }
                out.append(record(at: slot))
            }
            return out
        }
    }

    private func record(at slot: Int) -> VectorRecord {
        var vector = storage.values(slot)
        if _config.metric == .cosine {
            let norm = slotNorms[slot]
            for i in vector.indices { vector[i] *= norm }
        }
        return VectorRecord(id: slotIDs[slot]!, vector: vector, metadata: slotMetadata[slot], document: slotDocuments[slot])
    }

    /// The `k` nearest records to `vector`, closest first.
    ///
    /// With a filter, the matching records are counted first. When they are few
    /// enough that scanning them costs less than a graph search widened for the
    /// filter (`ef / selectivity` candidates, each with up to `2m` neighbours),
    /// they are scanned exactly; otherwise the graph is searched with a widened
    /// `ef` and, should it still find fewer than `min(k, matches)` records, the
    /// matching records are scanned. Either way a filtered query returns `k`
    /// results whenever `k` records match.
    public func query(_ vector: [Float], k: Int = 10, ef: Int? = nil, where filter: WhereFilter? = nil) throws -> QueryResult {
        try QueryLimits.check(k: k, ef: ef)
        return try lock.read {
            try check(vector, field: "vector")
            let query = PaddedVector(vector, stride: storage.stride, normalize: _config.metric == .cosine)
            let liveCount = idToSlot.count
            let efSearch = max(ef ?? _config.hnsw?.efSearch ?? 64, k)
            guard let filter else {
                if let graph {
                    return result(graph.search(query.pointer, k: k, ef: efSearch), .hnsw, candidates: liveCount)
                }
                let found = live.withUnsafeBufferPointer {
                    ExactScan.search(storage: storage, metric: _config.metric, queries: [query], k: k, live: $0.baseAddress!, slotCount: highWater)
                }
                return result(found[0], .exact, candidates: liveCount)
            }
            var allowed = [UInt64](repeating: 0, count: live.count)
            var matching: [UInt32] = []
            for slot in 0..<highWater where slotIDs[slot] != nil && filter.matches(slotMetadata[slot]) {
                allowed[slot >> 6] |= 1 << UInt64(slot & 63)
                matching.append(UInt32(slot))
            }
            let exact = {
                self.result(
                    ExactScan.search(storage: self.storage, metric: self._config.metric, query: query, k: k, slots: matching),
                    .filteredExact, candidates: matching.count)
            }
            guard let graph, !matching.isEmpty else { return exact() }
            let selectivity = Double(matching.count) / Double(max(liveCount, 1))
            let widened = Int(min(Double(efSearch) / selectivity, Double(max(liveCount, efSearch))))
            let graphCost = Double(widened) * Double(graph.m0)
            if Double(matching.count) <= graphCost { return exact() }
            let found = allowed.withUnsafeBufferPointer {
                graph.search(query.pointer, k: k, ef: widened, allowed: $0.baseAddress!)
            }
            if found.count < min(k, matching.count) { return exact() }
            return result(found, .hnsw, candidates: matching.count)
        }
    }

    /// Exact top-`k` for many queries at once (the blocked scan), ignoring any graph.
    public func exactSearch(_ vectors: [[Float]], k: Int) throws -> [[QueryMatch]] {
        try QueryLimits.check(k: k, ef: nil)
        return try lock.read {
            for (i, v) in vectors.enumerated() { try check(v, field: "vectors[\(i)]") }
            let queries = vectors.map { PaddedVector($0, stride: storage.stride, normalize: _config.metric == .cosine) }
            var out: [[QueryMatch]] = []
            out.reserveCapacity(queries.count)
            let batch = 256
            var start = 0
            while start < queries.count {
                let part = Array(queries[start..<min(start + batch, queries.count)])
                let found = live.withUnsafeBufferPointer {
                    ExactScan.search(storage: storage, metric: _config.metric, queries: part, k: k, live: $0.baseAddress!, slotCount: highWater)
                }
                out.append(contentsOf: found.map { result($0, .exact, candidates: 0).matches })
                start += batch
            }
            return out
        }
    }

    private func result(_ found: [(Float, UInt32)], _ strategy: QueryStrategy, candidates: Int) -> QueryResult {
        let matches = found.map { pair in
            let slot = Int(pair.1)
            return QueryMatch(id: slotIDs[slot]!, distance: max(pair.0, 0), metadata: slotMetadata[slot], document: slotDocuments[slot])
        }
        return QueryResult(matches: matches, strategy: strategy, candidates: candidates)
    }

    // MARK: - Diagnostics for tests and the index file

    /// Live records a graph search cannot reach from the entry point (should be none).
    public func unreachableRecordCount() -> Int {
        lock.read { graph?.unreachableLiveSlots().count ?? 0 }
    }

    /// Nodes marked deleted but not yet purged.
    public var pendingDeletes: Int { lock.read { graph?.deletedCount ?? 0 } }

    func withExclusiveAccess<T>(_ body: () throws -> T) rethrows -> T { try lock.write(body) }

    /// Slot assignments of the live records (for the index file check).
    func liveSlots() -> [Int] { (0..<highWater).filter { slotIDs[$0] != nil } }
    var slotHighWater: Int { highWater }
    var sequenceUnlocked: Int { _sequence }

    /// Loads journalled records into memory without writing them back (store open).
    func load(_ rows: [(record: VectorRecord, slot: Int)], buildGraph: Bool, progress: (@Sendable (Int, Int) -> Void)? = nil) {
        lock.write {
            let saved = graph
            if !buildGraph { graph = nil }
            let next = (rows.map(\.slot).max() ?? -1) + 1
            place(rows, highWater: next, progress: progress)
            let used = Set(rows.map(\.slot))
            freeSlots = (0..<highWater).filter { !used.contains($0) }.reversed()
            if !buildGraph { graph = saved }
        }
    }

    func replaceGraph(_ newGraph: HNSWGraph?) { graph = newGraph }
    var configUnlocked: CollectionConfig { _config }
    /// Purges deleted nodes; the caller holds the write lock.
    func purgeUnlocked() {
        if let graph { freeSlots.append(contentsOf: graph.purgeDeleted()) }
    }
}
