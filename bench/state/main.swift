// State format and storage benchmark (outside the test run).
//
//   StateBench codec N              encode, decode and re-encode a state of N resources
//   StateBench journal N WIDTH DIR  N journal appends, WIDTH in flight, through a LocalStateStore in DIR
//                                   (add `nosync` to skip the per-append fdatasync)
//
// CPU seconds are printed beside wall seconds: on a shared machine they are the comparable figure.
import Foundation
import MLInfraCore

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

func f3(_ x: Double) -> String { String(format: "%.3f", x) }

/// Measures `body`, returning its result with wall and CPU seconds.
func measure<T>(_ body: () throws -> T) rethrows -> (T, wall: Double, cpu: Double) {
    let c = cpuSeconds()
    let t = Date()
    let result = try body()
    return (result, Date().timeIntervalSince(t), cpuSeconds() - c)
}

/// Resources shaped like model versions: 4 inputs (one a nested map), 6 attributes, one dependency.
func resources(_ n: Int) -> [ResourceInstanceState] {
    (0..<n).map { i in
        let name = "res\(i)"
        return ResourceInstanceState(
            address: "model_version.\(name)", type: "model_version", id: "\(name)/3",
            inputs: [
                "model": .string(name), "source": .string("s3://bucket/models/\(name)/model.pkl"),
                "version_description": "trained on 2026-11-01 data", "tags": ["team": "fraud", "stage": "prod"],
            ],
            attributes: [
                "version": 3, "id": .string("\(name)/3"), "created": 1_763_000_000.25,
                "url": .string("http://127.0.0.1:8080/models/\(name)"), "ready": true, "size_bytes": 123_456_789,
            ],
            dependencies: ["model.\(name)"], schemaVersion: 1)
    }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, let n = Int(arguments[2]) else {
    print("usage: StateBench codec N | StateBench journal N WIDTH DIR [nosync]")
    exit(2)
}

switch arguments[1] {
case "codec":
    var state = StateFile.new()
    state.resources = resources(n)
    let (bytes, encodeWall, encodeCPU) = measure { StateCodec.encode(state) }
    let (decoded, decodeWall, decodeCPU) = try measure { try StateCodec.decode(bytes, path: "bench.json") }
    let (again, reWall, reCPU) = measure { StateCodec.encode(decoded) }
    precondition(again == bytes && decoded == state, "the round trip changed the state")
    print(
        "codec: \(n) resources, \(bytes.count / 1_000_000) MB; wall encode \(f3(encodeWall))s decode \(f3(decodeWall))s "
            + "re-encode \(f3(reWall))s; cpu encode \(f3(encodeCPU))s decode \(f3(decodeCPU))s re-encode \(f3(reCPU))s")

case "journal":
    guard arguments.count >= 5, let width = Int(arguments[3]) else {
        print("usage: StateBench journal N WIDTH DIR [nosync]")
        exit(2)
    }
    let path = arguments[4] + "/bench-state.json"
    let store = LocalStateStore(path: path, syncsJournal: !arguments.contains("nosync"))
    let all = resources(n)
    let base = StateFile.new()
    let start = Date()
    try await store.beginJournal(base: base)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for lane in 0..<width {
            group.addTask {
                for k in stride(from: lane, to: all.count, by: width) { try await store.append(.upsert(all[k])) }
            }
        }
        try await group.waitForAll()
    }
    let appended = Date()
    var folded = base
    for r in all { folded.upsert(r) }
    let serial = try await store.commitJournal(folded)
    let committed = Date()
    let read = try await LocalStateStore(path: path).read()
    let readBack = Date().timeIntervalSince(committed)
    precondition(read?.count == n && serial == 1, "the journal lost resources")
    let appendSeconds = appended.timeIntervalSince(start)
    print(
        "journal: \(n) appends, \(width) in flight\(arguments.contains("nosync") ? ", no fdatasync" : ""): "
            + "\(f3(appendSeconds))s (\(Int(appendSeconds * 1e6 / Double(n))) µs each), "
            + "commit \(f3(committed.timeIntervalSince(appended)))s, read back \(f3(readBack))s")
    for suffix in ["", ".backup", ".journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }

default:
    print("unknown mode \(arguments[1])")
    exit(2)
}
