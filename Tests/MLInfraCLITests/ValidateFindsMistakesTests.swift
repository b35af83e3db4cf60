import Foundation
import Testing

/// `validate` (and `plan`, which runs the same checks first) reports every mistake that can be
/// found before apply, at its file:line:column, with how to fix it. Each case is one edit of a
/// spec that is valid as it stands; the base spec itself must validate and plan cleanly.
@Suite struct ValidateFindsMistakesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let base = """
        mlinfra: 1
        project: mistakes
        providers:
          local: { data_dir: .mlinfra }
        resources:
          feature_store.main: {}
          entity.customer: { store: "${feature_store.main}", join_keys: [customer_id] }
          feature_view.stats:
            store: ${feature_store.main}
            entities: ["${entity.customer}"]
            source: { csv: data/stats.csv, timestamp: event_timestamp }
            features: { total_spend: float64, txn_count: int64 }
          feature_service.scoring:
            store: ${feature_store.main}
            features: ["stats:total_spend"]
          registry.main: {}
          model.fraud: { registry: "${registry.main}" }
          model_version.v1:
            model: ${model.fraud}
            artifact: models/fraud-v1.json
            format: linear-json
          model_alias.prod: { model: "${model.fraud}", alias: production, version: "${model_version.v1.version}" }
          vector_store.main: {}
          vector_collection.docs: { store: "${vector_store.main}", dimension: 3, metric: cosine }
          endpoint.fraud:
            model: ${model_alias.prod.uri}
            port: PORT
            replicas: { min: 1, max: 2 }
            autoscaling: { metric: concurrency, target: 1 }
          monitor.drift:
            dataset: data/current.csv
            reference: data/reference.csv
            schedule: "0 * * * *"
            checks: [ { feature: amount, method: psi, threshold: 0.2 } ]

        """

    /// One mistake: the text replaced, what replaces it, where the error must point and what it must say.
    struct Mistake: Sendable, CustomTestStringConvertible {
        var name: String
        var from: String
        var to: String
        /// `line:column` of the error, in main.yaml.
        var at: String
        var says: [String]
        /// Only `plan` can tell (the machine's ports): `validate` passes.
        var planOnly = false
        var testDescription: String { name }
    }

    static let mistakes: [Mistake] = [
        Mistake(name: "cron with 4 fields", from: "\"0 * * * *\"", to: "\"0 * * *\"", at: "33:5",
                says: ["invalid cron expression", "expected 5 fields"]),
        Mistake(name: "cron hour 25", from: "\"0 * * * *\"", to: "\"0 25 * * *\"", at: "33:5", says: ["hour 25 is out of range 0-23"]),
        Mistake(name: "cron 31 February", from: "\"0 * * * *\"", to: "\"0 0 31 2 *\"", at: "33:5", says: ["never fires"]),
        Mistake(name: "metric euclidean", from: "metric: cosine", to: "metric: euclidean", at: "24:74", says: ["unknown metric \"euclidean\""]),
        Mistake(name: "autoscaling metric cpu", from: "metric: concurrency", to: "metric: cpu", at: "29:20",
                says: ["unknown autoscaling metric \"cpu\"", "concurrency or rps"]),
        Mistake(name: "canary percent 150", from: "autoscaling: { metric: concurrency, target: 1 }",
                to: "autoscaling: { metric: concurrency, target: 1 }\n    traffic: { canary: \"${model_version.v1}\", percent: 150 }",
                at: "30:47", says: ["traffic.percent must be between 0 and 100, got 150", "from 0 to 100"]),
        Mistake(name: "drift method kl", from: "method: psi", to: "method: kl", at: "34:34", says: ["unknown method \"kl\"", "use one of"]),
        Mistake(name: "missing artifact", from: "models/fraud-v1.json", to: "models/nope.json", at: "20:5",
                says: ["artifact file not found: models/nope.json", "relative to the spec directory"]),
        Mistake(name: "missing reference CSV", from: "reference: data/reference.csv", to: "reference: data/nope.csv", at: "32:5",
                says: ["reference file not found: data/nope.csv"]),
        Mistake(name: "format not matching the artifact", from: "format: linear-json", to: "format: xgboost-json", at: "21:5",
                says: ["is not xgboost-json", "use format: linear-json"]),
        Mistake(name: "model fraud/99", from: "${model_alias.prod.uri}", to: "fraud/99", at: "26:5",
                says: ["model fraud/99 of endpoint fraud cannot be served", "${model_alias.NAME.uri}"]),
        Mistake(name: "feature missing from the CSV header", from: "txn_count: int64 }", to: "txn_count: int64, nope: float64 }", at: "12:57",
                says: ["feature \"nope\" is not a column of data/stats.csv", "Its columns: customer_id, event_timestamp, total_spend, txn_count"]),
        Mistake(name: "unknown feature in a feature service", from: "\"stats:total_spend\"", to: "\"stats:total_spendd\"", at: "15:16",
                says: ["feature view stats has no feature \"total_spendd\"", "Did you mean `total_spend`?"]),
        Mistake(name: "monitor check on a column the reference lacks", from: "feature: amount", to: "feature: amountt", at: "34:17",
                says: ["the reference data/reference.csv has no column \"amountt\"", "Did you mean `amount`?"]),
        Mistake(name: "port already in use", from: "port: PORT", to: "port: BUSY", at: "27:5",
                says: ["is not free: it is in use", "choose another port"], planOnly: true),
        Mistake(name: "unknown resource type", from: "model.fraud: {", to: "modle.fraud: {", at: "17:3",
                says: ["unknown resource type `modle`", "Known types: endpoint, entity,", "Did you mean `model`?"]),
        Mistake(name: "${…} unquoted in a flow list", from: "[customer_id]", to: "[${var.key}]", at: "7:66",
                says: ["`${var.key}` inside a flow collection", "\"${var.key}\""]),
    ]

    static func prepare(_ h: CLIHarness, spec: String, port: Int) throws {
        try h.write("main.yaml", spec.replacingOccurrences(of: "port: PORT", with: "port: \(port)"))
        try h.write("models/fraud-v1.json", String(contentsOf: repository.appendingPathComponent("specs/quickstart/models/fraud-v1.json"), encoding: .utf8))
        try h.write("data/stats.csv", "customer_id,event_timestamp,total_spend,txn_count\n1,2024-01-01T00:00:00Z,5.5,2\n")
        let rows = (0..<200).map { "\(Double($0 % 40) / 10)" }.joined(separator: "\n")
        try h.write("data/reference.csv", "amount\n\(rows)\n")
        try h.write("data/current.csv", "amount\n\(rows)\n")
    }

    /// A port no one listens on (bound, read, released).
    static func freePort() throws -> Int {
        let (fd, port) = loopbackSocket(listening: false)
        close(fd)
        return port
    }

    @Test func theBaseSpecIsValidAndPlans() async throws {
        let h = try CLIHarness()
        try Self.prepare(h, spec: Self.base, port: try Self.freePort())
        let validate = try await h.run("validate", "--no-color")
        #expect(validate.status == 0, "\(validate.out)\(validate.err)")
        let plan = try await h.run("plan", "--no-color")
        #expect(plan.status == 0 && plan.out.contains("Plan: 12 to add"), "\(plan.out)\(plan.err)")
        // What a reviewer reads: spec-relative paths, no empty defaults.
        #expect(plan.out.contains("path = \"./.mlinfra/registry\"") && !plan.out.contains(h.directory.path), "\(plan.out)")
        #expect(!plan.out.contains("description = \"\"") && !plan.out.contains("tags = {}"), "\(plan.out)")
        let comment = try await h.run("plan", "--format", "markdown")
        #expect(comment.out.contains("+ path = \"./.mlinfra/registry\"") && !comment.out.contains(h.directory.path), "\(comment.out)")
    }

    @Test(arguments: mistakes) func eachMistakeIsReportedBeforeApply(_ mistake: Mistake) async throws {
        #expect(Self.base.contains(mistake.from), "the base spec has no \(mistake.from)")
        // A port another program holds, for the one case that needs it.
        let (listener, busy) = loopbackSocket(listening: true)
        defer { close(listener) }

        let h = try CLIHarness()
        let spec = Self.base.replacingOccurrences(of: mistake.from, with: mistake.to.replacingOccurrences(of: "BUSY", with: "\(busy)"))
        try Self.prepare(h, spec: spec, port: try Self.freePort())
        let validate = try await h.run("validate", "--no-color")
        let plan = try await h.run("plan", "--no-color")
        for (command, run) in [("validate", validate), ("plan", plan)] where command == "plan" || !mistake.planOnly {
            let text = run.out + run.err
            #expect(run.status == 1, "\(command) of \(mistake.name): \(text)")
            #expect(text.contains("./main.yaml:\(mistake.at):"), "\(command) of \(mistake.name) points elsewhere: \(text)")
            for phrase in mistake.says { #expect(text.contains(phrase), "\(command) of \(mistake.name) lacks \(phrase): \(text)") }
            #expect(!text.contains("Error Domain") && !text.contains("DecodingError") && !text.contains("errno"), "raw error: \(text)")
        }
        if mistake.planOnly { #expect(validate.status == 0, "\(validate.out)\(validate.err)") }
        // Nothing was applied: no state, no engine data.
        #expect(!FileManager.default.fileExists(atPath: h.directory.appendingPathComponent("state/mistakes.mlstate.json").path))
    }

    /// `${model_version.v2}` as a canary is known only after apply; the plan takes it.
    @Test func aCanaryNamingAVersionOfThisApplyPlans() async throws {
        let h = try CLIHarness()
        let spec = Self.base.replacingOccurrences(
            of: "autoscaling: { metric: concurrency, target: 1 }",
            with: "autoscaling: { metric: concurrency, target: 1 }\n    traffic: { canary: \"${model_version.v1.uri}\", percent: 10 }")
        try Self.prepare(h, spec: spec, port: try Self.freePort())
        let plan = try await h.run("plan", "--no-color")
        #expect(plan.status == 0, "\(plan.out)\(plan.err)")
        #expect(plan.out.contains("canary") && plan.out.contains("(known after apply)"), "\(plan.out)")
    }

    /// A feature service's `VIEW:FEATURE` names the view: the view comes first in the graph.
    @Test func aFeatureServiceDependsOnTheViewsItNames() async throws {
        let h = try CLIHarness()
        try Self.prepare(h, spec: Self.base, port: try Self.freePort())
        let graph = try await h.run("graph", "--no-color")
        #expect(graph.status == 0, "\(graph.out)\(graph.err)")
        #expect(graph.out.contains("\"feature_service.scoring\" -> \"feature_view.stats\""), "\(graph.out)")
    }

    /// A failure that is not the spec's (here the registry's directory is a file) names the
    /// resource, says what failed in words and what to do; no Swift error value is printed.
    @Test func aLateFailureNamesTheResourceAndWhatToDo() async throws {
        let h = try CLIHarness()
        try Self.prepare(h, spec: Self.base, port: try Self.freePort())
        try h.write(".mlinfra/registry", "not a directory\n")
        let apply = try await h.run("apply", "--auto-approve", "--no-color")
        let text = apply.out + apply.err
        #expect(apply.status == 1, "\(text)")
        #expect(text.contains("model.fraud"), "\(text)")
        #expect(text.contains("already exists") && text.contains(".mlinfra/registry"), "\(text)")
        #expect(text.contains("Fix the cause"), "\(text)")
        #expect(!text.contains("Error Domain") && !text.contains("NSCocoaErrorDomain") && !text.contains("Code="), "\(text)")
    }
}
