import Foundation
import MLInfraCore

/// An in-memory provider for tests of the core, in process or served over the
/// plugin protocol (`mlinfra-test-provider`).
///
/// Resource types:
/// - `fake_thing`: `name` (defaults to the address's name; id = name; change ⇒ replace),
///   `size: int` (required, not negative), `tags: map(string)`, `secret` (sensitive),
///   `kind` (`standard` | `premium`, change ⇒ replace), computed `id` and `created_at`.
/// - `fake_link`: `target` (a `fake_thing` id; change ⇒ replace), `label`, computed `id` (`TARGET/NAME`).
///   A link holds its target: `planDelete` of a thing names the links that point at it.
///
/// Tests can add latency, inject failures, count concurrent calls, and change
/// objects behind the provider's back (drift). With `state_file` in the provider
/// config, objects persist in that JSON file across processes.
public actor FakeProvider: Provider {
    /// How an injected failure shows.
    public enum Failure: Sendable, Hashable {
        /// The call returns an error diagnostic and changes nothing.
        case diagnostic(String)
        /// A create makes the object, then reports an error: `new` is set along with the error.
        case halfway(String)
        /// The call throws a `ProviderError`.
        case thrown(String)
    }

    /// One call as the fake saw it.
    public struct Call: Sendable, Hashable {
        public var method: String
        public var address: String?
    }

    public nonisolated let name: String
    private var latency: Duration
    private var objects: [String: [String: Value]] = [:]
    private var failures: [String: Failure] = [:]
    private var stateFile: URL?
    private var configured: [String: Value] = [:]
    private var inFlight = 0
    public private(set) var maxInFlight = 0
    public private(set) var calls: [Call] = []
    private var clock = 0

    public init(name: String = "fake", latency: Duration = .zero) {
        self.name = name
        self.latency = latency
    }

    // MARK: Test controls

    public func setLatency(_ latency: Duration) { self.latency = latency }

    /// Makes `method` (`apply`, `plan`, `read`, `import`, `validate`) fail for `address`.
    public func inject(_ failure: Failure, on method: String = "apply", for address: String) {
        failures["\(method) \(address)"] = failure
    }

    public func clearFailures() { failures = [:] }

    public func resetCounters() {
        maxInFlight = inFlight
        calls = []
    }

    public func callCount(_ method: String) -> Int { calls.filter { $0.method == method }.count }

    /// The objects that exist, by id.
    public func snapshot() -> [String: [String: Value]] { objects }

    /// Changes an attribute outside mlinfra (drift); false when there is no such object.
    @discardableResult
    public func mutate(id: String, attribute: String, to value: Value) -> Bool {
        guard objects[id] != nil else { return false }
        objects[id]![attribute] = value
        persist()
        return true
    }

    /// Deletes an object outside mlinfra.
    public func remove(id: String) {
        objects[id] = nil
        persist()
    }

    /// Creates an object outside mlinfra, e.g. for `import`.
    public func insert(id: String, attributes: [String: Value]) {
        var attributes = attributes
        attributes["id"] = .string(id)
        objects[id] = attributes
        persist()
    }

    // MARK: Schema

    public static func makeSchema(name: String = "fake") -> ProviderSchema {
        ProviderSchema(
            name: name,
            version: MLInfraVersion.current,
            config: [
                "label": AttributeSchema(.string, description: "A free text, echoed nowhere; for configure tests."),
                "state_file": AttributeSchema(
                    .string, description: "A JSON file the objects persist in, relative to the working directory."),
            ],
            resourceTypes: [
                "fake_thing": ResourceSchema(
                    description: "A thing with a size.",
                    attributes: [
                        "name": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "Defaults to the address's name; the id."),
                        "size": AttributeSchema(.int, required: true, description: "Not negative."),
                        "tags": AttributeSchema(.map(.string)),
                        "secret": AttributeSchema(.string, sensitive: true),
                        "kind": AttributeSchema(
                            .string, computed: true, optional: true, forceNew: true, allowed: ["standard", "premium"],
                            description: "Defaults to standard."),
                        "id": .computed(.string),
                        "created_at": .computed(.string, description: "When the thing was made."),
                    ]),
                "fake_link": ResourceSchema(
                    description: "A link to a fake_thing.",
                    attributes: [
                        "name": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "Defaults to the address's name."),
                        "target": AttributeSchema(.string, required: true, forceNew: true, referenceType: "fake_thing"),
                        "label": AttributeSchema(.string),
                        "id": .computed(.string, description: "TARGET/NAME"),
                    ]),
            ])
    }

    // MARK: Provider

    public func schema() async throws -> ProviderSchema {
        try await begin("schema", nil)
        defer { end() }
        return FakeProvider.makeSchema(name: name)
    }

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        try await begin("configure", nil)
        defer { end() }
        var diagnostics: [Diagnostic] = []
        let schema = FakeProvider.makeSchema(name: name)
        for (key, value) in request.config.sorted(by: { $0.key < $1.key }) {
            guard schema.config[key] != nil else {
                diagnostics.append(
                    .error(
                        "unknown setting `\(key)` for provider \(name)",
                        detail: "Settings: \(schema.config.keys.sorted().joined(separator: ", "))."))
                continue
            }
            if value.stringValue == nil && !value.isNull {
                diagnostics.append(.error("provider \(name): `\(key)` must be a string", detail: "Got \(value.kindName)."))
            }
        }
        guard diagnostics.isEmpty else { return ConfigureResponse(diagnostics: diagnostics) }
        configured = request.config
        if let path = request.config["state_file"]?.stringValue {
            let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: request.workingDirectory, isDirectory: true))
            stateFile = url
            if let data = try? Data(contentsOf: url) {
                do {
                    objects = try JSONDecoder().decode([String: [String: Value]].self, from: data)
                } catch {
                    return ConfigureResponse(diagnostics: [
                        .error("provider \(name): state_file \(url.path) is not readable JSON", detail: "\(error)")
                    ])
                }
            }
        }
        return ConfigureResponse()
    }

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        try await begin("validate", request.address)
        defer { end() }
        if let failure = try injected("validate", request.address) {
            return ValidateResponse(diagnostics: [AttributeDiagnostic(.error(failure))])
        }
        return ValidateResponse(diagnostics: check(type: request.type, config: request.config))
    }

    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        try await begin("plan", request.address)
        defer { end() }
        if let failure = try injected("plan", request.address) {
            return PlanResponse(planned: request.proposed, diagnostics: [AttributeDiagnostic(.error(failure))])
        }
        let problems = check(type: request.type, config: request.proposed)
        guard !problems.contains(where: { $0.diagnostic.severity == .error }) else {
            return PlanResponse(planned: request.proposed, diagnostics: problems)
        }
        var planned = withDefaults(type: request.type, address: request.address, config: request.proposed)
        planned["id"] = identity(type: request.type, attributes: planned).map(Value.string) ?? .unknown
        if request.type == "fake_thing" {
            planned["created_at"] = request.prior?.attributes["created_at"] ?? .unknown
        }
        return PlanResponse(planned: planned, diagnostics: problems)
    }

    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        try await begin("apply", request.address)
        defer { end() }
        let failure = failures["apply \(request.address)"]
        if case .thrown(let message) = failure {
            throw ProviderError(provider: name, message: message, detail: "Injected into the fake provider by a test.")
        }
        if case .diagnostic(let message) = failure {
            return ApplyResponse(new: request.prior, diagnostics: [.error(message, address: request.address)])
        }
        switch request.action {
        case .delete:
            if let id = request.prior?.id { objects[id] = nil }
            persist()
            return ApplyResponse(new: nil)
        case .create, .update:
            let problems = check(type: request.type, config: request.config)
            if let problem = problems.first(where: { $0.diagnostic.severity == .error }) {
                return ApplyResponse(new: request.prior, diagnostics: [problem.diagnostic])
            }
            var attributes = withDefaults(type: request.type, address: request.address, config: request.config)
            guard let id = identity(type: request.type, attributes: attributes) else {
                return ApplyResponse(new: request.prior, diagnostics: [.error("cannot tell the id of \(request.address)")])
            }
            attributes["id"] = .string(id)
            if request.action == .create {
                if objects[id] != nil {
                    return ApplyResponse(
                        new: nil,
                        diagnostics: [
                            .error(
                                "\(request.type) \"\(id)\" already exists", detail: "Import it with `mlinfra import \(request.address) \(id)`.",
                                address: request.address)
                        ])
                }
            } else if let prior = request.prior, objects[prior.id] == nil {
                return ApplyResponse(
                    new: nil,
                    diagnostics: [
                        .error("\(request.type) \"\(prior.id)\" no longer exists", detail: "Run plan again to create it.", address: request.address)
                    ])
            }
            if request.type == "fake_thing" {
                clock += 1
                attributes["created_at"] =
                    request.prior?.attributes["created_at"] ?? objects[id]?["created_at"] ?? .string(String(format: "2026-01-01T00:00:%02dZ", clock % 60))
            }
            if let prior = request.prior, prior.id != id { objects[prior.id] = nil }
            objects[id] = attributes
            persist()
            if case .halfway(let message) = failure {
                return ApplyResponse(
                    new: ResourceObject(id: id, attributes: attributes), diagnostics: [.error(message, address: request.address)])
            }
            return ApplyResponse(new: ResourceObject(id: id, attributes: attributes))
        }
    }

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        try await begin("read", request.address)
        defer { end() }
        if let failure = try injected("read", request.address) {
            return ReadResponse(current: request.prior, diagnostics: [.error(failure, address: request.address)])
        }
        guard let attributes = objects[request.id] else { return ReadResponse(current: nil) }
        return ReadResponse(current: ResourceObject(id: request.id, attributes: attributes))
    }

    /// A `fake_thing` is held by every `fake_link` whose `target` is its id.
    public func planDelete(_ request: PlanDeleteRequest) async throws -> PlanDeleteResponse {
        try await begin("planDelete", request.address)
        defer { end() }
        guard request.type == "fake_thing" else { return PlanDeleteResponse() }
        let holders = objects.filter { $0.value["target"] == .string(request.prior.id) }.keys.sorted().map { id in
            DeleteHolder(type: "fake_link", id: id, attribute: "target", value: .string(request.prior.id), description: "link \(id)")
        }
        return PlanDeleteResponse(heldBy: holders)
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        try await begin("import", request.address)
        defer { end() }
        if let failure = try injected("import", request.address) {
            return ImportResponse(imported: nil, diagnostics: [.error(failure, address: request.address)])
        }
        guard FakeProvider.makeSchema().resourceTypes[request.type] != nil else {
            return ImportResponse(imported: nil, diagnostics: [.error("provider \(name) has no resource type \(request.type)")])
        }
        guard let attributes = objects[request.id] else {
            return ImportResponse(
                imported: nil,
                diagnostics: [
                    .error("no \(request.type) with id \"\(request.id)\"", detail: "Check the id.", address: request.address)
                ])
        }
        return ImportResponse(imported: ResourceObject(id: request.id, attributes: attributes))
    }

    // MARK: Helpers

    private func begin(_ method: String, _ address: String?) async throws {
        calls.append(Call(method: method, address: address))
        inFlight += 1
        maxInFlight = max(maxInFlight, inFlight)
        if latency > .zero {
            do {
                try await Task.sleep(for: latency)
            } catch {
                inFlight -= 1
                throw error
            }
        }
    }

    private func end() { inFlight -= 1 }

    /// The injected failure for a call, as a message; `.thrown` throws instead.
    private func injected(_ method: String, _ address: String) throws -> String? {
        switch failures["\(method) \(address)"] {
        case nil: return nil
        case .thrown(let message)?:
            throw ProviderError(provider: name, message: message, detail: "Injected into the fake provider by a test.")
        case .diagnostic(let message)?, .halfway(let message)?:
            return message
        }
    }

    private func withDefaults(type: String, address: String, config: [String: Value]) -> [String: Value] {
        var attributes = config.filter { !$0.value.isNull }
        if attributes["name"] == nil {
            attributes["name"] = .string(ResourceAddress(parsing: address)?.objectName ?? address)
        }
        if type == "fake_thing" && attributes["kind"] == nil {
            attributes["kind"] = "standard"
        }
        return attributes
    }

    private func identity(type: String, attributes: [String: Value]) -> String? {
        guard let name = attributes["name"]?.stringValue else { return nil }
        if type == "fake_link" {
            guard let target = attributes["target"]?.stringValue else { return nil }
            return "\(target)/\(name)"
        }
        return name
    }

    /// Checks a config against the schema: unknown, computed-only or missing attributes,
    /// kinds of values, allowed values, and that `size` is not negative.
    private func check(type: String, config: [String: Value]) -> [AttributeDiagnostic] {
        guard let resource = FakeProvider.makeSchema().resourceTypes[type] else {
            return [
                AttributeDiagnostic(
                    .error(
                        "provider \(name) has no resource type \(type)",
                        detail: "Its types: fake_thing, fake_link."))
            ]
        }
        var problems: [AttributeDiagnostic] = []
        for (key, value) in config.sorted(by: { $0.key < $1.key }) {
            guard let attribute = resource.attributes[key] else {
                problems.append(AttributeDiagnostic(attribute: key, .error("unknown attribute `\(key)` for \(type)")))
                continue
            }
            if !attribute.settable {
                problems.append(AttributeDiagnostic(attribute: key, .error("`\(key)` is set by the provider and cannot be written")))
                continue
            }
            if value.containsUnknown || value.isNull { continue }
            if !FakeProvider.matches(value, attribute.type) {
                problems.append(
                    AttributeDiagnostic(attribute: key, .error("`\(key)` must be \(attribute.type.name), got \(value.kindName)")))
            } else if let allowed = attribute.allowed, let text = value.stringValue, !allowed.contains(text) {
                problems.append(
                    AttributeDiagnostic(
                        attribute: key, .error("`\(key)` must be one of \(allowed.joined(separator: ", ")), got \"\(text)\"")))
            }
        }
        for (key, attribute) in resource.attributes where attribute.required && config[key] == nil {
            problems.append(AttributeDiagnostic(attribute: key, .error("`\(key)` is required for \(type)")))
        }
        if type == "fake_thing", let size = config["size"]?.intValue, size < 0 {
            problems.append(
                AttributeDiagnostic(attribute: "size", .error("`size` must not be negative, got \(size)", detail: "Use 0 or more.")))
        }
        return problems
    }

    private static func matches(_ value: Value, _ type: AttributeType) -> Bool {
        switch (type, value) {
        case (.any, _), (.string, .string), (.int, .int), (.bool, .bool), (.number, .int), (.number, .number): true
        case (.map(let element), .map(let entries)): entries.values.allSatisfy { $0.isUnknown || matches($0, element) }
        case (.list(let element), .list(let items)): items.allSatisfy { $0.isUnknown || matches($0, element) }
        default: false
        }
    }

    private func persist() {
        guard let stateFile else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        if let data = try? encoder.encode(objects) {
            try? data.write(to: stateFile, options: .atomic)
        }
    }
}
