import Foundation
import Synchronization

/// A hierarchical navigable small-world graph (Malkov & Yashunin) over the
/// rows of a `VectorStorage`.
///
/// Layout follows hnswlib: layer 0 links live in one flat array of
/// `2m + 1` words per slot (a count, then neighbours); upper layers get one
/// small allocation per node that reaches them. Neighbours are chosen with the
/// paper's heuristic (hnswlib's `getNeighborsByHeuristic2`): a candidate is
/// kept only if it is closer to the new node than to every neighbour already
/// kept, which preserves links across clusters.
///
/// Deletion marks a node deleted: it keeps routing searches but never appears
/// in results, so the graph stays connected at once. `purgeDeleted` later
/// repairs every live node that links to a deleted one (choosing new
/// neighbours by the same heuristic among its live neighbours and the live
/// nodes reachable through its deleted ones), frees the deleted slots, and
/// then re-links any live node no longer reachable from the entry point.
///
/// Concurrency: `insert` may run on several threads at once when `locking`
/// is true (neighbour lists are read and written under striped per-node
/// locks, the entry point under a global lock), as hnswlib's `addPoint` does.
/// Everything else requires the caller's exclusive access, except `search`,
/// which may run concurrently with other searches.
final class HNSWGraph: @unchecked Sendable {
    // Safety of @unchecked Sendable: see the concurrency note above; the owning
    // collection enforces it with a readers-writer lock.
    let metric: Metric
    let storage: VectorStorage
    let m: Int
    let m0: Int
    let efConstruction: Int
    private let levelMultiplier: Double
    let seed: UInt64

    private(set) var capacity: Int
    private(set) var level0: UnsafeMutablePointer<UInt32>
    private(set) var upper: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>?>
    /// The top layer of each slot, or -1 when the slot holds no node.
    private(set) var levels: UnsafeMutablePointer<Int32>
    /// 1 when the node is deleted but still routes searches.
    private(set) var deleted: UnsafeMutablePointer<UInt8>
    private(set) var entryPoint: Int32 = -1
    private(set) var maxLevel: Int = -1
    private(set) var deletedCount = 0

    private static let stripeCount = 1 << 14
    private let stripes: UnsafeMutablePointer<pthread_mutex_t>
    private let global: UnsafeMutablePointer<pthread_mutex_t>
    let pool: SearchContextPool

    init(metric: Metric, storage: VectorStorage, parameters: HNSWParameters, seed: UInt64 = 100) {
        self.metric = metric
        self.storage = storage
        m = parameters.m
        m0 = parameters.m * 2
        efConstruction = max(parameters.efConstruction, parameters.m)
        levelMultiplier = 1 / log(Double(max(parameters.m, 2)))
        self.seed = seed
        capacity = storage.capacity
        level0 = .allocate(capacity: capacity * (m0 + 1))
        level0.initialize(repeating: 0, count: capacity * (m0 + 1))
        upper = .allocate(capacity: capacity)
        upper.initialize(repeating: nil, count: capacity)
        levels = .allocate(capacity: capacity)
        levels.initialize(repeating: -1, count: capacity)
        deleted = .allocate(capacity: capacity)
        deleted.initialize(repeating: 0, count: capacity)
        stripes = .allocate(capacity: HNSWGraph.stripeCount)
        for i in 0..<HNSWGraph.stripeCount { pthread_mutex_init(stripes + i, nil) }
        global = .allocate(capacity: 1)
        pthread_mutex_init(global, nil)
        pool = SearchContextPool(maxLinks: m0)
    }

    deinit {
        for i in 0..<capacity { upper[i]?.deallocate() }
        level0.deallocate()
        upper.deallocate()
        levels.deallocate()
        deleted.deallocate()
        for i in 0..<HNSWGraph.stripeCount { pthread_mutex_destroy(stripes + i) }
        stripes.deallocate()
        pthread_mutex_destroy(global)
        global.deallocate()
    }

