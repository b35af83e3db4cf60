import CaptureStorage
import DriftMonitor
import Foundation
import Logging
import MLInfraTesting
import ModelServing
import Testing

/// The stores the serving engine may write captured traffic to, each made fresh for a test.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case memory, sqlite, postgres
    var testDescription: String { rawValue }

    /// A new, empty store, its location (nil for memory) and a data directory to remove afterwards.
    func make() async throws -> (store: any CaptureStore, location: CaptureStoreLocation?, directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        switch self {
        case .memory:
            return (MemoryCaptureStore(), nil, directory)
        case .sqlite:
            let location = CaptureStoreLocation.local(dataDirectory: directory.path)
            return (try location.open(create: true), location, directory)
        case .postgres:
            let server = try await PostgresTestServer.shared()
            let database = try await server.createFreshDatabase("capture")
            let location = CaptureStoreLocation(server.url(database: database), dataDirectory: directory.path)
            return (try location.open(create: true), location, directory)
        }
    }
}

let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

func record(_ endpoint: String, _ time: Double, _ x: Int, requestID: String? = nil) -> CaptureRecord {
    CaptureRecord(endpoint: endpoint, version: "m/1", time: time, requestID: requestID, inputs: #"{"x":\#(x)}"#, outputs: #"{"p":0.5}"#, latencyMs: 1.5)
}

/// The rules written on `CaptureStore`, on every implementation.
@Suite struct CaptureStoreConformanceTests {
    @Test(arguments: StoreKind.allCases)
    func windowsAreHalfOpenOrderedAndPerEndpoint(kind: StoreKind) async throws {
        let (store, _, dir) = try await kind.make()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try store.latestTime(endpoint: "a") == nil && store.count(endpoint: "a") == 0)
        try store.append([record("a", 20, 2, requestID: "r2"), record("a", 10, 1, requestID: "r1"), record("b", 15, 9), record("a", 20, 3)])
        try store.append([record("a", 30, 4)])
        try store.append([])
        let window = try store.records(endpoint: "a", after: 10, through: 20, limit: nil)
        #expect(window.map(\.inputs) == [#"{"x":2}"#, #"{"x":3}"#], "start excluded, end included, equal times in insertion order")
        #expect(window.map(\.requestID) == ["r2", nil])
        #expect(window.allSatisfy { $0.id != nil && $0.version == "m/1" && $0.outputs == #"{"p":0.5}"# && $0.latencyMs == 1.5 })
        let all = try store.records(endpoint: "a", limit: 10)
        #expect(all.map(\.time) == [10, 20, 20, 30])
        #expect(try store.records(endpoint: "a", limit: 2).map(\.time) == [10, 20])
        #expect(try store.latestTime(endpoint: "a") == 30 && store.count(endpoint: "a") == 4 && store.count(endpoint: "b") == 1)
        #expect(try store.records(endpoint: "c", limit: 10).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func aLargeBatchIsOneAppend(kind: StoreKind) async throws {
        let (store, _, dir) = try await kind.make()
        defer { try? FileManager.default.removeItem(at: dir) }
        var batch = (0..<5000).map { record("big", Double($0), $0, requestID: $0 % 2 == 0 ? "q\($0)" : nil) }
        for i in stride(from: 0, to: 5000, by: 3) { batch[i].entity = #"{"customer_id":\#(i)}"# }
        try store.append(batch)
        let back = try store.records(endpoint: "big", after: -1, through: 1e9, limit: nil)
        #expect(back.count == 5000 && back.map(\.inputs) == batch.map(\.inputs))
        #expect(back.map(\.requestID) == batch.map(\.requestID) && back.map(\.entity) == batch.map(\.entity))
    }

    @Test(arguments: StoreKind.allCases)
    func labelsAreReadByArrivalTimePerEndpoint(kind: StoreKind) async throws {
        let (store, _, dir) = try await kind.make()
        defer { try? FileManager.default.removeItem(at: dir) }
        try store.appendLabels([
            LabelRecord(endpoint: "a", requestID: "r1", label: 1, received: 100),
            LabelRecord(endpoint: "a", entity: #"{"customer_id":"7"}"#, time: 42.5, label: 0, received: 200),
            LabelRecord(endpoint: "b", requestID: "r9", label: 3.25, received: 150),
            LabelRecord(endpoint: "a", requestID: "r1", label: 0, received: 300),
        ])
        try store.appendLabels([])
        let window = try store.labels(endpoint: "a", receivedAfter: 100, through: 300)
        #expect(window == [LabelRecord(endpoint: "a", entity: #"{"customer_id":"7"}"#, time: 42.5, label: 0, received: 200),
                           LabelRecord(endpoint: "a", requestID: "r1", label: 0, received: 300)])
        #expect(try store.labels(endpoint: "b", receivedAfter: 0, through: 1000).map(\.label) == [3.25])
    }

    @Test func aReaderDoesNotCreateAStoreAndSaysWhy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capture-\(UUID().uuidString)")
        let error = #expect(throws: CaptureStoreError.self) { try CaptureStoreLocation.local(dataDirectory: dir.path).open(create: false) }
        #expect(error?.code == .notFound && error?.remedy.contains("sample_percent") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.path))
    }

    @Test func aPostgresURLNeverShowsItsPassword() throws {
        let location = CaptureStoreLocation("postgres://u:hunter2@127.0.0.1:1/db", dataDirectory: "/tmp")
        #expect(!location.description.contains("hunter2") && location.description.contains("127.0.0.1"))
        let error = #expect(throws: CaptureStoreError.self) { try location.open(create: false) }
        #expect(error.map { !$0.description.contains("hunter2") } == true)
        #expect(throws: CaptureStoreError.self) { try PostgresCaptureStore(url: "postgres://u@127.0.0.1:1/db", schema: "Bad-Name") }
    }
}

