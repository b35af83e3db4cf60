import Foundation
import MLInfraTesting
import MLInfraJSON
@testable import VectorIndex

func randomVectors(_ n: Int, dimension: Int, seed: UInt64 = 7) -> [[Float]] {
    var rng = SplitMix64(seed: seed)
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