    /// Grows the graph to the storage's capacity (call after `storage.reserve`, exclusively).
    func syncCapacity() {
        let newCapacity = storage.capacity
        guard newCapacity > capacity else { return }
        level0 = level0.regrown(from: capacity * (m0 + 1), to: newCapacity * (m0 + 1), filling: 0)
        upper = upper.regrown(from: capacity, to: newCapacity, filling: nil)
        levels = levels.regrown(from: capacity, to: newCapacity, filling: -1)
        deleted = deleted.regrown(from: capacity, to: newCapacity, filling: 0)
        capacity = newCapacity
    }

    // MARK: - Access

    @inline(__always)
    func links(_ slot: UInt32, _ level: Int) -> UnsafeMutablePointer<UInt32> {
        if level == 0 { return level0 + Int(slot) &* (m0 &+ 1) }
        return upper[Int(slot)]! + (level &- 1) &* (m &+ 1)
    }

    @inline(__always)
    private func lock(_ slot: UInt32) { pthread_mutex_lock(stripes + Int(slot & UInt32(HNSWGraph.stripeCount - 1))) }
    @inline(__always)
    private func unlock(_ slot: UInt32) { pthread_mutex_unlock(stripes + Int(slot & UInt32(HNSWGraph.stripeCount - 1))) }

    @inline(__always)
    func distance(_ a: UnsafePointer<Float>, _ slot: UInt32) -> Float {
        Distance.distance(metric, a, storage.row(Int(slot)), storage.stride)
    }

    @inline(__always)
    private func distance(_ a: UInt32, _ b: UInt32) -> Float {
        Distance.distance(metric, storage.row(Int(a)), storage.row(Int(b)), storage.stride)
    }

    func contains(_ slot: Int) -> Bool { slot < capacity && levels[slot] >= 0 }
    func isDeleted(_ slot: Int) -> Bool { deleted[slot] != 0 }

    /// The level a slot's node gets: `floor(-ln(U) / ln(m))`, with U drawn from a
    /// hash of the slot so a parallel build is as deterministic as a serial one.
    private func randomLevel(_ slot: UInt32) -> Int {
        var z = seed &+ UInt64(slot) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z = z ^ (z >> 31)
        let u = (Double(z >> 11) + 1) * 0x1p-53
        return min(Int(-log(u) * levelMultiplier), 30)
    }

    // MARK: - Search

    /// Greedy descent on one layer: moves to the closest neighbour until none is closer.
    /// Reads lists without locks, so only for searches (no concurrent writer).
    @inline(__always)
    private func greedy(_ query: UnsafePointer<Float>, from start: UInt32, startDistance: Float, level: Int)
        -> (UInt32, Float)
    {
        var current = start
        var currentDistance = startDistance
        let base = UnsafePointer(storage.base)
        let stride = storage.stride
        let metric = self.metric
        var changed = true
        while changed {
            changed = false
            let list = links(current, level)
            let n = Int(list[0])
            var i = 1
            while i <= n {
                let candidate = list[i]
                i &+= 1
                let d = Distance.distance(metric, query, base + Int(candidate) &* stride, stride)
                if d < currentDistance {
                    currentDistance = d
                    current = candidate
                    changed = true
                }
            }
        }
        return (current, currentDistance)
    }

