import Crypto
import Foundation
import Testing
import Synchronization

/// The secret canary: a sensitive variable reaches every local resource type that takes free
/// text, a monitor's alert token and outputs; the real binary plans (every format), saves and
/// shows a plan, applies it, fails a plan and an apply, shows state and outputs, refreshes and
/// destroys. Then no captured output and no file under the spec directory (state, backup,
/// journal, key, plan and data files) may hold the secret's bytes, except the engine databases
/// that must keep what the spec gave them (docs/decisions/secrets.md), which must be 0600 in
/// 0700 directories.
@Suite(.serialized) struct SecretCanaryTests {
    static let secret = "CANARY-7f2a9c-s3cr3t"

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func spec(schedule: String = "0 * * * *", extra: String = "", webhookPort: Int = 9, endpointPort: Int? = nil) -> String {
        """
        mlinfra: 1
        project: canary
        variables:
          canary: { type: string, sensitive: true }
        providers:
          local: { data_dir: .mlinfra }
        resources:
          feature_store.main: { description: "store ${var.canary}" }
          entity.customer: { store: "${feature_store.main}", join_keys: [customer_id], description: "entity ${var.canary}" }
          feature_view.stats:
            store: ${feature_store.main}
            entities: ["${entity.customer}"]
            source: { csv: data/stats.csv, timestamp: event_timestamp }
            features: { total_spend: float64, txn_count: int64 }
            description: "view ${var.canary}"
          feature_service.scoring:
            store: ${feature_store.main}
            features: ["stats:total_spend"]
            description: "service ${var.canary}"
            depends_on: [feature_view.stats]
          registry.main: {}
          model.fraud: { registry: "${registry.main}", description: "model ${var.canary}", tags: { owner: "${var.canary}" } }
          model_version.v1:
            model: ${model.fraud}
            artifact: models/fraud-v1.json
            format: linear-json
            commit: "${var.canary}"
            run_id: "run-${var.canary}"
            dataset: "data ${var.canary}"
          model_alias.prod: { model: "${model.fraud}", alias: production, version: "${model_version.v1.version}" }
          vector_store.main: {}
          vector_collection.docs: { store: "${vector_store.main}", dimension: 3 }
          monitor.drift:
            dataset: data/current.csv
            reference: data/reference.csv
            schedule: "\(schedule)"
            checks: [ { feature: amount, method: psi, threshold: 0.2 } ]
            alert: { webhook: "http://127.0.0.1:\(webhookPort)/hooks/drift", token: "${var.canary}" }
        \(endpointPort.map { "  endpoint.fraud: { model: \"${model_alias.prod.uri}\", port: \($0), replicas: { min: 1, max: 1 } }" } ?? "")
        \(extra)
        outputs:
          token: ${monitor.drift.alert.token}
          alert: ${monitor.drift.alert}
          note: "note ${var.canary}"
          uri: ${model_alias.prod.uri}

        """
    }

    func prepare(_ h: CLIHarness, webhookPort: Int = 9, endpointPort: Int? = nil) throws {
        try h.write("main.yaml", Self.spec(webhookPort: webhookPort, endpointPort: endpointPort))
        try h.write("models/fraud-v1.json", String(contentsOf: Self.repository.appendingPathComponent("specs/quickstart/models/fraud-v1.json"), encoding: .utf8))
        try h.write("data/stats.csv", "customer_id,event_timestamp,total_spend,txn_count\n1,2024-01-01T00:00:00Z,5.5,2\n")
        var reference = "amount\n", current = "amount\n"
        for i in 0..<200 {
            reference += "\(Double(i % 40) / 10)\n"
            current += "\(Double(i % 40) / 10 + 1.5)\n"
        }
        try h.write("data/reference.csv", reference)
        try h.write("data/current.csv", current)
    }

