import Foundation
import MLInfraCore

/// The checks every provider must pass, in process or over the plugin protocol:
/// a sane schema, configure, validate, the plan paths (create, update, replace,
/// no-op), an apply round trip (create, read, update, import, delete, read after
/// delete), unknown values in a plan, results that match the plan, and errors reported
/// as diagnostics.
///
/// `run()` creates and deletes one real resource through the provider, so give it
/// a fixture that is safe to create (e.g. in a temporary directory).
public struct ProviderConformance: Sendable {
    /// What the suite needs to know about one resource type of the provider.
    public struct Fixture: Sendable {
        public var providerConfig: [String: Value]
        public var workingDirectory: String
        public var type: String
        public var address: String
        /// A valid config to create the resource with.
        public var create: [String: Value]
        /// `create` with an attribute changed that can change in place.
        public var update: [String: Value]
        /// `create` with an attribute changed that forces a replace.
        public var replace: [String: Value]
        /// An invalid config; validate must report an error naming an attribute.
        public var invalid: [String: Value]
        /// An attribute of `create` that may be unknown at plan time (a reference, say).
        public var unknownAttribute: String
        /// Attributes that `import` cannot read back from the engine (a reference to an object
        /// the engine does not record, say): import must then leave them out, never report
        /// another value. Everything else must come back as apply made it.
        public var notImportable: Set<String>

        public init(
            providerConfig: [String: Value], workingDirectory: String, type: String, address: String,
            create: [String: Value], update: [String: Value], replace: [String: Value], invalid: [String: Value],
            unknownAttribute: String, notImportable: Set<String> = []
        ) {
            self.providerConfig = providerConfig
            self.workingDirectory = workingDirectory
            self.type = type
            self.address = address
            self.create = create
            self.update = update
            self.replace = replace
            self.invalid = invalid
            self.unknownAttribute = unknownAttribute
            self.notImportable = notImportable
        }
    }

    /// The outcome of one check.
    public struct Check: Sendable, CustomStringConvertible {
        public var name: String
        public var problems: [String]
        public var passed: Bool { problems.isEmpty }
        public var description: String {
            passed ? "✓ \(name)" : "✗ \(name)\n" + problems.map { "    - \($0)" }.joined(separator: "\n")
        }
    }

    /// All checks, in the order they ran.
    public struct Report: Sendable, CustomStringConvertible {
        public var checks: [Check]
        public var failures: [Check] { checks.filter { !$0.passed } }
        public var passed: Bool { failures.isEmpty }
        public var description: String { checks.map(\.description).joined(separator: "\n") }
    }

    public let provider: any Provider
    public let fixture: Fixture

    public init(provider: any Provider, fixture: Fixture) {
        self.provider = provider
        self.fixture = fixture
    }