    /// Best-first search of one layer (hnswlib's `searchBaseLayer`): leaves up to `ef`
    /// nearest allowed, non-deleted nodes in `ctx.results` (farthest on top).
    ///
    /// The hot loop works on local copies of every pointer and of the two heaps:
    /// reading them through `self` or `ctx` on each step costs dynamic exclusivity
    /// checks that are a large share of a search.
    private func searchLayer(
        _ ctx: SearchContext, _ query: UnsafePointer<Float>, entry: UInt32, entryDistance: Float,
        level: Int, ef: Int, locking: Bool, allowed: UnsafePointer<UInt64>?, includeDeleted: Bool = false
    ) {
        let tag = ctx.beginSearch(capacity: capacity)
        let visited = ctx.visited
        let deleted = self.deleted
        let base = UnsafePointer(storage.base)
        let stride = storage.stride
        let metric = self.metric
        let level0 = self.level0
        let words = m0 &+ 1
        let buffer = ctx.neighbours
        var results = ctx.results
        var candidates = ctx.candidates
        defer {
            ctx.results = results
            ctx.candidates = candidates
        }
        @inline(__always) func isAllowed(_ s: UInt32) -> Bool {
            if !includeDeleted && deleted[Int(s)] != 0 { return false }
            guard let allowed else { return true }
            return allowed[Int(s &>> 6)] & (1 &<< UInt64(s & 63)) != 0
        }
        var lowerBound = Float.infinity
        if isAllowed(entry) {
            results.push(entryDistance, entry)
            lowerBound = entryDistance
        }
        candidates.push(-entryDistance, entry)
        visited[Int(entry)] = tag
        let filtered = allowed != nil || (deletedCount > 0 && !includeDeleted)
        while !candidates.isEmpty {
            let candidateDistance = -candidates.topKey
            let current = candidates.topSlot
            if candidateDistance > lowerBound && (results.count == ef || !filtered) { break }
            candidates.pop()
            let list: UnsafePointer<UInt32>
            let n: Int
            let source = level == 0 ? level0 + Int(current) &* words : links(current, level)
            if locking {
                lock(current)
                n = Int(source[0])
                buffer.update(from: source + 1, count: n)
                unlock(current)
                list = UnsafePointer(buffer)
            } else {
                n = Int(source[0])
                list = UnsafePointer(source + 1)
            }
            var i = 0
            while i < n {
                let neighbour = list[i]
                i &+= 1
                if visited[Int(neighbour)] == tag { continue }
                visited[Int(neighbour)] = tag
                let d = Distance.distance(metric, query, base + Int(neighbour) &* stride, stride)
                if results.count < ef || d < lowerBound {
                    candidates.push(-d, neighbour)
                    if isAllowed(neighbour) {
                        results.push(d, neighbour)
                        if results.count > ef { results.pop() }
                    }
                    if !results.isEmpty { lowerBound = results.topKey }
                }
            }
        }
    }

    /// The `k` nearest live nodes to `query` (a padded row), closest first.
    /// `allowed`, when given, is a bitset of slots that may be returned.
    func search(_ query: UnsafePointer<Float>, k: Int, ef: Int, allowed: UnsafePointer<UInt64>? = nil) -> [(Float, UInt32)] {
        guard entryPoint >= 0 else { return [] }
        let ctx = pool.take(capacity: capacity)
        defer { pool.give(ctx) }
        var current = UInt32(entryPoint)
        var currentDistance = distance(query, current)
        if maxLevel > 0 {
            for level in stride(from: maxLevel, to: 0, by: -1) {
                (current, currentDistance) = greedy(query, from: current, startDistance: currentDistance, level: level)
            }
        }
        searchLayer(ctx, query, entry: current, entryDistance: currentDistance, level: 0, ef: max(ef, k), locking: false, allowed: allowed)
        while ctx.results.count > k { ctx.results.pop() }
        var out = [(Float, UInt32)](repeating: (0, 0), count: ctx.results.count)
        var i = out.count
        while !ctx.results.isEmpty {
            i -= 1
            out[i] = (ctx.results.topKey, ctx.results.topSlot)
            ctx.results.pop()
        }
        return out
    }

    // MARK: - Insertion

    /// hnswlib's `getNeighborsByHeuristic2`: from `input` (sorted by distance to the
    /// base node, closest first) keep a candidate only when it is closer to the base
    /// than to every candidate already kept; at most `limit`.
    @inline(__always)
    private func heuristic(_ input: [(Float, UInt32)], into output: inout [(Float, UInt32)], limit: Int) {
        output.removeAll(keepingCapacity: true)
        if input.count <= limit {
            output.append(contentsOf: input)
            return
        }
        for (d, candidate) in input {
            if output.count >= limit { break }
            var good = true
            let row = storage.row(Int(candidate))
            for (_, kept) in output where distance(row, kept) < d {
                good = false
                break
            }
            if good { output.append((d, candidate)) }
        }
    }

