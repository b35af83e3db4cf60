import Foundation
import MLInfraCore
import Testing

/// A spec directory on disk with modules under it, planned and applied against the test provider.
final class ModuleSpec: Sendable {
    let directory: URL
    let harness = Harness()

    init(_ files: [String: String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-mod-\(UUID().uuidString)")
        try write(files)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func write(_ files: [String: String]) throws {
        for (path, text) in files {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
    }

    func remove(_ path: String) throws { try FileManager.default.removeItem(at: directory.appendingPathComponent(path)) }

    func configuration(vars: [String] = []) -> (Configuration?, Diagnostics) {
        let (spec, d1) = SpecLoader.load(path: directory.path)
        guard let spec else { return (nil, d1) }
        let (variables, d2) = VariableValues.resolve(spec, inputs: VariableInputs(flags: vars))
        guard !d2.hasErrors else { return (nil, d2) }
        let set = ProviderSet.with([("test", harness.provider, TestProvider.schemaValue)])
        return Configuration.build(spec: spec, variables: variables, providers: set)
    }

    func plan(vars: [String] = []) async throws -> Plan {
        let (c, d) = configuration(vars: vars)
        guard let c else { throw DiagnosticsError(d) }
        let (plan, pd) = await Planner(configuration: c, options: PlanOptions()).plan(state: try await harness.state())
        guard let plan else { throw DiagnosticsError(pd) }
        return plan
    }

    @discardableResult
    func apply(vars: [String] = []) async throws -> ApplyResult {
        let (c, d) = configuration(vars: vars)
        guard let c else { throw DiagnosticsError(d) }
        let (plan, pd) = await Planner(configuration: c, options: PlanOptions()).plan(state: try await harness.state())
        guard let plan else { throw DiagnosticsError(pd) }
        let result = await Applier(
            configuration: c, plan: plan, store: harness.store,
            options: ApplyOptions(parallelism: 4, context: ApplyContext(actor: "test"))
        ).apply()
        guard result.ok else { throw DiagnosticsError(result.diagnostics) }
        return result
    }
}

@Suite struct ModuleTests {
    static let app = """
        variables:
          size: { type: int }
          label: { type: string, default: none }
        locals:
          doubled: ${var.size * 2}
        resources:
          thing.a:
            size: ${local.doubled}
            label: ${var.label}
        outputs:
          url: ${thing.a.url}
          size: ${thing.a.size}
        """

    @Test func aModuleCallsResourcesUnderItsAddress() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + """
                modules:
                  app: { source: ./modules/app, inputs: { size: 3, label: '${upper("x")}' } }
                resources:
                  thing.user:
                    size: ${module.app.size}
                    ref: ${module.app.url}
                outputs:
                  app_url: ${module.app.url}
                """,
            "modules/app/main.yaml": Self.app,
        ])
        let (configuration, diagnostics) = spec.configuration()
        let c = try #require(configuration, "\(diagnostics)")
        #expect(c.instances.map(\.address.description).sorted() == ["module.app.thing.a", "thing.user"])
        #expect(c.instance("thing.user")?.dependencies == ["module.app.thing.a"])
        let plan = try await spec.plan()
        #expect(plan.changes.map(\.address.description) == ["module.app.thing.a", "thing.user"])
        #expect(plan.changes.first?.after?["size"] == .int(6))
        #expect(plan.changes.first?.address.module == "module.app")
        let result = try await spec.apply()
        let state = try await spec.harness.state()
        #expect(state.resource("module.app.thing.a")?.inputs["label"] == .string("X"))
        #expect(state.resource("thing.user")?.inputs["size"] == .int(6))
        #expect(result.outputs["app_url"]?.value == state.resource("module.app.thing.a")?.attributes["url"])
        #expect(try await spec.plan().changes.allSatisfy { $0.action == .noop })
    }

