import FeatureStore
import Foundation
import HTTPTesting
import MLInfraTesting
import Testing

/// Two scratch "machines" (directories with their own spec copy, data directory and local state)
/// sharing only a Redis server: one applies the spec and materializes, the other applies the same
/// spec (its definitions) and answers `/get-online-features` over `features serve` with the values
/// the first one wrote. The Redis password is in neither machine's plan output nor state.
@Suite struct RedisTwoMachinesTests {
    /// The store's entity and view, the same on every machine of both tests.
    static let definitions = """
          entity.customer:
            store: ${feature_store.main}
            join_keys: [customer_id]
          feature_view.customer_stats:
            store: ${feature_store.main}
            entities: ["${entity.customer}"]
            source: { csv: data/stats.csv, timestamp: event_timestamp }
            features: { total_spend: float64, txn_count: int64 }

        """

    static let spec = """
        mlinfra: 1
        project: redis-two-machines
        variables:
          redis_url: { type: string, sensitive: true }
        providers:
          local: { data_dir: .mlinfra }
        resources:
          feature_store.main:
            online: { kind: redis, url: "${var.redis_url}", namespace: NAMESPACE }
        \(definitions)

        """

    /// A machine: a directory with the spec and its data file.
    static func machine(namespace: String) throws -> Workspace {
        let ws = Workspace()
        try spec.replacingOccurrences(of: "NAMESPACE", with: namespace).write(toFile: ws.path + "/main.yaml", atomically: true, encoding: .utf8)
        try "customer_id,event_timestamp,total_spend,txn_count\n1,2024-01-01T00:00:00Z,5.5,2\n1,2024-01-02T00:00:00Z,7.5,3\n2,2024-01-02T00:00:00Z,1.25,1\n"
            .write(toFile: ws.path + "/data/stats.csv", atomically: true, encoding: .utf8)
        return ws
    }

    /// Runs `mlinfra` in `directory` with the Redis URL in the sensitive variable.
    static func mlinfra(_ args: [String], in directory: String, url: String) async throws -> (status: Int32, output: String) {
        try await CrossProcessTests.mlinfra(args, in: directory, environment: ["MLINFRA_VAR_redis_url": url])
    }

    /// Every file under `directory` that holds `text`.
    static func files(under directory: String, holding text: String) -> [String] {
        let base = URL(fileURLWithPath: directory)
        let walker = FileManager.default.enumerator(atPath: directory)
        var found: [String] = []
        while let relative = walker?.nextObject() as? String {
            guard let data = FileManager.default.contents(atPath: base.appendingPathComponent(relative).path) else { continue }
            if data.range(of: Data(text.utf8)) != nil { found.append(relative) }
        }
        return found
    }