    /// Links `slot` to its selected neighbours on `level` and the neighbours back to it,
    /// pruning a full neighbour list with the heuristic. Returns the closest neighbour.
    private func connect(_ slot: UInt32, level: Int, _ ctx: SearchContext, locking: Bool) -> UInt32 {
        ctx.pairs.removeAll(keepingCapacity: true)
        while !ctx.results.isEmpty {
            ctx.pairs.append((ctx.results.topKey, ctx.results.topSlot))
            ctx.results.pop()
        }
        ctx.pairs.reverse()
        heuristic(ctx.pairs, into: &ctx.selected, limit: m)
        let selected = ctx.selected
        let own = links(slot, level)
        if locking { lock(slot) }
        own[0] = UInt32(selected.count)
        for (i, pair) in selected.enumerated() { own[i + 1] = pair.1 }
        if locking { unlock(slot) }

        let limit = level == 0 ? m0 : m
        for (d, neighbour) in selected {
            if locking { lock(neighbour) }
            let list = links(neighbour, level)
            let n = Int(list[0])
            if n < limit {
                list[n + 1] = slot
                list[0] = UInt32(n + 1)
            } else {
                ctx.pairs.removeAll(keepingCapacity: true)
                ctx.pairs.append((d, slot))
                for i in 1...n { ctx.pairs.append((distance(neighbour, list[i]), list[i])) }
                ctx.pairs.sort { $0.0 < $1.0 }
                heuristic(ctx.pairs, into: &ctx.selected, limit: limit)
                list[0] = UInt32(ctx.selected.count)
                for (i, pair) in ctx.selected.enumerated() { list[i + 1] = pair.1 }
            }
            if locking { unlock(neighbour) }
        }
        return selected.first?.1 ?? slot
    }

    /// Adds the node for `slot`, whose row is already in storage. Thread-safe with
    /// other inserts when `locking` is true; the caller must have reserved capacity.
    func insert(_ slot: UInt32, ctx: SearchContext, locking: Bool) {
        let level = randomLevel(slot)
        let s = Int(slot)
        upper[s]?.deallocate()
        upper[s] = nil
        if level > 0 {
            let block = UnsafeMutablePointer<UInt32>.allocate(capacity: level * (m + 1))
            block.initialize(repeating: 0, count: level * (m + 1))
            upper[s] = block
        }
        level0[s * (m0 + 1)] = 0
        deleted[s] = 0
        levels[s] = Int32(level)

        if locking { pthread_mutex_lock(global) }
        let entry = entryPoint
        let top = maxLevel
        if entry < 0 {
            entryPoint = Int32(slot)
            maxLevel = level
            if locking { pthread_mutex_unlock(global) }
            return
        }
        let holdsGlobal = level > top
        if locking && !holdsGlobal { pthread_mutex_unlock(global) }

        let query = UnsafePointer(storage.row(s))
        var current = UInt32(entry)
        var currentDistance = distance(query, current)
        if level < top {
            for l in stride(from: top, to: level, by: -1) {
                (current, currentDistance) = greedyLocked(query, from: current, startDistance: currentDistance, level: l, locking: locking)
            }
        }
        for l in stride(from: min(level, top), through: 0, by: -1) {
            // Deleted nodes may be chosen as neighbours: they still route until the next
            // purge, which re-links around them. Skipping them could leave a node unlinked.
            searchLayer(
                ctx, query, entry: current, entryDistance: currentDistance, level: l, ef: efConstruction, locking: locking,
                allowed: nil, includeDeleted: true)
            current = connect(slot, level: l, ctx, locking: locking)
            currentDistance = distance(query, current)
        }
        if holdsGlobal {
            entryPoint = Int32(slot)
            maxLevel = level
            if locking { pthread_mutex_unlock(global) }
        }
    }

