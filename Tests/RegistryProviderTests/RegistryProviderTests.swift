import ArgumentParser
import Foundation
import MLInfraCore
import ModelRegistry
@testable import RegistryProvider
import Testing

/// A spec directory with artifacts and a configured provider, driven the way the core drives it.
final class ProviderFixture {
    let root: URL
    let provider = RegistryProvider()
    let context = ApplyContext(actor: "ci@runner", planID: "plan-42", reason: "quickstart")

    init() async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("registry-provider-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("models"), withIntermediateDirectories: true)
        try write("models/v1.json", #"{"weights": [1.0]}"#)
        try write("models/v2.json", #"{"weights": [2.0]}"#)
        _ = try await provider.configure(ConfigureRequest(config: ["data_dir": ".mlinfra"], workingDirectory: root.path))
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func write(_ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: root.appendingPathComponent(path))
    }

    /// The registry the provider writes to, opened independently.
    func registry() throws -> ModelRegistry {
        try ModelRegistry(directory: root.appendingPathComponent(".mlinfra/registry"))
    }

    /// Plans and, when there are no errors, applies one resource; returns what apply reported.
    @discardableResult
    func converge(_ type: String, _ address: String, prior: ResourceObject?, config: [String: Value]) async throws -> ResourceObject {
        let plan = try await provider.plan(PlanRequest(type: type, address: address, prior: prior, proposed: config))
        #expect(plan.diagnostics.isEmpty, "\(plan.diagnostics)")
        let response = try await provider.apply(
            ApplyRequest(
                type: type, address: address, action: prior == nil ? .create : .update, prior: prior, config: config,
                planned: plan.planned, context: context))
        #expect(response.diagnostics.isEmpty, "\(response.diagnostics)")
        return try #require(response.new)
    }

    /// The quickstart's resources, applied: registry, model, two versions, production → v1.
    func quickstart() async throws -> (model: ResourceObject, v1: ResourceObject, v2: ResourceObject, alias: ResourceObject) {
        let registry = try await converge("registry", "registry.main", prior: nil, config: [:])
        let model = try await converge(
            "model", "model.fraud", prior: nil,
            config: ["registry": .string(registry.id), "protected_aliases": ["production"], "tags": ["team": "risk"]])
        let v1 = try await converge(
            "model_version", "model_version.fraud_v1", prior: nil,
            config: ["model": .string(model.id), "artifact": "models/v1.json", "format": "linear-json"])
        let v2 = try await converge(
            "model_version", "model_version.fraud_v2", prior: nil,
            config: ["model": .string(model.id), "artifact": "models/v2.json", "format": "linear-json"])
        let alias = try await converge(
            "model_alias", "model_alias.fraud_production", prior: nil,
            config: ["model": .string(model.id), "alias": "production", "version": v1.attributes["version"]!])
        return (model, v1, v2, alias)
    }

    /// Attributes whose planned value differs from the prior (unknown counts as a change), as the core compares them.
    static func changed(_ prior: [String: Value], _ planned: [String: Value]) -> [String] {
        planned.keys.filter { key in planned[key]!.containsUnknown || prior[key] != planned[key] }.sorted()
    }
}

@Suite struct RegistryProviderTests {
    @Test func schemaDeclaresTheFourTypesUnderLocal() async throws {
        let schema = try await RegistryProvider().schema()
        #expect(schema.name == "local")
        #expect(schema.version == MLInfraVersion.current)
        #expect(Set(schema.resourceTypes.keys) == ["registry", "model", "model_version", "model_alias"])
        #expect(schema.resourceTypes["model_version"]?.attributes["version"]?.computed == true)
        #expect(schema.resourceTypes["model_version"]?.attributes["model"]?.referenceType == "model")
        #expect(schema.resourceTypes["model_alias"]?.attributes["version"]?.type == .int)
        #expect(schema.resourceTypes["model_alias"]?.attributes["version"]?.forceNew == false)
        #expect(schema.config["data_dir"] != nil)
    }

    @Test func quickstartCreatesEverythingWithMeaningfulIDs() async throws {
        let f = try await ProviderFixture()
        let (model, v1, v2, alias) = try await f.quickstart()
        #expect(model.id == "fraud")
        #expect(v1.id == "fraud/1")
        #expect(v1.attributes["version"] == 1)
        #expect(v2.id == "fraud/2")
        #expect(alias.id == "fraud@production")
        #expect(alias.attributes["version"] == 1)
        #expect(alias.attributes["uri"] == "models:/fraud@production")
        let registry = try f.registry()
        let resolved = try registry.resolve("models:/fraud@production")
        #expect(resolved.version == 1)
        #expect(resolved.format == "linear-json")
        #expect(try registry.loadArtifact(resolved) == Data(#"{"weights": [1.0]}"#.utf8))
        #expect(registry.directory.path.hasPrefix(f.root.path))
    }

    @Test func versionPlanKnowsTheHashButNotTheNumber() async throws {
        let f = try await ProviderFixture()
        _ = try await f.quickstart()
        let plan = try await f.provider.plan(
            PlanRequest(type: "model_version", address: "model_version.fraud_v3", prior: nil,
                        proposed: ["model": "fraud", "artifact": "models/v2.json"]))
        #expect(plan.planned["version"] == .unknown)
        #expect(plan.planned["id"] == .unknown)
        #expect(plan.planned["sha256"] == .string(try ModelRegistry.sha256(ofFile: f.root.appendingPathComponent("models/v2.json"))))
        #expect(plan.planned["format"] == "file")
    }

    @Test func aDirectoryArtifactIsPlannedAppliedAndPlannedAgainWithoutChanges() async throws {
        let f = try await ProviderFixture()
        let (model, _, _, _) = try await f.quickstart()
        try FileManager.default.createDirectory(at: f.root.appendingPathComponent("models/mlflow"), withIntermediateDirectories: true)
        try f.write("models/mlflow/MLmodel", "flavors: {}\n")
        try f.write("models/mlflow/model.json", #"{"learner": {}}"#)
        let config: [String: Value] = ["model": .string(model.id), "artifact": "models/mlflow", "format": "mlflow"]
        let v3 = try await f.converge("model_version", "model_version.fraud_dir", prior: nil, config: config)
        #expect(v3.attributes["size"] == .int(12 + 15), "the files' total, as registration records it")
        #expect(v3.attributes["sha256"] == .string(try ModelRegistry.sha256(ofArtifact: f.root.appendingPathComponent("models/mlflow"))))
        #expect(try f.registry().resolve("models:/fraud/3").kind == .directory)
        let again = try await f.provider.plan(PlanRequest(type: "model_version", address: "model_version.fraud_dir", prior: v3, proposed: config))
        #expect(ProviderFixture.changed(v3.attributes, again.planned) == [])
        try f.write("models/mlflow/model.json", #"{"learner": {"x": 1}}"#)
        let changed = try await f.provider.plan(PlanRequest(type: "model_version", address: "model_version.fraud_dir", prior: v3, proposed: config))
        #expect(changed.requiresReplace.contains("sha256"), "a changed file inside is new content")
    }

    @Test func unchangedSpecPlansNoChanges() async throws {
        let f = try await ProviderFixture()
        let (model, v1, _, alias) = try await f.quickstart()
        let v1Plan = try await f.provider.plan(
            PlanRequest(type: "model_version", address: "model_version.fraud_v1", prior: v1,
                        proposed: ["model": "fraud", "artifact": "models/v1.json", "format": "linear-json"]))
        #expect(ProviderFixture.changed(v1.attributes, v1Plan.planned) == [])
        #expect(v1Plan.requiresReplace.isEmpty)
        let aliasPlan = try await f.provider.plan(
            PlanRequest(type: "model_alias", address: "model_alias.fraud_production", prior: alias,
                        proposed: ["model": "fraud", "alias": "production", "version": 1]))
        #expect(ProviderFixture.changed(alias.attributes, aliasPlan.planned) == [])
        let modelPlan = try await f.provider.plan(
            PlanRequest(type: "model", address: "model.fraud", prior: model,
                        proposed: ["registry": "main", "protected_aliases": ["production"], "tags": ["team": "risk"]]))
        #expect(ProviderFixture.changed(model.attributes, modelPlan.planned) == [])
    }

    @Test func movingTheAliasIsOneInPlaceUpdateAuditedWithThePlan() async throws {
        let f = try await ProviderFixture()
        let (_, _, v2, alias) = try await f.quickstart()
        let proposed: [String: Value] = ["model": "fraud", "alias": "production", "version": v2.attributes["version"]!]
        let plan = try await f.provider.plan(
            PlanRequest(type: "model_alias", address: "model_alias.fraud_production", prior: alias, proposed: proposed))
        #expect(ProviderFixture.changed(alias.attributes, plan.planned) == ["version"])
        #expect(plan.requiresReplace.isEmpty)
        let moved = try await f.converge("model_alias", "model_alias.fraud_production", prior: alias, config: proposed)
        #expect(moved.attributes["version"] == 2)

        let registry = try f.registry()
        #expect(try registry.resolve("models:/fraud@production").version == 2)
        let moves = try registry.history(of: "fraud").filter { $0.action == "alias.set" }
        #expect(moves.map(\.summary) == ["alias production → 1", "alias production: 1 → 2"])
        #expect(moves.allSatisfy { $0.actor == "ci@runner" && $0.planID == "plan-42" && $0.reason == "quickstart" && $0.origin == .apply })
    }

    @Test func newArtifactContentIsAReplace() async throws {
        let f = try await ProviderFixture()
        let (_, _, v2, _) = try await f.quickstart()
        try f.write("models/v2.json", #"{"weights": [2.5]}"#)
        let plan = try await f.provider.plan(
            PlanRequest(type: "model_version", address: "model_version.fraud_v2", prior: v2,
                        proposed: ["model": "fraud", "artifact": "models/v2.json", "format": "linear-json"]))
        #expect(plan.diagnostics.isEmpty)
        #expect(plan.requiresReplace == ["sha256"])
        #expect(plan.planned["version"] == .unknown)
        #expect(plan.planned["sha256"] != v2.attributes["sha256"])
    }

    @Test func replacingAVersionAnAliasPointsToIsAPlanError() async throws {
        let f = try await ProviderFixture()
        let (_, v1, _, _) = try await f.quickstart()
        try f.write("models/v1.json", #"{"weights": [1.5]}"#)
        let plan = try await f.provider.plan(
            PlanRequest(type: "model_version", address: "model_version.fraud_v1", prior: v1,
                        proposed: ["model": "fraud", "artifact": "models/v1.json", "format": "linear-json"]))
        let error = try #require(plan.diagnostics.first)
        #expect(error.diagnostic.severity == .error)
        #expect(error.attribute == "artifact")
        #expect(error.diagnostic.summary.contains("model_version.fraud_v1"))
        #expect(error.diagnostic.summary.contains("fraud@production"))
    }

    @Test func deletingAVersionAnAliasPointsToFailsNamingTheAlias() async throws {
        let f = try await ProviderFixture()
        let (_, v1, _, _) = try await f.quickstart()
        let response = try await f.provider.apply(
            ApplyRequest(type: "model_version", address: "model_version.fraud_v1", action: .delete, prior: v1, config: [:],
                         planned: [:], context: f.context))
        let error = try #require(response.diagnostics.first)
        #expect(error.severity == .error)
        #expect(error.summary.contains("model_version.fraud_v1"))
        #expect(error.summary.contains("production"))
        #expect(try f.registry().version("fraud", 1) != nil)
    }

    @Test func tagsAndDescriptionUpdateInPlace() async throws {
        let f = try await ProviderFixture()
        let (_, v1, _, _) = try await f.quickstart()
        let proposed: [String: Value] = [
            "model": "fraud", "artifact": "models/v1.json", "format": "linear-json", "tags": ["validated": "true"],
            "description": "checked",
        ]
        let plan = try await f.provider.plan(
            PlanRequest(type: "model_version", address: "model_version.fraud_v1", prior: v1, proposed: proposed))
        #expect(plan.requiresReplace.isEmpty)
        #expect(ProviderFixture.changed(v1.attributes, plan.planned) == ["description", "tags"])
        let updated = try await f.converge("model_version", "model_version.fraud_v1", prior: v1, config: proposed)
        #expect(updated.id == "fraud/1")
        #expect(try f.registry().version("fraud", 1)?.tags == ["validated": "true"])
    }

    @Test func aliasMovedOutOfBandShowsOnRefresh() async throws {
        let f = try await ProviderFixture()
        let (_, _, _, alias) = try await f.quickstart()
        try f.registry().setAlias("fraud", "production", version: 2, context: ChangeContext(actor: "ops", origin: .apply))
        let read = try await f.provider.read(
            ReadRequest(type: "model_alias", address: "model_alias.fraud_production", id: alias.id, prior: alias))
        #expect(read.current?.attributes["version"] == 2)
        try f.registry().deleteAlias("fraud", "production", context: ChangeContext(actor: "ops", origin: .apply))
        let gone = try await f.provider.read(
            ReadRequest(type: "model_alias", address: "model_alias.fraud_production", id: alias.id, prior: alias))
        #expect(gone.current == nil)
    }

    @Test func readReportsTheSameAttributesApplyReturned() async throws {
        let f = try await ProviderFixture()
        let (model, v1, _, alias) = try await f.quickstart()
        for (type, object) in [("model", model), ("model_version", v1), ("model_alias", alias)] {
            let read = try await f.provider.read(ReadRequest(type: type, address: "\(type).x", id: object.id, prior: object))
            #expect(read.current == object)
        }
    }

    @Test func aliasToAMissingVersionIsAPlanError() async throws {
        let f = try await ProviderFixture()
        _ = try await f.quickstart()
        let plan = try await f.provider.plan(
            PlanRequest(type: "model_alias", address: "model_alias.p", prior: nil,
                        proposed: ["model": "fraud", "alias": "canary", "version": 9]))
        #expect(plan.diagnostics.first?.attribute == "version")
        #expect(plan.diagnostics.first?.diagnostic.summary.contains("no version 9") == true)
    }

    @Test func missingArtifactIsAPlanErrorNamingThePath() async throws {
        let f = try await ProviderFixture()
        let plan = try await f.provider.plan(
            PlanRequest(type: "model_version", address: "model_version.x", prior: nil,
                        proposed: ["model": "fraud", "artifact": "models/nope.json"]))
        #expect(plan.diagnostics.first?.attribute == "artifact")
        #expect(plan.diagnostics.first?.diagnostic.summary.contains("models/nope.json") == true)
    }

    @Test func badValuesAreValidationErrorsNamingTheAttribute() async throws {
        let provider = RegistryProvider()
        let alias = try await provider.validate(
            ValidateRequest(type: "model_alias", address: "model_alias.a", config: ["model": "m", "version": "two"]))
        #expect(alias.diagnostics.map(\.attribute) == ["version"])
        let version = try await provider.validate(
            ValidateRequest(type: "model_version", address: "model_version.v", config: ["model": "m", "artifact": "a", "tags": "x"]))
        #expect(version.diagnostics.map(\.attribute) == ["tags"])
        let model = try await provider.validate(
            ValidateRequest(type: "model", address: "model.m", config: ["registry": "main", "protected_aliases": ["latest"]]))
        #expect(model.diagnostics.map(\.attribute) == ["protected_aliases.0"])
        let unknown = try await provider.validate(
            ValidateRequest(type: "model_alias", address: "model_alias.a", config: ["model": .unknown, "version": .unknown]))
        #expect(unknown.diagnostics.isEmpty)
    }

    @Test func aModelRegisteredOutsideTheSpecMustBeImported() async throws {
        let f = try await ProviderFixture()
        let registry = try f.registry()
        _ = try registry.register(
            RegistrationRequest(model: "legacy", artifact: f.root.appendingPathComponent("models/v1.json")), context: .command())
        let plan = try await f.provider.plan(
            PlanRequest(type: "model", address: "model.legacy", prior: nil, proposed: ["registry": "main"]))
        #expect(plan.diagnostics.first?.diagnostic.detail.contains("mlinfra import model.legacy legacy") == true)
        let imported = try await f.provider.importResource(ImportRequest(type: "model_version", address: "model_version.l1", id: "legacy/1"))
        #expect(imported.imported?.attributes["version"] == 1)
        let missing = try await f.provider.importResource(ImportRequest(type: "model_alias", address: "model_alias.l", id: "legacy@prod"))
        #expect(missing.imported == nil)
        #expect(missing.diagnostics.first?.detail.contains("MODEL@ALIAS") == true)
    }

    @Test func destroyRemovesAliasVersionsAndModel() async throws {
        let f = try await ProviderFixture()
        let (model, v1, v2, alias) = try await f.quickstart()
        for (type, object) in [("model_alias", alias), ("model_version", v1), ("model_version", v2), ("model", model)] {
            let response = try await f.provider.apply(
                ApplyRequest(type: type, address: "\(type).x", action: .delete, prior: object, config: [:], planned: [:], context: f.context))
            #expect(response.diagnostics.isEmpty)
            #expect(response.new == nil)
        }
        #expect(try f.registry().model("fraud") == nil)
        #expect(try f.registry().history(of: "fraud").last?.action == "model.delete")
    }
}

@Suite struct ModelsCommandTests {
    @Test func setAliasRefusesProtectedAliasesWithAnExplanation() async throws {
        let f = try await ProviderFixture()
        _ = try await f.quickstart()
        let dataDir = f.root.appendingPathComponent(".mlinfra").path
        var command = try ModelsCommand.parseAsRoot(["set-alias", "fraud", "production", "2", "--data-dir", dataDir])
        let error = await #expect(throws: RegistryError.self) {
            if var async = command as? AsyncParsableCommand { try await async.run() } else { try command.run() }
        }
        #expect(error?.code == .protectedAlias)
        #expect(error?.description.contains("mlinfra apply") == true)
        #expect(try f.registry().aliasTarget("fraud", "production") == 1)

        command = try ModelsCommand.parseAsRoot(["set-alias", "fraud", "staging", "2", "--data-dir", dataDir, "--reason", "try v2"])
        if var async = command as? AsyncParsableCommand { try await async.run() }
        #expect(try f.registry().aliasTarget("fraud", "staging") == 2)
        #expect(try f.registry().history(of: "fraud").last?.reason == "try v2")
    }

    @Test func registerCreatesTheModelAndHonoursTagsAndFormat() async throws {
        let f = try await ProviderFixture()
        let dataDir = f.root.appendingPathComponent(".mlinfra").path
        let artifact = f.root.appendingPathComponent("models/v2.json").path
        let command = try ModelsCommand.parseAsRoot([
            "register", "churn", "--artifact", artifact, "--tag", "dataset=q3", "--tag", "owner=ml", "--format", "linear-json",
            "--data-dir", dataDir,
        ])
        if var async = command as? AsyncParsableCommand { try await async.run() }
        let version = try #require(try f.registry().version("churn", 1))
        #expect(version.tags == ["dataset": "q3", "owner": "ml"])
        #expect(version.format == "linear-json")
        #expect(throws: (any Error).self) {
            try ModelsCommand.parseAsRoot(["register", "churn", "--artifact", artifact, "--tag", "novalue"])
        }
    }

    @Test func dataDirIsRelativeToTheSpecWhenGiven() throws {
        let file = try RegistryOptions.parse(["--spec", "/srv/specs/quickstart/main.yaml", "--data-dir", "state"])
        #expect(file.registryDirectory.path == "/srv/specs/quickstart/state/registry")
        let directory = try RegistryOptions.parse(["--spec", "/srv/specs/quickstart", "--data-dir", ".mlinfra"])
        #expect(directory.registryDirectory.path == "/srv/specs/quickstart/.mlinfra/registry")
        let absolute = try RegistryOptions.parse(["--spec", "/srv/specs/quickstart", "--data-dir", "/var/lib/mlinfra"])
        #expect(absolute.registryDirectory.path == "/var/lib/mlinfra/registry")
    }
}

/// A create interrupted after the registry committed it and before the state recorded it is
/// retried by the next apply with the same creation key: the provider adopts what it made.
@Suite struct CrashIdempotentCreateTests {
    func create(_ f: ProviderFixture, _ type: String, _ address: String, _ config: [String: Value], key: String?) async throws -> ApplyResponse {
        let plan = try await f.provider.plan(PlanRequest(type: type, address: address, prior: nil, proposed: config))
        var context = f.context
        context.creationKey = key
        return try await f.provider.apply(
            ApplyRequest(type: type, address: address, action: .create, prior: nil, config: config, planned: plan.planned, context: context))
    }

    @Test func aRetriedCreateAdoptsTheModelAndVersionItMade() async throws {
        let f = try await ProviderFixture()
        let model: [String: Value] = ["registry": "main"]
        let first = try await create(f, "model", "model.fraud", model, key: "lineage-1/model.fraud")
        let again = try await create(f, "model", "model.fraud", model, key: "lineage-1/model.fraud")
        #expect(again.diagnostics.isEmpty && again.new?.id == first.new?.id, "\(again.diagnostics)")
        // Another create (another state, or no key) of the same name is still refused.
        let other = try await create(f, "model", "model.fraud", model, key: "lineage-2/model.fraud")
        #expect(other.diagnostics.contains { $0.summary.contains("already exists") }, "\(other.diagnostics)")

        let version: [String: Value] = ["model": "fraud", "artifact": "models/v1.json", "format": "linear-json"]
        let v1 = try await create(f, "model_version", "model_version.v1", version, key: "lineage-1/model_version.v1")
        let retried = try await create(f, "model_version", "model_version.v1", version, key: "lineage-1/model_version.v1")
        #expect(retried.new?.id == v1.new?.id)
        #expect(try f.registry().versions(of: "fraud").count == 1)
        // A replacement's key differs from the key of what it replaces: a new version.
        let replacement = try await create(f, "model_version", "model_version.v1", version, key: "lineage-1/model_version.v1/replacing/fraud/1")
        #expect(replacement.new?.id != v1.new?.id)
        #expect(try f.registry().versions(of: "fraud").count == 2)
        // The same key with other content is refused, never a silent second version.
        try f.write("models/v1.json", #"{"weights": [9.0]}"#)
        let changed = try await create(f, "model_version", "model_version.v1", version, key: "lineage-1/model_version.v1")
        #expect(changed.diagnostics.contains { $0.summary.contains("same create with other content") }, "\(changed.diagnostics)")
        #expect(try f.registry().versions(of: "fraud").count == 2)
    }
}

/// The `registry` resource's `storage` and `artifacts`, checked before anything opens.
@Suite struct RegistryStorageChoiceTests {
    func problems(_ config: [String: Value]) async throws -> [AttributeDiagnostic] {
        let f = try await ProviderFixture()
        return try await f.provider.validate(ValidateRequest(type: "registry", address: "registry.main", config: config)).diagnostics
    }

    @Test func aBadURLIsNamedByItsAttributeAndNeverQuoted() async throws {
        let found = try await problems(["storage": ["postgres": ["url": "postgres://ml:s3cret-pw@/nodb"]]])
        #expect(found.map(\.attribute) == ["storage.postgres.url"])
        #expect(found.allSatisfy { !"\($0)".contains("s3cret-pw") }, "\(found)")
        #expect(found.first?.diagnostic.summary.contains("names no host") == true)
    }

    @Test func wrongShapesAndKindsSayWhatIsAccepted() async throws {
        #expect(try await problems(["storage": ["mysql": ["url": "x"]]]).map(\.attribute) == ["storage.mysql"])
        #expect(try await problems(["storage": ["postgres": ["url": "postgres://a@h/d", "schema": "Bad-Name"]]]).map(\.attribute)
            == ["storage.postgres.schema"])
        #expect(try await problems(["artifacts": ["postgres": .map([:])]]).map(\.attribute) == ["artifacts.postgres"])
        #expect(try await problems(["artifacts": ["path": "a", "postgres": .map([:])]]).map(\.attribute) == ["artifacts"])
        #expect(try await problems(["storage": ["postgres": ["url": "postgres://a@h/d"]], "artifacts": ["postgres": .map([:])]]).isEmpty)
        #expect(try await problems(["storage": ["postgres": ["url": .unknown]]]).isEmpty, "unknown until apply: nothing to say yet")
        #expect(try await problems(["storage": ["postgres": ["url": "postgres://a@h/d", "synchronous_commit": "yes"]]]).map(\.attribute)
            == ["storage.postgres.synchronous_commit"])
    }
}
