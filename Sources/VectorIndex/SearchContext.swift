import Foundation
import Synchronization

/// A binary max-heap of (distance, slot) pairs in manually managed storage.
///
/// Search keeps two: the result set (farthest on top) and the candidate
/// frontier (stored with negated distances so the closest is on top).
struct DistanceHeap {
    private(set) var keys: UnsafeMutablePointer<Float>
    private(set) var slots: UnsafeMutablePointer<UInt32>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
        keys = .allocate(capacity: capacity)
        slots = .allocate(capacity: capacity)
    }

    func free() {
        keys.deallocate()
        slots.deallocate()
    }

    var isEmpty: Bool { count == 0 }
    @inline(__always) var topKey: Float { keys[0] }
    @inline(__always) var topSlot: UInt32 { slots[0] }

    mutating func removeAll() { count = 0 }

    private mutating func grow() {
        let newCapacity = capacity * 2
        let k = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
        let s = UnsafeMutablePointer<UInt32>.allocate(capacity: newCapacity)
        k.update(from: keys, count: count)
        s.update(from: slots, count: count)
        keys.deallocate()
        slots.deallocate()
        keys = k
        slots = s
        capacity = newCapacity
    }

    @inline(__always)
    mutating func push(_ key: Float, _ slot: UInt32) {
        if count == capacity { grow() }
        var i = count
        count &+= 1
        while i > 0 {
            let parent = (i &- 1) &>> 1
            if keys[parent] >= key { break }
            keys[i] = keys[parent]
            slots[i] = slots[parent]
            i = parent
        }
        keys[i] = key
        slots[i] = slot
    }

    @inline(__always)
    mutating func pop() {
        count &-= 1
        if count == 0 { return }
        let key = keys[count]
        let slot = slots[count]
        var i = 0
        while true {
            let l = 2 &* i &+ 1
            if l >= count { break }
            var c = l
            let r = l &+ 1
            if r < count && keys[r] > keys[l] { c = r }
            if keys[c] <= key { break }
            keys[i] = keys[c]
            slots[i] = slots[c]
            i = c
        }
        keys[i] = key
        slots[i] = slot
    }
}

/// Per-thread scratch space for graph search: a visited list reused across
/// searches (an epoch tag per slot, cleared only when the tag wraps), the two
/// heaps, and buffers for neighbour lists and heuristic selection.
final class SearchContext: @unchecked Sendable {
    // @unchecked Sendable: scratch space of one query at a time; the pool hands each context to
    // one taker and gets it back when that query is done, so no two threads touch it at once.
    private(set) var visited: UnsafeMutablePointer<UInt16>
    private(set) var visitedCapacity: Int
    private var epoch: UInt16 = 0
    var results = DistanceHeap()
    var candidates = DistanceHeap()
    /// Copy of one neighbour list (taken under the node's lock while building).
    let neighbours: UnsafeMutablePointer<UInt32>
    /// Pairs for heuristic neighbour selection, sorted by distance.
    var pairs: [(Float, UInt32)] = []
    var selected: [(Float, UInt32)] = []

    init(capacity: Int, maxLinks: Int) {
        visitedCapacity = max(capacity, 16)
        visited = .allocate(capacity: visitedCapacity)
        visited.initialize(repeating: 0, count: visitedCapacity)
        neighbours = .allocate(capacity: maxLinks + 1)
        pairs.reserveCapacity(512)
        selected.reserveCapacity(512)
    }

    deinit {
        visited.deallocate()
        neighbours.deallocate()
        results.free()
        candidates.free()
    }

    /// Starts a new search over `capacity` slots; returns the tag that marks "visited".
    func beginSearch(capacity: Int) -> UInt16 {
        if capacity > visitedCapacity {
            visited.deallocate()
            visitedCapacity = capacity
            visited = .allocate(capacity: visitedCapacity)
            visited.initialize(repeating: 0, count: visitedCapacity)
            epoch = 0
        }
        epoch &+= 1
        if epoch == 0 {
            visited.update(repeating: 0, count: visitedCapacity)
            epoch = 1
        }
        results.removeAll()
        candidates.removeAll()
        return epoch
    }
}

/// A pool of search contexts so concurrent queries each get their own scratch space.
final class SearchContextPool: Sendable {
    private let free = Mutex<[SearchContext]>([])
    private let maxLinks: Int

    init(maxLinks: Int) { self.maxLinks = maxLinks }

    func take(capacity: Int) -> SearchContext {
        free.withLock { $0.popLast() } ?? SearchContext(capacity: capacity, maxLinks: maxLinks)
    }

    func give(_ ctx: SearchContext) {
        free.withLock { if $0.count < 16 { $0.append(ctx) } }
    }
}
