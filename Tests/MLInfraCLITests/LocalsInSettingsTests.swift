import Foundation
import Testing

/// Locals are usable everywhere a reference is, the settings read before any resource included:
/// provider settings and the backend's path. There a local that refers to a resource is an error
/// at the reference, saying what may be used instead.
@Suite struct LocalsInSettingsTests {
    @Test func providerSettingsAndTheBackendPathTakeLocals() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", """
            mlinfra: 1
            project: settings
            variables:
              env: { type: string, default: dev }
            locals:
              objects: ${format("objects-%s", var.env)}
              state_dir: ${upper(var.env)}
            backend: { local: { path: "${local.state_dir}/settings.mlstate.json" } }
            providers:
              disk: { dir: "${local.objects}", latency: 0s }
            resources:
              item.a: { size: 1, label: "in ${local.objects}" }
            """)
        let apply = try await h.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply.err)")
        #expect(h.objects("objects-dev") == ["item.a"])
        #expect(h.read("DEV/settings.mlstate.json") != nil, "the backend path came from local.state_dir")
        let other = try await h.run("apply", "--auto-approve", "--var", "env=prod")
        #expect(other.status == 0, "\(other.err)")
        #expect(h.objects("objects-prod") == ["item.a"])
        #expect(h.read("PROD/settings.mlstate.json") != nil)
    }

    @Test func aLocalOfAResourceInAProviderSettingIsAnErrorAtTheReference() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", """
            mlinfra: 1
            project: settings
            locals:
              fine: objects
              late: ${item.a.url}
            providers:
              disk: { dir: "${local.late}", latency: 0s }
            resources:
              item.a: { size: 1, label: "${local.fine}" }
            """)
        let plan = try await h.run("plan")
        #expect(plan.status == 1)
        #expect(plan.err.contains("main.yaml:5:9: `${item.a.url}` cannot be used here"), "\(plan.err)")
        #expect(plan.err.contains("read before any resource: use variables, functions and locals that refer to no resource"))
        #expect(h.objects().isEmpty)
    }
}