/// The contract between the two engines: the serving engine's writer writes, the drift monitor's
/// reader reads, on each store.
@Suite struct CaptureWriterToMonitorTests {
    @Test(arguments: [StoreKind.sqlite, .postgres])
    func whatTheWriterCapturesTheMonitorReads(kind: StoreKind) async throws {
        let (store, location, dir) = try await kind.make()
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = CaptureWriter(store: store, logger: quiet)
        let now = Date(timeIntervalSince1970: 1_764_590_400)
        // 50 requests of two instances each; every fifth has an instance with both features null,
        // as the endpoint answers for an entity the feature store does not know.
        for i in 0..<50 {
            let second = i % 5 == 0 ? "[null, null]" : "[\(Double(i) / 4), \(50 - i)]"
            let request = Data(#"{"instances": [[\#(i), \#(i % 7)], \#(second)]}"#.utf8)
            let response = Data(#"{"predictions": [0.\#(i % 9 + 1), 0.5]}"#.utf8)
            writer.submit(.init(endpoint: "fraud", version: i < 25 ? "fraud/1" : "fraud/2", time: now.timeIntervalSince1970 - 600 + Double(i),
                                kind: .predict, request: request, response: response, latencyMs: 2,
                                featureNames: ["amount", "age"], outputNames: ["score"]))
        }
        #expect(writer.flush() == 100 && writer.written == 100)

        var reference = "amount,age\n"
        for i in 0..<300 { reference += "\(Double(i % 60)),\(i % 7)\n" }
        let referencePath = dir.appendingPathComponent("reference.csv").path
        try reference.write(toFile: referencePath, atomically: true, encoding: .utf8)
        let engine = try DriftMonitorEngine(dataDirectory: dir.appendingPathComponent("data").path, capture: location, logger: quiet)
        try engine.apply(MonitorDefinition(name: "fraud", source: .endpoint("fraud"), reference: referencePath, window: 3600))
        let run = try await engine.run("fraud", at: now)
        let report = try #require(run.report, "\(run.error ?? "")")
        #expect(report.currentRows == 100)
        for feature in report.features {
            #expect(feature.currentCount == 90 && feature.missing?.currentMissing == 10, "\(feature.feature)")
        }
        // The reader gets the writer's rows exactly, through the store's protocol.
        let table = try CaptureReader.read(store: store, endpoint: "fraud", from: now.addingTimeInterval(-3600), to: now, features: ["amount"])
        guard case .numerical(let amounts) = table.columns["amount"] else { Issue.record("amount is not numerical"); return }
        #expect(amounts.prefix(4) == [0, 1, 0.25, 2] && table.missingCount("amount") == 10, "captured as the model saw them (float32), nulls counted")
        let versions = try store.records(endpoint: "fraud", limit: 100).map(\.version)
        #expect(versions.filter { $0 == "fraud/2" }.count == 50)
    }

    @Test func theWriterFlushesABatchWithoutWaitingForTheInterval() async throws {
        let store = MemoryCaptureStore()
        let writer = CaptureWriter(store: store, batchSize: 10, logger: quiet)
        let running = Task { await writer.run(interval: .seconds(3600)) }
        for i in 0..<10 {
            writer.submit(.init(endpoint: "e", version: "v", time: Double(i), kind: .predict, request: Data(#"{"instances": [[1]]}"#.utf8),
                                response: Data(#"{"predictions": [1]}"#.utf8), latencyMs: 1, featureNames: ["x"], outputNames: ["y"]))
        }
        var waited = 0
        while try store.count(endpoint: "e") < 10 && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(try store.count(endpoint: "e") == 10, "a full batch is written at once, not after the hour-long interval")
        writer.submit(.init(endpoint: "e", version: "v", time: 11, kind: .predict, request: Data(#"{"instances": [[1]]}"#.utf8),
                            response: Data(#"{"predictions": [1]}"#.utf8), latencyMs: 1, featureNames: ["x"], outputNames: ["y"]))
        running.cancel()
        await running.value
        #expect(try store.count(endpoint: "e") == 11, "what is left is written on shutdown")
    }
}