    @Test func forEachOnAModuleMakesAnInstancePerKey() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + """
                modules:
                  app:
                    source: ./modules/app
                    for_each: { dev: 1, prod: 4 }
                    inputs: { size: "${each.value}", label: "${each.key}" }
                outputs:
                  prod_size: ${module.app["prod"].size}
                """,
            "modules/app/main.yaml": Self.app,
        ])
        let result = try await spec.apply()
        let state = try await spec.harness.state()
        #expect(state.resources.map(\.address).sorted() == ["module.app[\"dev\"].thing.a", "module.app[\"prod\"].thing.a"])
        #expect(state.resource("module.app[\"dev\"].thing.a")?.inputs["size"] == .int(2))
        #expect(state.resource("module.app[\"prod\"].thing.a")?.inputs["label"] == .string("prod"))
        #expect(result.outputs["prod_size"]?.value == .int(8))
    }

    @Test func modulesNest() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + "modules:\n  outer: { source: ./modules/outer, inputs: { n: 5 } }\noutputs:\n  size: ${module.outer.inner_size}\n",
            "modules/outer/main.yaml": """
                variables:
                  n: { type: int }
                modules:
                  inner: { source: ../app, inputs: { size: "${var.n + 1}" } }
                outputs:
                  inner_size: ${module.inner.size}
                """,
            "modules/app/main.yaml": Self.app,
        ])
        let result = try await spec.apply()
        let state = try await spec.harness.state()
        #expect(state.resources.map(\.address) == ["module.outer.module.inner.thing.a"])
        #expect(result.outputs["size"]?.value == .int(12))
    }

    /// `depends_on: [module.NAME]` waits for every resource of the call: each `for_each` instance's,
    /// and those of modules nested in it; `module.NAME["key"]` for one instance; inside a module
    /// it names that module's own calls.
    @Test func dependsOnAModuleCallWaitsForAllOfItsResources() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + """
                modules:
                  apps:
                    source: ./modules/app
                    for_each: { dev: 1, prod: 4 }
                    inputs: { size: "${each.value}" }
                  outer: { source: ./modules/outer, inputs: { n: 5 } }
                  lone: { source: ./modules/app, inputs: { size: 2 } }
                resources:
                  thing.after_all: { size: 1, depends_on: [module.apps, module.outer] }
                  thing.after_prod: { size: 1, depends_on: ['module.apps["prod"]'] }
                """,
            "modules/outer/main.yaml": """
                variables:
                  n: { type: int }
                modules:
                  inner: { source: ../app, inputs: { size: "${var.n}" } }
                resources:
                  thing.own: { size: 1, depends_on: [module.inner] }
                """,
            "modules/app/main.yaml": Self.app,
        ])
        let (configuration, diagnostics) = spec.configuration()
        let c = try #require(configuration, "\(diagnostics)")
        #expect(c.instance("thing.after_all")?.dependencies.sorted() == [
            "module.apps[\"dev\"].thing.a", "module.apps[\"prod\"].thing.a", "module.outer.module.inner.thing.a", "module.outer.thing.own",
        ])
        #expect(c.instance("thing.after_prod")?.dependencies == ["module.apps[\"prod\"].thing.a"])
        #expect(c.instance("module.outer.thing.own")?.dependencies == ["module.outer.module.inner.thing.a"])
        try await spec.apply()
        #expect(try await spec.harness.state().resources.count == 7)

        try spec.write(["main.yaml": specHead + """
            modules:
              apps: { source: ./modules/app, inputs: { size: 1 } }
            resources:
              thing.after: { size: 1, depends_on: [module.app] }
            """])
        let (none, found) = spec.configuration()
        #expect(none == nil)
        let error = try #require(found.errors.first)
        #expect(error.summary == "`depends_on` names nothing: `module.app` is not a module call of this spec")
        #expect(error.detail.contains("Did you mean `module.apps`?"))
        #expect(error.location?.line == 6)
    }

    @Test func aMistakeInsideAModuleNamesTheModuleFileAndTheCallSite() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + "modules:\n  app: { source: ./modules/app, inputs: { size: 1 } }\n",
            "modules/app/main.yaml": "variables:\n  size: { type: int }\nresources:\n  thing.a:\n    size: ${var.sise}\n",
        ])
        let (configuration, diagnostics) = spec.configuration()
        #expect(configuration == nil)
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary == "`var.sise` is not a variable of this module")
        #expect(error.location?.file.hasSuffix("modules/app/main.yaml") == true)
        #expect(error.location?.line == 5)
        #expect(error.location?.column == 11)
        #expect(error.detail.contains("Did you mean `size`?"))
        #expect(error.detail.contains("In `module.app`, called at"))
        #expect(error.detail.contains("main.yaml:4:3"))
    }

    @Test func aMissingOrUnknownInputIsReportedAtTheCall() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + "modules:\n  app: { source: ./modules/app, inputs: { lable: x } }\n",
            "modules/app/main.yaml": Self.app,
        ])
        let (_, diagnostics) = spec.configuration()
        let summaries = diagnostics.errors.map(\.summary)
        #expect(summaries.contains("module `app` has no variable `lable`"))
        #expect(summaries.contains("module `app` needs the input `size`"))
        let unknown = try #require(diagnostics.errors.first { $0.summary.contains("lable") })
        #expect(unknown.detail.contains("Did you mean `label`?"))
        #expect(unknown.location?.line == 4)
    }

    @Test func anUnknownOutputOrSourceIsADiagnostic() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + """
                modules:
                  app: { source: ./modules/app, inputs: { size: 1 } }
                  gone: { source: ./modules/none }
                outputs:
                  x: ${module.app.urll}
                """,
            "modules/app/main.yaml": Self.app,
        ])
        let (_, diagnostics) = spec.configuration()
        let summaries = diagnostics.errors.map(\.summary)
        #expect(summaries.contains("the source of module `gone` is not a directory: ./modules/none"))
        let (_, d2) = try ModuleSpec([
            "main.yaml": specHead + "modules:\n  app: { source: ./modules/app, inputs: { size: 1 } }\noutputs:\n  x: ${module.app.urll}\n",
            "modules/app/main.yaml": Self.app,
        ]).configuration()
        let error = try #require(d2.errors.first)
        #expect(error.summary == "module `app` has no output `urll`")
        #expect(error.detail.contains("Did you mean `url`?"))
    }

    @Test(arguments: [
        ("module.app.thing.a", "module.app", "thing", "a", nil),
        ("module.app[\"dev\"].thing.a[\"k\"]", "module.app[\"dev\"]", "thing", "a", "k"),
        ("module.a.module.b.thing.c", "module.a.module.b", "thing", "c", nil),
    ] as [(String, String, String, String, String?)])
    func moduleAddressesParse(_ text: String, _ module: String, _ type: String, _ name: String, _ key: String?) throws {
        let address = try #require(ResourceAddress(parsing: text))
        #expect(address.module == module)
        #expect(address.type == type)
        #expect(address.name == name)
        #expect(address.key == key)
        #expect(address.description == text)
        #expect(address.objectName == (key.map { "\(name)_\($0)" } ?? name))
    }
}