    /// Every regular file under `root`, recursively, hidden ones included.
    static func files(under root: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
    }

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? 0o777
    }

    @Test func theSecretAppearsInNoOutputAndNoFileButThePrivateEngineDatabases() async throws {
        let h = try CLIHarness()
        // A webhook receiver for the monitor's alert, and an endpoint whose agent and replica write logs.
        let hook = try WebhookReceiver()
        defer { hook.close() }
        let endpointPort = try ValidateFindsMistakesTests.freePort()
        func spec(schedule: String = "0 * * * *", extra: String = "") -> String {
            Self.spec(schedule: schedule, extra: extra, webhookPort: hook.port, endpointPort: endpointPort)
        }
        try prepare(h, webhookPort: hook.port, endpointPort: endpointPort)
        let env = ["MLINFRA_VAR_canary": Self.secret]
        defer { _ = try? h.process(["agent", "--stop"]).0.run() }
        var captured: [(String, CLIHarness.Run)] = []
        func run(_ args: String..., expect status: Int32? = 0, env extra: [String: String] = [:]) async throws -> CLIHarness.Run {
            let r = try await h.run(args, env: env.merging(extra) { $1 })
            captured.append((args.joined(separator: " "), r))
            if let status { #expect(r.status == status, "\(args.joined(separator: " ")): \(r.out)\(r.err)") }
            return r
        }

        _ = try await run("validate")
        let plan = try await run("plan", "--detailed-exitcode", expect: 2)
        #expect(plan.out.contains("(sensitive)"), "\(plan.out)")
        let json = try await run("plan", "--format", "json")
        // Terraform's shape: the secret parts are null in `after` and `true` in `after_sensitive`.
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        let changes = try #require(document["resource_changes"] as? [[String: Any]])
        let monitor = try #require(changes.first { $0["address"] as? String == "monitor.drift" }?["change"] as? [String: Any])
        #expect(((monitor["after_sensitive"] as? [String: Any])?["alert"] as? [String: Any])?["token"] as? Bool == true)
        let alert = try #require((monitor["after"] as? [String: Any])?["alert"] as? [String: Any])
        #expect(alert["token"] is NSNull && alert["webhook"] as? String == "http://127.0.0.1:\(hook.port)/hooks/drift")
        let outputChanges = try #require(document["output_changes"] as? [String: [String: Any]])
        #expect(outputChanges["token"]?["after_sensitive"] as? Bool == true)
        _ = try await run("plan", "--format", "markdown")
        _ = try await run("plan", "--out", "canary.mlplan", "--var", "canary=\(Self.secret)", expect: 0)
        _ = try await run("show", "canary.mlplan")
        _ = try await run("show", "--format", "json", "canary.mlplan")
        _ = try await run("show", "--format", "markdown", "canary.mlplan")
        let apply = try await run("apply", "canary.mlplan")
        #expect(apply.out.contains("Apply complete!"), "\(apply.out)\(apply.err)")

        // The HMACs kept in state match the same secret: nothing to do.
        _ = try await run("plan", "--detailed-exitcode", expect: 0)
        _ = try await run("show")
        _ = try await run("show", "--format", "json")
        let outputs = try await run("output")
        #expect(outputs.out.contains("token = (sensitive)") && outputs.out.contains("note = (sensitive)"), "\(outputs.out)")
        _ = try await run("output", "--json")
        _ = try await run("output", "token", expect: 1)
        _ = try await run("output", "uri")
        let list = try await run("state", "list")
        for address in list.out.split(separator: "\n").compactMap({ $0.split(separator: " ").first.map(String.init) }) {
            _ = try await run("state", "show", address)
        }
        _ = try await run("plan", "--refresh-only")
        _ = try await run("apply", "--refresh-only", "--auto-approve")
        _ = try await run("endpoints", "status", "fraud")
        let agentLog = h.directory.appendingPathComponent(".mlinfra/serving/agent.log").path
        #expect(((try? FileManager.default.attributesOfItem(atPath: agentLog)[.size] as? Int) ?? 0) > 0, "the agent wrote no log to scan")

        // The alert: the token signs the body and is in neither the body nor any header.
        _ = try await run("monitors", "run", "drift", "--now", expect: nil)
        let received = try #require(hook.wait(seconds: 20), "no alert reached the webhook")
        #expect(!received.head.contains(Self.secret) && received.body.range(of: Data(Self.secret.utf8)) == nil, "the alert carries the token")
        let signature = "sha256=" + HMAC<SHA256>.authenticationCode(for: received.body, using: SymmetricKey(data: Data(Self.secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
        #expect(received.head.lowercased().contains("x-mlinfra-signature: \(signature)"), "\(received.head)")
        let (leaksWhileUp, keptWhileUp) = scan(h, captured)
        #expect(leaksWhileUp.isEmpty, "the secret leaked into: \(leaksWhileUp.joined(separator: ", "))")
        #expect(keptWhileUp.contains { $0.hasSuffix("monitoring/monitoring.sqlite") }, "the alert token is kept where the agent signs with it: \(keptWhileUp)")

        // Failures: a provider error about the secret, and an apply that cannot find a file named by it.
        try h.write("main.yaml", spec(schedule: "${var.canary}"))
        let badPlan = try await run("plan", expect: 1)
        #expect(badPlan.err.contains("the value of `var.canary` (sensitive)"), "\(badPlan.err)")
        try h.write("main.yaml", spec(extra: """
              model_version.v2:
                model: ${model.fraud}
                artifact: "models/${var.canary}.json"
                format: linear-json
                depends_on: [model_version.v1]
            """))
        _ = try await run("apply", "--auto-approve", expect: 1)

        try h.write("main.yaml", spec())
        _ = try await run("destroy", "--auto-approve")
        _ = try await run("agent", "--stop")

        let (leaks, kept) = scan(h, captured)
        #expect(leaks.isEmpty, "the secret leaked into: \(leaks.joined(separator: ", "))")
    }

    /// Where the secret is: outputs and files that must not hold it, and engine databases that keep it.
    func scan(_ h: CLIHarness, _ captured: [(String, CLIHarness.Run)]) -> (leaks: [String], kept: [String]) {
        var leaks: [String] = []
        for (command, r) in captured where r.out.contains(Self.secret) || r.err.contains(Self.secret) {
            leaks.append("output of `mlinfra \(command)`")
        }
        let bytes = Data(Self.secret.utf8)
        let data = h.directory.appendingPathComponent(".mlinfra").standardizedFileURL.path
        var kept: [String] = []
        for file in Self.files(under: h.directory) {
            if file.path.contains(Self.secret) { leaks.append("the name of \(file.path)") }
            guard let content = FileManager.default.contents(atPath: file.path), content.range(of: bytes) != nil else { continue }
            let path = file.standardizedFileURL.path
            let isEngineDatabase = path.hasPrefix(data + "/") && [".sqlite", ".sqlite-wal", ".sqlite-shm"].contains { path.hasSuffix($0) }
            guard isEngineDatabase else {
                leaks.append(String(path.dropFirst(h.directory.standardizedFileURL.path.count + 1)))
                continue
            }
            kept.append(path)
            #expect(Self.mode(path) & 0o077 == 0, "\(path) keeps the secret and is readable by others: \(String(Self.mode(path), radix: 8))")
            var dir = (path as NSString).deletingLastPathComponent
            while dir.count >= data.count {
                #expect(Self.mode(dir) & 0o077 == 0, "\(dir) is open to others: \(String(Self.mode(dir), radix: 8))")
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        return (leaks, kept)
    }
}

/// One HTTP request received on a loopback port: the alert a monitor sends.
final class WebhookReceiver: Sendable {
    let port: Int
    private let fd: Int32
    private let received = Mutex<(head: String, body: Data)?>(nil)

    init() throws {
        let (fd, port) = loopbackSocket(listening: true)
        self.fd = fd
        self.port = port
        let listener = fd
        let box = self
        Thread.detachNewThread {
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                var data = Data()
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(client, &buffer, buffer.count)
                    if n <= 0 { break }
                    data.append(contentsOf: buffer[0..<n])
                    guard let end = data.range(of: Data("\r\n\r\n".utf8)) else { continue }
                    let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                    let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    guard data.count - end.upperBound >= length else { continue }
                    let reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    _ = reply.withCString { write(client, $0, strlen($0)) }
                    let body = Data(data[end.upperBound..<(end.upperBound + length)])
                    box.received.withLock { $0 = (head, body) }
                    break
                }
                Glibc.close(client)
            }
        }
    }

    /// The first request, once it has come (nil after `seconds`).
    func wait(seconds: Double) -> (head: String, body: Data)? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let r = received.withLock({ $0 }) { return r }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    func close() { shutdown(fd, Int32(SHUT_RDWR)); Glibc.close(fd) }
}
