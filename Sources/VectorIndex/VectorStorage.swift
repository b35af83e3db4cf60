/// Contiguous, 64-byte aligned storage of padded float rows, one row per slot.
///
/// Slots are dense integers; the collection maps record ids to them. Growing
/// reallocates, so it happens only while the owner holds exclusive access.
final class VectorStorage: @unchecked Sendable {
    // Mutated only by the owning collection under its write lock; read under its read lock.
    let dimension: Int
    let stride: Int
    private(set) var capacity: Int
    private(set) var base: UnsafeMutablePointer<Float>
    /// Squared norm of each row, for the batched exact L2 scan.
    private(set) var norms: UnsafeMutablePointer<Float>

    init(dimension: Int, capacity: Int = 1024) {
        self.dimension = dimension
        stride = Distance.stride(for: dimension)
        self.capacity = max(capacity, 16)
        base = VectorStorage.allocate(rows: self.capacity, stride: stride)
        norms = .allocate(capacity: self.capacity)
        norms.initialize(repeating: 0, count: self.capacity)
    }

    deinit {
        UnsafeMutableRawPointer(base).deallocate()
        norms.deallocate()
    }

    private static func allocate(rows: Int, stride: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: rows * stride * 4, alignment: 64)
        let p = raw.bindMemory(to: Float.self, capacity: rows * stride)
        p.initialize(repeating: 0, count: rows * stride)
        return p
    }

    @inline(__always)
    func row(_ slot: Int) -> UnsafeMutablePointer<Float> { base + slot &* stride }

    /// Makes room for at least `needed` slots.
    func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = VectorStorage.allocate(rows: newCapacity, stride: stride)
        newBase.update(from: base, count: capacity * stride)
        UnsafeMutableRawPointer(base).deallocate()
        base = newBase
        norms = norms.regrown(from: capacity, to: newCapacity, filling: 0)
        capacity = newCapacity
    }

    /// Writes a row (already validated and, for cosine, normalised by the caller).
    func set(_ slot: Int, _ values: UnsafeBufferPointer<Float>) {
        let r = row(slot)
        var sq: Float = 0
        for i in 0..<dimension {
            r[i] = values[i]
            sq += values[i] * values[i]
        }
        for i in dimension..<stride { r[i] = 0 }
        norms[slot] = sq
    }

    func values(_ slot: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: row(slot), count: dimension))
    }
}

extension UnsafeMutablePointer {
    /// A buffer of `newCount` elements that starts with this one's first `oldCount` and is
    /// `fill` after them; this buffer is freed. How the storage and the graph grow.
    func regrown(from oldCount: Int, to newCount: Int, filling fill: Pointee) -> UnsafeMutablePointer<Pointee> {
        let grown = UnsafeMutablePointer<Pointee>.allocate(capacity: newCount)
        grown.initialize(repeating: fill, count: newCount)
        grown.update(from: self, count: oldCount)
        deallocate()
        return grown
    }
}