    /// A new empty directory for one provider's conformance run
    /// (`mlinfra-LABEL-conformance-UUID` in the temporary directory); the caller removes it.
    public static func temporaryDirectory(_ label: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-\(label)-conformance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The standard fixture for `FakeProvider` (in process or as `mlinfra-test-provider`).
    public static func fakeFixture(workingDirectory: String = NSTemporaryDirectory()) -> Fixture {
        Fixture(
            providerConfig: ["label": "conformance"],
            workingDirectory: workingDirectory,
            type: "fake_thing",
            address: "fake_thing.conformance",
            create: ["size": 1, "tags": ["team": "ml"], "secret": "s3cret"],
            update: ["size": 2, "tags": ["team": "ml", "tier": "gold"], "secret": "s3cret"],
            replace: ["size": 1, "tags": ["team": "ml"], "secret": "s3cret", "kind": "premium"],
            invalid: ["size": -1],
            unknownAttribute: "size")
    }

    public func run() async -> Report {
        let runner = Runner(provider: provider, fixture: fixture)
        await runner.runAll()
        return Report(checks: runner.checks)
    }

    /// Runs the checks in order; later checks use what earlier ones created.
    private final class Runner {
        let provider: any Provider
        let fixture: Fixture
        var checks: [Check] = []
        var schema: ResourceSchema?
        var created: ResourceObject?

        init(provider: any Provider, fixture: Fixture) {
            self.provider = provider
            self.fixture = fixture
        }

        func check(_ name: String, _ body: (inout [String]) async throws -> Void) async {
            var problems: [String] = []
            do {
                try await body(&problems)
            } catch {
                problems.append("threw: \(error)")
            }
            checks.append(Check(name: name, problems: problems))
        }

        var address: String { fixture.address }
        var type: String { fixture.type }
        func context() -> ApplyContext { ApplyContext(actor: "conformance", reason: "provider conformance suite") }

        /// Plans `config` over `prior` and applies that plan as `action`: the plan and the new object, or nil
        /// (noted in `problems`) when apply returns no object. Errors apply reports are noted too.
        func planAndApply(
            _ action: ApplyAction, prior: ResourceObject?, config: [String: Value], _ problems: inout [String]
        ) async throws -> (PlanResponse, ResourceObject)? {
            let plan = try await provider.plan(PlanRequest(type: type, address: address, prior: prior, proposed: config))
            let response = try await provider.apply(
                ApplyRequest(type: type, address: address, action: action, prior: prior, config: config, planned: plan.planned, context: context()))
            for error in response.diagnostics where error.severity == .error { problems.append("apply reported: \(error)") }
            guard let new = response.new else {
                problems.append("apply returned no resource")
                return nil
            }
            return (plan, new)
        }

        func runAll() async {
            await checkSchema()
            await checkConfigure()
            await checkValidate()
            await checkPlanCreate()
            await checkApplyCreate()
            guard let created else {
                checks.append(Check(name: "remaining checks", problems: ["skipped: the resource could not be created"]))
                return
            }
            await checkRead(created)
            await checkPlanNoOp(created)
            await checkPlanUpdate(created)
            await checkPlanReplace(created)
            await checkApplyUpdate()
            await checkImport()
            await checkApplyDelete()
            await checkErrorsAreDiagnostics()
        }

        func checkSchema() async {
            var found: ResourceSchema?
            await check("schema is sane") { problems in
                let schema = try await provider.schema()
                if schema.name.isEmpty { problems.append("the provider's name is empty") }
                if schema.version.isEmpty { problems.append("the provider's version is empty") }
                if let limit = schema.concurrencyLimit, limit < 1 { problems.append("concurrency_limit \(limit) is less than 1") }
                for (typeName, resource) in schema.resourceTypes.sorted(by: { $0.key < $1.key }) {
                    if !ResourceAddress.isIdentifier(Substring(typeName)) {
                        problems.append("resource type `\(typeName)` is not an identifier")
                    }
                    if resource.version < 0 { problems.append("\(typeName): schema version \(resource.version) is negative") }
                    Runner.checkAttributes(resource.attributes, in: typeName, problems: &problems)
                }
                Runner.checkAttributes(schema.config, in: "provider config", problems: &problems)
                found = schema.resourceTypes[type]
                if found == nil { problems.append("the schema does not declare the fixture's type \(type)") }
                for key in fixture.create.keys.sorted() where found?.attributes[key] == nil {
                    problems.append("the fixture sets `\(key)`, which \(type) does not declare")
                }
            }
            schema = found
        }

        static func checkAttributes(_ attributes: [String: AttributeSchema], in owner: String, problems: inout [String]) {
            for (name, attribute) in attributes.sorted(by: { $0.key < $1.key }) {
                if name.isEmpty { problems.append("\(owner): an attribute has an empty name") }
                if attribute.required && attribute.computed {
                    problems.append("\(owner).\(name) is both required and computed")
                }
                if attribute.forceNew && !attribute.settable {
                    problems.append("\(owner).\(name) is computed, so force_new means nothing on it")
                }
                if let allowed = attribute.allowed {
                    if attribute.type != .string { problems.append("\(owner).\(name) lists allowed values but is not a string") }
                    if allowed.isEmpty { problems.append("\(owner).\(name) allows no value at all") }
                }
                if case .object(let nested) = attribute.type {
                    checkAttributes(nested, in: "\(owner).\(name)", problems: &problems)
                }
            }
        }

        func checkConfigure() async {
            await check("configure accepts the fixture's config") { problems in
                let response = try await provider.configure(
                    ConfigureRequest(config: fixture.providerConfig, workingDirectory: fixture.workingDirectory))
                for error in response.diagnostics where error.severity == .error {
                    problems.append("configure reported: \(error)")
                }
            }
        }

        func checkValidate() async {
            await check("validate accepts a valid config") { problems in
                let response = try await provider.validate(ValidateRequest(type: type, address: address, config: fixture.create))
                for item in response.diagnostics where item.diagnostic.severity == .error {
                    problems.append("validate reported: \(item.diagnostic)")
                }
            }
            await check("validate reports an invalid config, naming the attribute") { problems in
                let response = try await provider.validate(ValidateRequest(type: type, address: address, config: fixture.invalid))
                let errors = response.diagnostics.filter { $0.diagnostic.severity == .error }
                if errors.isEmpty { problems.append("no error for \(Value.map(fixture.invalid).rendered)") }
                if !errors.isEmpty && errors.allSatisfy({ $0.attribute == nil }) {
                    problems.append("no error names the attribute at fault")
                }
            }
        }

        func checkPlanCreate() async {
            await check("plan of a create keeps the inputs and marks what is not known yet") { problems in
                let response = try await provider.plan(PlanRequest(type: type, address: address, prior: nil, proposed: fixture.create))
                reportErrors(response.diagnostics, in: &problems)
                for (key, value) in fixture.create where response.planned[key] != value {
                    problems.append("planned `\(key)` is \(response.planned[key]?.rendered ?? "missing"), the input was \(value.rendered)")
                }
                for (key, attribute) in schema?.attributes ?? [:] where attribute.computed && response.planned[key] == nil {
                    problems.append("computed `\(key)` is missing from the plan; plan it as unknown when it is not known yet")
                }
            }
            await check("plan carries unknown inputs through") { problems in
                var proposed = fixture.create
                proposed[fixture.unknownAttribute] = .unknown
                let response = try await provider.plan(PlanRequest(type: type, address: address, prior: nil, proposed: proposed))
                reportErrors(response.diagnostics, in: &problems)
                if response.planned[fixture.unknownAttribute] != .unknown {
                    problems.append(
                        "unknown `\(fixture.unknownAttribute)` was planned as \(response.planned[fixture.unknownAttribute]?.rendered ?? "missing")")
                }
            }
        }

        func checkApplyCreate() async {
            var made: ResourceObject?
            await check("apply creates the resource") { problems in
                guard let (plan, new) = try await planAndApply(.create, prior: nil, config: fixture.create, &problems) else { return }
                if new.id.isEmpty { problems.append("the new resource has an empty id") }
                if new.attributes.values.contains(where: \.containsUnknown) {
                    problems.append("the new resource still has unknown attributes")
                }
                for (key, value) in fixture.create where new.attributes[key] != value {
                    problems.append("created `\(key)` is \(new.attributes[key]?.rendered ?? "missing"), the input was \(value.rendered)")
                }
                for (key, value) in plan.planned where !value.containsUnknown && new.attributes[key] != value {
                    problems.append("`\(key)` was planned as \(value.rendered) but is \(new.attributes[key]?.rendered ?? "missing")")
                }
                made = new
            }
            created = made
        }

        func checkRead(_ created: ResourceObject) async {
            await check("read returns what apply created") { problems in
                let response = try await provider.read(ReadRequest(type: type, address: address, id: created.id, prior: created))
                reportErrors(response.diagnostics, in: &problems)
                guard let current = response.current else {
                    problems.append("read says the resource is gone")
                    return
                }
                if current != created { problems.append("read returned \(current), apply returned \(created)") }
            }
        }

        func checkPlanNoOp(_ created: ResourceObject) async {
            await check("plan with unchanged inputs plans no change") { problems in
                let response = try await provider.plan(PlanRequest(type: type, address: address, prior: created, proposed: fixture.create))
                reportErrors(response.diagnostics, in: &problems)
                for (key, value) in response.planned where created.attributes[key] != value {
                    problems.append("`\(key)` would change from \(created.attributes[key]?.rendered ?? "nothing") to \(value.rendered)")
                }
                if !response.requiresReplace.isEmpty { problems.append("requires replace of \(response.requiresReplace)") }
            }
        }

        func checkPlanUpdate(_ created: ResourceObject) async {
            await check("plan of an in-place change is an update") { problems in
                let response = try await provider.plan(PlanRequest(type: type, address: address, prior: created, proposed: fixture.update))
                reportErrors(response.diagnostics, in: &problems)
                let changed = changedKeys(fixture.create, fixture.update)
                if changed.isEmpty { problems.append("the fixture's update changes nothing") }
                for key in changed {
                    if response.planned[key] != fixture.update[key] {
                        problems.append("planned `\(key)` is \(response.planned[key]?.rendered ?? "missing"), not the update's value")
                    }
                    if forcesReplace(key, response) { problems.append("changing `\(key)` forces a replace") }
                }
                if response.planned["id"] != nil && response.planned["id"] != .string(created.id) {
                    problems.append("the id would change on an update")
                }
            }
        }

        func checkPlanReplace(_ created: ResourceObject) async {
            await check("plan of a force-new change is a replace") { problems in
                let response = try await provider.plan(PlanRequest(type: type, address: address, prior: created, proposed: fixture.replace))
                reportErrors(response.diagnostics, in: &problems)
                let changed = changedKeys(fixture.create, fixture.replace)
                if !changed.contains(where: { forcesReplace($0, response) }) {
                    problems.append("none of \(changed) is force_new in the schema or in requires_replace")
                }
            }
        }

        func checkApplyUpdate() async {
            guard let prior = created else { return }
            var updated: ResourceObject?
            await check("apply updates in place, keeping the id") { problems in
                guard let (plan, new) = try await planAndApply(.update, prior: prior, config: fixture.update, &problems) else { return }
                if new.id != prior.id { problems.append("the id changed from \(prior.id) to \(new.id)") }
                for (key, value) in fixture.update where new.attributes[key] != value {
                    problems.append("updated `\(key)` is \(new.attributes[key]?.rendered ?? "missing"), not \(value.rendered)")
                }
                // What the core checks after every apply: a value the plan knew must come back unchanged.
                let result = new.attributes.merging(["id": .string(new.id)]) { attribute, _ in attribute }
                for (key, value) in plan.planned where !value.containsUnknown && !value.isNull && result[key] != value {
                    problems.append("`\(key)` was planned as \(value.rendered) but is \(result[key]?.rendered ?? "missing") after the update")
                }
                let read = try await provider.read(ReadRequest(type: type, address: address, id: new.id, prior: new))
                if read.current != new { problems.append("read after update returned \(read.current.map(String.init(describing:)) ?? "nothing")") }
                updated = new
            }
            if let updated { created = updated }
        }

        func checkImport() async {
            guard let existing = created else { return }
            await check("import finds the resource by id") { problems in
                let response = try await provider.importResource(ImportRequest(type: type, address: address, id: existing.id))
                reportErrors(response.diagnostics, in: &problems)
                guard let imported = response.imported else {
                    problems.append("import found nothing under \(existing.id)")
                    return
                }
                if imported.id != existing.id { problems.append("imported id \(imported.id), expected \(existing.id)") }
                for (key, value) in existing.attributes where imported.attributes[key] != value {
                    let sensitive = schema?.attributes[key]?.sensitive ?? false
                    // A provider may be unable to read a secret back; it then leaves it out.
                    if sensitive && imported.attributes[key] == nil { continue }
                    if fixture.notImportable.contains(key) && imported.attributes[key] == nil { continue }
                    problems.append("imported `\(key)` is \(imported.attributes[key]?.rendered ?? "missing"), expected \(value.rendered)")
                }
            }
        }

        func checkApplyDelete() async {
            guard let existing = created else { return }
            await check("apply deletes, and read then reports it gone") { problems in
                let response = try await provider.apply(
                    ApplyRequest(
                        type: type, address: address, action: .delete, prior: existing, config: [:], planned: [:], context: context()))
                for error in response.diagnostics where error.severity == .error { problems.append("apply reported: \(error)") }
                if response.new != nil { problems.append("delete returned a resource") }
                let read = try await provider.read(ReadRequest(type: type, address: address, id: existing.id, prior: existing))
                if read.current != nil { problems.append("read after delete still finds the resource") }
                let imported = try await provider.importResource(ImportRequest(type: type, address: address, id: existing.id))
                if imported.imported != nil { problems.append("import after delete still finds the resource") }
            }
            created = nil
        }

        func checkErrorsAreDiagnostics() async {
            await check("errors come back as diagnostics") { problems in
                let plan = try await provider.plan(PlanRequest(type: type, address: address, prior: nil, proposed: fixture.invalid))
                if !plan.diagnostics.contains(where: { $0.diagnostic.severity == .error }) {
                    problems.append("plan of an invalid config reported no error")
                }
                let unknownType = "conformance_no_such_type"
                do {
                    let response = try await provider.validate(
                        ValidateRequest(type: unknownType, address: "\(unknownType).x", config: [:]))
                    if !response.diagnostics.contains(where: { $0.diagnostic.severity == .error }) {
                        problems.append("validate of an unknown resource type reported no error")
                    }
                } catch is ProviderError {
                    // Throwing a ProviderError is an acceptable answer to a type the provider does not have.
                }
            }
        }

        func reportErrors(_ diagnostics: [AttributeDiagnostic], in problems: inout [String]) {
            for item in diagnostics where item.diagnostic.severity == .error {
                problems.append("unexpected error\(item.attribute.map { " on `\($0)`" } ?? ""): \(item.diagnostic)")
            }
        }

        func reportErrors(_ diagnostics: [Diagnostic], in problems: inout [String]) {
            reportErrors(diagnostics.map { AttributeDiagnostic($0) }, in: &problems)
        }

        func changedKeys(_ before: [String: Value], _ after: [String: Value]) -> [String] {
            Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
        }

        func forcesReplace(_ key: String, _ response: PlanResponse) -> Bool {
            (schema?.attributes[key]?.forceNew ?? false) || response.requiresReplace.contains(key)
        }
    }
}