    /// Greedy descent that copies each neighbour list under its node's lock.
    private func greedyLocked(_ query: UnsafePointer<Float>, from start: UInt32, startDistance: Float, level: Int, locking: Bool)
        -> (UInt32, Float)
    {
        guard locking else { return greedy(query, from: start, startDistance: startDistance, level: level) }
        var current = start
        var currentDistance = startDistance
        var buffer = [UInt32](repeating: 0, count: m0 + 1)
        var changed = true
        while changed {
            changed = false
            let node = current
            lock(node)
            let list = links(node, level)
            let n = Int(list[0])
            for i in 0..<n { buffer[i] = list[i + 1] }
            unlock(node)
            for i in 0..<n {
                let d = distance(query, buffer[i])
                if d < currentDistance {
                    currentDistance = d
                    current = buffer[i]
                    changed = true
                }
            }
        }
        return (current, currentDistance)
    }

    /// Inserts many slots, on `threads` threads when more than one. After a large batch,
    /// or one that is a large part of the graph (an eighth or more: the search for the lost
    /// costs a walk of the whole graph), re-links any node the heuristic left without incoming
    /// links. Small graphs need it most: 120 near-duplicate-rich records built on two threads
    /// left one with no way in, so that no `ef` found it.
    func insertAll(_ slots: [UInt32], threads: Int, progress: (@Sendable (Int) -> Void)? = nil) {
        guard !slots.isEmpty else { return }
        defer {
            if slots.count >= 256 || (slots.count >= 32 && slots.count * 8 >= nodeCount()) {
                let ctx = pool.take(capacity: capacity)
                relinkUnreachable(ctx)
                pool.give(ctx)
            }
        }
        let workers = max(1, min(threads, slots.count / 64 + 1))
        if workers == 1 {
            let ctx = pool.take(capacity: capacity)
            for (i, slot) in slots.enumerated() {
                insert(slot, ctx: ctx, locking: false)
                if let progress, i & 1023 == 1023 { progress(i + 1) }
            }
            pool.give(ctx)
            progress?(slots.count)
            return
        }
        // The next batch of 64 slots to insert, claimed by whichever worker asks first.
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let ctx = pool.take(capacity: capacity)
            while true {
                let i = next.wrappingAdd(64, ordering: .relaxed).oldValue
                if i >= slots.count { break }
                for j in i..<min(i + 64, slots.count) {
                    insert(slots[j], ctx: ctx, locking: true)
                }
                if let progress { progress(min(i + 64, slots.count)) }
            }
            pool.give(ctx)
        }
    }

    // MARK: - Deletion and repair

    func markDeleted(_ slot: Int) {
        guard contains(slot), deleted[slot] == 0 else { return }
        deleted[slot] = 1
        deletedCount += 1
    }

    /// Repairs links around deleted nodes, frees their slots (returned), and
    /// re-links live nodes that became unreachable. Requires exclusive access.
    func purgeDeleted() -> [Int] {
        guard deletedCount > 0 else { return [] }
        let ctx = pool.take(capacity: capacity)
        defer { pool.give(ctx) }
        var freed: [Int] = []
        var stack: [UInt32] = []
        for s in 0..<capacity where levels[s] >= 0 {
            if deleted[s] != 0 {
                freed.append(s)
                continue
            }
            let slot = UInt32(s)
            for level in 0...Int(levels[s]) {
                let list = links(slot, level)
                let n = Int(list[0])
                var touched = false
                for i in 0..<n where deleted[Int(list[i + 1])] != 0 {
                    touched = true
                    break
                }
                guard touched else { continue }
                let tag = ctx.beginSearch(capacity: capacity)
                ctx.visited[s] = tag
                ctx.pairs.removeAll(keepingCapacity: true)
                stack.removeAll(keepingCapacity: true)
                for i in 0..<n { stack.append(list[i + 1]) }
                var expanded = 0
                while let node = stack.popLast() {
                    if ctx.visited[Int(node)] == tag { continue }
                    ctx.visited[Int(node)] = tag
                    if deleted[Int(node)] == 0 {
                        ctx.pairs.append((distance(slot, node), node))
                    } else if expanded < 64 && Int(levels[Int(node)]) >= level {
                        expanded += 1
                        let dl = links(node, level)
                        for j in 0..<Int(dl[0]) { stack.append(dl[j + 1]) }
                    }
                }
                ctx.pairs.sort { $0.0 < $1.0 }
                heuristic(ctx.pairs, into: &ctx.selected, limit: level == 0 ? m0 : m)
                list[0] = UInt32(ctx.selected.count)
                for (i, pair) in ctx.selected.enumerated() { list[i + 1] = pair.1 }
            }
        }
        for s in freed {
            upper[s]?.deallocate()
            upper[s] = nil
            levels[s] = -1
            deleted[s] = 0
            level0[s * (m0 + 1)] = 0
        }
        deletedCount = 0
        if entryPoint >= 0 && levels[Int(entryPoint)] < 0 {
            entryPoint = -1
            maxLevel = -1
            for s in 0..<capacity where Int(levels[s]) > maxLevel {
                maxLevel = Int(levels[s])
                entryPoint = Int32(s)
            }
        }
        relinkUnreachable(ctx)
        return freed
    }

    /// Live nodes that a search starting at the entry point cannot reach on layer 0
    /// (deleted nodes are traversed, as search does).
    /// How many nodes the graph holds, deleted ones included.
    private func nodeCount() -> Int {
        var n = 0
        for s in 0..<capacity where levels[s] >= 0 { n += 1 }
        return n
    }

    func unreachableLiveSlots() -> [Int] {
        guard entryPoint >= 0 else { return [] }
        var seen = [Bool](repeating: false, count: capacity)
        var stack: [UInt32] = [UInt32(entryPoint)]
        seen[Int(entryPoint)] = true
        while let node = stack.popLast() {
            let list = links(node, 0)
            for i in 0..<Int(list[0]) where !seen[Int(list[i + 1])] {
                seen[Int(list[i + 1])] = true
                stack.append(list[i + 1])
            }
        }
        return (0..<capacity).filter { levels[$0] >= 0 && deleted[$0] == 0 && !seen[$0] }
    }

    /// Links each unreachable live node from its nearest reachable nodes on layer 0,
    /// replacing their farthest neighbour when their list is full.
    func relinkUnreachable(_ ctx: SearchContext) {
        for _ in 0..<3 {
            let lost = unreachableLiveSlots()
            if lost.isEmpty { return }
            let lostSet = Set(lost)
            for s in lost {
                let slot = UInt32(s)
                let query = UnsafePointer(storage.row(s))
                let entry = UInt32(entryPoint)
                searchLayer(
                    ctx, query, entry: entry, entryDistance: distance(query, entry), level: 0, ef: efConstruction, locking: false,
                    allowed: nil, includeDeleted: true)
                var found: [(Float, UInt32)] = []
                while !ctx.results.isEmpty {
                    if !lostSet.contains(Int(ctx.results.topSlot)) && ctx.results.topSlot != slot {
                        found.append((ctx.results.topKey, ctx.results.topSlot))
                    }
                    ctx.results.pop()
                }
                for (_, host) in found.reversed().prefix(2) {
                    let list = links(host, 0)
                    let n = Int(list[0])
                    if (1...max(n, 1)).contains(where: { $0 <= n && list[$0] == slot }) { continue }
                    if n < m0 {
                        list[n + 1] = slot
                        list[0] = UInt32(n + 1)
                    } else {
                        var worst = 1
                        var worstDistance = -Float.infinity
                        for i in 1...n {
                            let d = distance(host, list[i])
                            if d > worstDistance {
                                worstDistance = d
                                worst = i
                            }
                        }
                        list[worst] = slot
                    }
                }
            }
        }
    }

    // MARK: - Loading

    /// Restores the graph's structure (used by the index file reader).
    func restore(entryPoint: Int32, maxLevel: Int) {
        self.entryPoint = entryPoint
        self.maxLevel = maxLevel
    }

    func setNode(_ slot: Int, level: Int) {
        upper[slot]?.deallocate()
        upper[slot] = nil
        levels[slot] = Int32(level)
        deleted[slot] = 0
        if level > 0 {
            let block = UnsafeMutablePointer<UInt32>.allocate(capacity: level * (m + 1))
            block.initialize(repeating: 0, count: level * (m + 1))
            upper[slot] = block
        }
    }
}
