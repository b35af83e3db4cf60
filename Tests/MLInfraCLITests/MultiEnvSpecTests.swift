import Foundation
import Testing

/// `specs/multi-env/` as its README walks through it: one module applied to dev and prod in two
/// workspaces, and the refactor into the module, which plans as moves and applies without touching the engines.
@Suite struct MultiEnvSpecTests {
    static let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("specs/multi-env")

    /// A copy of the spec in `h`'s directory.
    func copySpec(into h: CLIHarness) throws {
        for name in ["main.yaml", "modules", "envs", "models"] {
            try FileManager.default.copyItem(at: Self.spec.appendingPathComponent(name), to: h.directory.appendingPathComponent(name))
        }
    }

    @Test func oneModuleServesDevAndProdFromTwoWorkspaces() async throws {
        let h = try CLIHarness()
        try copySpec(into: h)
        for env in ["dev", "prod"] {
            let new = try await h.run("workspace", "new", env, "--var-file", "envs/\(env).yaml")
            #expect(new.status == 0, "\(new.err)")
            let apply = try await h.run("apply", "--auto-approve", "--var-file", "envs/\(env).yaml")
            #expect(apply.status == 0 && apply.out.contains("Apply complete! 5 applied"), "\(apply.out)\(apply.err)")
        }
        for (env, serve) in [("dev", "v2"), ("prod", "v1")] {
            _ = try await h.run("workspace", "select", env, "--var-file", "envs/\(env).yaml")
            let list = try await h.run("state", "list", "--var-file", "envs/\(env).yaml")
            #expect(list.out.contains("module.fraud.model_version.version[\"v1\"]") && list.out.contains("registry.main"), "\(list.out)")
            let console = try await h.run(
                ["console", "--var-file", "envs/\(env).yaml"],
                input: "module.fraud.served\nmodule.fraud.served_version == module.fraud.served_version\nlocal.tags.env\n")
            #expect(console.out == "\"\(serve)\"\ntrue\n\"\(env)\"\n", "\(console.out)\(console.err)")
            let plan = try await h.run("plan", "--detailed-exitcode", "--var-file", "envs/\(env).yaml")
            #expect(plan.status == 0, "\(plan.out)\(plan.err)")
        }
        #expect(FileManager.default.fileExists(atPath: h.directory.appendingPathComponent(".mlinfra/dev/registry").path))
        #expect(FileManager.default.fileExists(atPath: h.directory.appendingPathComponent(".mlinfra/prod/registry").path))
    }

    static let flat = """
        mlinfra: 1
        project: multi-env
        variables:
          env: { type: string, allowed: [dev, prod] }
          serve: { type: string, default: v1 }
          owner: { type: string, default: risk }
        providers:
          local: { data_dir: ".mlinfra/${var.env}" }
        resources:
          registry.main: {}
          model.fraud_detector:
            registry: ${registry.main}
            description: Fraud classifier (dev)
            tags: { team: risk-dev, env: dev }
            protected_aliases: [production]
          model_version.fraud_v1: { model: "${model.fraud_detector}", artifact: models/fraud-v1.json, format: linear-json, tags: { key: v1 } }
          model_version.fraud_v2: { model: "${model.fraud_detector}", artifact: models/fraud-v2.json, format: linear-json, tags: { key: v2 } }
          model_alias.fraud_production:
            model: ${model.fraud_detector}
            alias: production
            version: ${model_version.fraud_v2.version}
        """

    @Test func theRefactorIntoTheModulePlansAsMovesAndTouchesNoEngine() async throws {
        let h = try CLIHarness()
        try copySpec(into: h)
        let real = try String(contentsOf: h.directory.appendingPathComponent("main.yaml"), encoding: .utf8)
        try h.write("main.yaml", Self.flat)
        let first = try await h.run("apply", "--auto-approve", "--var-file", "envs/dev.yaml")
        #expect(first.status == 0, "\(first.out)\(first.err)")
        // The registry's audit log records every change an apply makes to it.
        let history = ["models", "history", "fraud_detector", "--data-dir", ".mlinfra/dev"]
        let before = try await h.run(history)
        #expect(before.status == 0 && before.out.contains("version 2 registered"), "\(before.out)\(before.err)")

        try h.write("main.yaml", real)
        let plan = try await h.run("plan", "--var-file", "envs/dev.yaml")
        #expect(plan.status == 0, "\(plan.err)")
        #expect(plan.out.contains("Plan: 0 to add, 0 to change, 0 to destroy, 4 moved."), "\(plan.out)")
        #expect(plan.out.contains("# module.fraud.model.detector moved from model.fraud_detector"), "\(plan.out)")
        #expect(plan.out.contains("# module.fraud.model_version.version[\"v2\"] moved from model_version.fraud_v2"), "\(plan.out)")
        let json = try await h.run("plan", "--format", "json", "--var-file", "envs/dev.yaml")
        #expect(json.out.contains("\"previous_address\":\"model.fraud_detector\""), "\(json.out)")
        let apply = try await h.run("apply", "--auto-approve", "--var-file", "envs/dev.yaml")
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        #expect(try await h.run(history).out == before.out, "the refactor's apply changed the registry")
        let list = try await h.run("state", "list", "--var-file", "envs/dev.yaml")
        #expect(!list.out.contains("model.fraud_detector") && list.out.contains("module.fraud.model.detector"), "\(list.out)")
        let again = try await h.run("plan", "--detailed-exitcode", "--var-file", "envs/dev.yaml")
        #expect(again.status == 0, "\(again.out)")
    }
}
