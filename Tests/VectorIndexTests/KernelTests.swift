import Testing
import MLInfraJSON
@testable import VectorIndex

/// The AVX2 + FMA kernels (when this CPU has them) against the portable Swift code, and both
/// exact scans against brute force, including dead slots and query counts that are not
/// multiples of the kernel's 4 × 3 tile.
@Suite struct KernelTests {
    @Test(arguments: [3, 16, 33, 128])
    func distanceKernelsAgreeWithPortableCode(dimension: Int) {
        let storage = VectorStorage(dimension: dimension)
        let vectors = randomVectors(20, dimension: dimension, seed: 3)
        storage.reserve(vectors.count)
        for (slot, v) in vectors.enumerated() { v.withUnsafeBufferPointer { storage.set(slot, $0) } }
        for a in 0..<vectors.count {
            for b in 0..<vectors.count {
                let l2 = Distance.squaredL2(storage.row(a), storage.row(b), storage.stride)
                let dot = Distance.dot(storage.row(a), storage.row(b), storage.stride)
                let exactL2 = zip(vectors[a], vectors[b]).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
                let exactDot = zip(vectors[a], vectors[b]).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                #expect(abs(Double(l2) - exactL2) < 1e-4 * max(1, exactL2))
                #expect(abs(Double(dot) - exactDot) < 1e-4 * max(1, abs(exactDot)))
                #expect(abs(l2 - Distance.portableSquaredL2(storage.row(a), storage.row(b), storage.stride)) < 1e-4 * max(1, l2))
                #expect(abs(dot - Distance.portableDot(storage.row(a), storage.row(b), storage.stride)) < 1e-4 * max(1, abs(dot)))
            }
        }
    }

    @Test(arguments: [Metric.l2, .ip], [false, true])
    func bothExactScansMatchBruteForce(metric: Metric, accelerated: Bool) {
        if accelerated && !Distance.accelerated { return }  // this CPU has no AVX2: the portable scan is the only one
        let dimension = 24
        let vectors = randomVectors(1_000, dimension: dimension, seed: 17)
        let storage = VectorStorage(dimension: dimension)
        storage.reserve(vectors.count)
        for (slot, v) in vectors.enumerated() { v.withUnsafeBufferPointer { storage.set(slot, $0) } }
        // Every seventh slot is dead.
        var live = [UInt64](repeating: 0, count: (vectors.count + 63) / 64)
        for slot in 0..<vectors.count where slot % 7 != 0 { live[slot / 64] |= 1 << UInt64(slot % 64) }
        let queryValues = randomVectors(70, dimension: dimension, seed: 23)
        let queries = queryValues.map { PaddedVector($0, stride: storage.stride, normalize: false) }
        let found = live.withUnsafeBufferPointer {
            ExactScan.search(
                storage: storage, metric: metric, queries: queries, k: 9, live: $0.baseAddress!, slotCount: vectors.count,
                accelerated: accelerated)
        }
        for (q, query) in queryValues.enumerated() {
            let expected = (0..<vectors.count).filter { $0 % 7 != 0 }.map { slot -> (Double, Int) in
                let pairs = zip(vectors[slot], query)
                let d = metric == .l2
                    ? pairs.reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
                    : 1 - pairs.reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                return (d, slot)
            }.sorted { $0 < $1 }.prefix(9)
            #expect(found[q].map { Int($0.1) } == expected.map(\.1))
            for (got, want) in zip(found[q], expected) { #expect(abs(Double(got.0) - want.0) < 1e-3 * max(1, abs(want.0))) }
        }
    }
}
