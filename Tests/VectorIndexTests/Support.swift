import Foundation
@testable import VectorIndex

/// Deterministic pseudo-random numbers for test data (SplitMix64).
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomVectors(_ n: Int, dimension: Int, seed: UInt64 = 7) -> [[Float]] {
    var rng = SeededRandom(seed)
    return (0..<n).map { _ in (0..<dimension).map { _ in Float.random(in: -1...1, using: &rng) } }
}

/// Brute-force top-k ids under a metric, in plain Double arithmetic.
func bruteForce(_ records: [VectorRecord], _ query: [Float], k: Int, metric: Metric, filter: WhereFilter? = nil) -> [String] {
    func norm(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
    let scored = records.filter { filter?.matches($0.metadata) ?? true }.map { r -> (Double, String) in
        switch metric {
        case .l2: return (zip(r.vector, query).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }, r.id)
        case .ip: return (1 - zip(r.vector, query).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }, r.id)
        case .cosine:
            return (1 - zip(r.vector, query).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / (norm(r.vector) * norm(query)), r.id)
        }
    }
    return scored.sorted { $0.0 < $1.0 }.prefix(k).map(\.1)
}

func makeRecords(_ vectors: [[Float]]) -> [VectorRecord] {
    let colours = ["red", "green", "blue", "black"]
    return vectors.enumerated().map { i, v in
        VectorRecord(
            id: "r\(i)", vector: v,
            metadata: [
                "i": .int(i), "colour": .string(colours[i % 4]), "price": .float(Double(i) / 10),
                "even": .bool(i % 2 == 0), "tags": .strings(i % 3 == 0 ? ["fizz", "x"] : ["y"]),
            ],
            document: "document \(i)")
    }
}

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "vectorindex-tests-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func recallAt(_ found: [String], _ truth: [String]) -> Double {
    Double(Set(found).intersection(truth).count) / Double(truth.count)
}
