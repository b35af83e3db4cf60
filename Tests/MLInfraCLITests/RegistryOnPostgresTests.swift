import Foundation
import MLInfraTesting
import Testing

/// The registry on PostgreSQL through the real binary: one runner applies the spec, another
/// that shares nothing with it but the server (its own directory, its own data directory)
/// reads the same model with `mlinfra models`; the URL's password shows nowhere.
@Suite(.serialized) struct RegistryOnPostgresTests {
    static func spec(into h: CLIHarness) throws {
        try h.write(
            "main.yaml",
            """
            mlinfra: 1
            project: shared-registry
            variables:
              registry_db: { type: string, sensitive: true }
            providers:
              local: { data_dir: .mlinfra }
            resources:
              registry.main:
                storage: { postgres: { url: "${var.registry_db}", schema: team_models } }
                artifacts: { postgres: {} }
              model.fraud:
                registry: ${registry.main}
                protected_aliases: [production]
              model_version.fraud_v1:
                model: ${model.fraud}
                artifact: models/fraud-v1.json
                format: linear-json
              model_alias.fraud_production:
                model: ${model.fraud}
                alias: production
                version: ${model_version.fraud_v1.version}

            """)
        try h.write("models/fraud-v1.json", #"{"weights": [0.25, -1.5], "bias": 0.1}"#)
    }

    @Test func oneRunnerAppliesAnotherReadsTheSameModelAndThePasswordShowsNowhere() async throws {
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("registry")
        let env = ["MLINFRA_VAR_registry_db": server.url(database: database)]
        let applier = try CLIHarness(binary: TeamModeTests.mlinfra)
        let reader = try CLIHarness(binary: TeamModeTests.mlinfra)
        try Self.spec(into: applier)
        try Self.spec(into: reader)
        var outputs: [String] = []

        let plan = try await applier.run(["plan"], env: env)
        outputs.append(plan.out + plan.err)
        #expect(plan.status == 0, "\(plan.out)\(plan.err)")
        let apply = try await applier.run(["apply", "--auto-approve"], env: env)
        outputs.append(apply.out + apply.err)
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")

        // The reader has never applied: what it sees is in the database.
        let show = try await reader.run(["models", "show", "fraud", "--format", "json"], env: env)
        outputs.append(show.out + show.err)
        #expect(show.status == 0, "\(show.out)\(show.err)")
        #expect(show.out.contains("\"production\""), "\(show.out)")
        let download = try await reader.run(["models", "download", "models:/fraud@production", "--out", "got.json"], env: env)
        outputs.append(download.out + download.err)
        #expect(download.status == 0, "\(download.out)\(download.err)")
        #expect(reader.read("got.json") == #"{"weights": [0.25, -1.5], "bias": 0.1}"#)

        // Protected on the shared registry too; and the reader's plan agrees nothing changed.
        let move = try await reader.run(["models", "set-alias", "fraud", "production", "1"], env: env)
        outputs.append(move.out + move.err)
        #expect(move.status != 0 && move.err.contains("protected"), "\(move.out)\(move.err)")
        let history = try await reader.run(["models", "history", "fraud"], env: env)
        outputs.append(history.out + history.err)
        #expect(history.out.contains("alias production"), "\(history.out)")

        // Without the variable, the commands say what is missing rather than opening an empty local registry.
        let unset = try await reader.run(["models", "list"])
        outputs.append(unset.out + unset.err)
        #expect(unset.status != 0, "\(unset.out)\(unset.err)")

        let state = try #require(applier.read("state/shared-registry.mlstate.json"))
        #expect(!state.contains(server.password))
        for text in outputs { #expect(!text.contains(server.password), "the database password was printed: \(text)") }
    }
}