    /// Starts `mlinfra features serve` in `directory` on a free port: the process and its port.
    static func serve(in directory: String, environment: [String: String]) throws -> (Process, Int) {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: try CrossProcessTests.binary())
        server.arguments = ["features", "serve", "--port", "0", "--event-loops", "1"]
        server.currentDirectoryURL = URL(fileURLWithPath: directory)
        server.environment = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        server.standardInput = FileHandle.nullDevice
        try server.run()
        var line = ""
        while !line.contains("\n") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += String(decoding: chunk, as: UTF8.self)
        }
        guard let port = line.split(separator: ":").last.flatMap({ Int($0.prefix { $0.isNumber }) }) else {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "features serve printed no port: \(line)"])
        }
        return (server, port)
    }

    @Test(.timeLimit(.minutes(2))) func oneMachineMaterializesTheOtherServes() async throws {
        let redis = try await RedisTestServer.shared()
        let url = redis.url()
        let namespace = "e2e-" + UUID().uuidString
        let a = try Self.machine(namespace: namespace)
        let b = try Self.machine(namespace: namespace)

        let plan = try await Self.mlinfra(["plan"], in: a.path, url: url)
        #expect(plan.status == 0, "\(plan.output)")
        #expect(!plan.output.contains(redis.password))
        let apply = try await Self.mlinfra(["apply", "--auto-approve"], in: a.path, url: url)
        #expect(apply.status == 0, "\(apply.output)")
        let materialize = try await Self.mlinfra(["features", "materialize-incremental", "2024-01-03"], in: a.path, url: url)
        #expect(materialize.status == 0, "\(materialize.output)")
        #expect(materialize.output.contains("2 entities, 2 online rows written"), "\(materialize.output)")
        #expect(!(apply.output + materialize.output).contains(redis.password))

        let applyB = try await Self.mlinfra(["apply", "--auto-approve"], in: b.path, url: url)
        #expect(applyB.status == 0, "\(applyB.output)")
        let get = try await Self.mlinfra(["features", "get", "--entity", "customer_id=1,2,3", "--features", "customer_stats:txn_count", "--format", "json"], in: b.path, url: url)
        #expect(get.status == 0, "\(get.output)")
        #expect(get.output.contains(#"{"values":[3,1,null],"statuses":["PRESENT","PRESENT","NOT_FOUND"]"#), "\(get.output)")

        // Machine B serves what machine A wrote.
        let (server, port) = try Self.serve(in: b.path, environment: ["MLINFRA_VAR_redis_url": url])
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let response = try rawRequest(
            port: port, "POST", "/get-online-features",
            json: #"{"features":["customer_stats:total_spend","customer_stats:txn_count"],"entities":{"customer_id":[1,2]}}"#)
        #expect(response.status == 200, "\(response.text)")
        #expect(response.text.contains(#"{"values":[7.5,1.25],"statuses":["PRESENT","PRESENT"],"event_timestamps":["2024-01-02T00:00:00Z","2024-01-02T00:00:00Z"]}"#), "\(response.text)")

        // Neither machine's state nor plan shows the password; only the store's owner-only setting file holds it.
        for machine in [a, b] {
            let holding = Self.files(under: machine.path, holding: redis.password)
            #expect(holding == [".mlinfra/features/main/online.json"], "\(holding)")
        }
        let destroy = try await Self.mlinfra(["destroy", "--auto-approve"], in: a.path, url: url)
        #expect(destroy.status == 0, "\(destroy.output)")
        let after = try await Self.mlinfra(["features", "get", "--entity", "customer_id=1", "--features", "customer_stats:txn_count"], in: b.path, url: url)
        #expect(after.output.contains("NOT_FOUND"), "destroy on A removes the values from Redis: \(after.output)")
    }

    static let sharedSpec = """
        mlinfra: 1
        project: shared-services
        variables:
          redis_url: { type: string, sensitive: true }
          team_db: { type: string, sensitive: true }
        providers:
          local: { data_dir: .mlinfra }
        resources:
          feature_store.main:
            storage: { postgres: { url: "${var.team_db}", schema: team_features } }
            online: { kind: redis, url: "${var.redis_url}", namespace: NAMESPACE }
        \(definitions)
          registry.main:
            storage: { postgres: { url: "${var.team_db}", schema: team_models } }
            artifacts: { postgres: {} }
          model.churn:
            registry: ${registry.main}
          model_version.churn_v1:
            model: ${model.churn}
            artifact: models/churn.json
            format: linear-json

        """

    /// Two machines sharing PostgreSQL (definitions, watermarks, registry) and Redis (online values):
    /// A applies and materializes; B, which never applies, reads the same features with `features get`
    /// and `features serve`, continues the incremental materialization from A's watermark, and
    /// downloads the same model. Neither password is in any output, nor in any file but B's and A's
    /// owner-only store settings.
    @Test(.timeLimit(.minutes(3))) func withSharedDefinitionsTheOtherMachineNeedsNoApply() async throws {
        let redis = try await RedisTestServer.shared()
        let postgres = try await PostgresTestServer.shared()
        let database = try await postgres.createFreshDatabase("shared")
        let env = ["MLINFRA_VAR_redis_url": redis.url(), "MLINFRA_VAR_team_db": postgres.url(database: database)]
        let namespace = "shared-" + UUID().uuidString
        func machine() throws -> Workspace {
            let ws = try Self.machine(namespace: namespace)
            try Self.sharedSpec.replacingOccurrences(of: "NAMESPACE", with: namespace).write(toFile: ws.path + "/main.yaml", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: ws.path + "/models", withIntermediateDirectories: true)
            try #"{"feature_names": ["total_spend"], "weights": [0.5], "intercept": 0.1, "link": "identity"}"#
                .write(toFile: ws.path + "/models/churn.json", atomically: true, encoding: .utf8)
            return ws
        }
        let a = try machine(), b = try machine()
        var outputs: [String] = []
        func run(_ args: [String], on m: Workspace) async throws -> (status: Int32, output: String) {
            let r = try await CrossProcessTests.mlinfra(args, in: m.path, environment: env)
            outputs.append(r.output)
            return r
        }

        let apply = try await run(["apply", "--auto-approve"], on: a)
        #expect(apply.status == 0, "\(apply.output)")
        let first = try await run(["features", "materialize-incremental", "2024-01-01T12:00:00Z"], on: a)
        #expect(first.status == 0 && first.output.contains("1 entities"), "\(first.output)")

        // B: no apply. The definitions and the watermark come from PostgreSQL, the values from Redis.
        #expect(!FileManager.default.fileExists(atPath: b.path + "/.mlinfra"))
        let unset = try await CrossProcessTests.mlinfra(["features", "get", "--entity", "customer_id=1", "--features", "customer_stats:txn_count"], in: b.path)
        #expect(unset.status != 0 && unset.output.contains("uses a variable that is not set"), "\(unset.output)")
        let get = try await run(
            ["features", "get", "--entity", "customer_id=1,2", "--features", "customer_stats:txn_count", "--format", "json"], on: b)
        #expect(get.status == 0, "\(get.output)")
        #expect(get.output.contains(#"{"values":[2,null],"statuses":["PRESENT","NOT_FOUND"]"#), "\(get.output)")
        let second = try await run(["features", "materialize-incremental", "2024-01-03"], on: b)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("2024-01-01T12:00:00Z"), "B's run starts at A's watermark: \(second.output)")

        let (server, port) = try Self.serve(in: b.path, environment: env)
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let response = try rawRequest(
            port: port, "POST", "/get-online-features",
            json: #"{"features":["customer_stats:txn_count"],"entities":{"customer_id":[1,2]}}"#)
        #expect(response.status == 200, "\(response.text)")
        #expect(response.text.contains(#"{"values":[3,1],"statuses":["PRESENT","PRESENT"]"#), "values B materialized, read by B's server: \(response.text)")

        let download = try await run(["models", "download", "models:/churn/1", "--out", "churn.json"], on: b)
        #expect(download.status == 0, "\(download.output)")
        #expect((try? String(contentsOfFile: b.path + "/churn.json", encoding: .utf8))?.contains("feature_names") == true)

        for text in outputs + [response.text] {
            #expect(!text.contains(redis.password) && !text.contains(postgres.password), "a password was printed: \(text)")
        }
        for (m, expected) in [(a, [".mlinfra/features/main/catalog.json", ".mlinfra/features/main/online.json"]),
                              (b, [".mlinfra/features/main/catalog.json", ".mlinfra/features/main/online.json"])] {
            let holding = Set(Self.files(under: m.path, holding: redis.password) + Self.files(under: m.path, holding: postgres.password))
            #expect(holding == Set(expected), "\(holding)")
        }
        let destroy = try await run(["destroy", "--auto-approve"], on: a)
        #expect(destroy.status == 0, "\(destroy.output)")
    }
}
