import Foundation
import MLInfraCore
import Synchronization

/// A small in-memory provider for planner and applier tests: objects live in a dictionary
/// that a test can also change behind the provider's back (drift).
final class TestProvider: Provider, Sendable {
    /// The provider is called from concurrent tasks; all it holds is in here.
    private struct State {
        var objects: [String: [String: Value]] = [:]
        var nextID = 1
        var calls: [String] = []
        var failApply: Set<String> = []
        var failHalfway: Set<String> = []
        var latency: Duration = .zero
        /// Attributes that apply reports with another value than it planned, by address: a provider bug.
        var misreport: [String: [String: Value]] = [:]
    }
    private let state = Mutex(State())

    var failApply: Set<String> {
        get { state.withLock { $0.failApply } }
        set { state.withLock { $0.failApply = newValue } }
    }
    var failHalfway: Set<String> {
        get { state.withLock { $0.failHalfway } }
        set { state.withLock { $0.failHalfway = newValue } }
    }
    var latency: Duration {
        get { state.withLock { $0.latency } }
        set { state.withLock { $0.latency = newValue } }
    }
    /// Attributes that apply reports with another value than it planned, by address: a provider bug.
    var misreport: [String: [String: Value]] {
        get { state.withLock { $0.misreport } }
        set { state.withLock { $0.misreport = newValue } }
    }

    static let schemaValue = ProviderSchema(
        name: "test", version: "1.0.0",
        config: ["root": AttributeSchema(.string)],
        resourceTypes: [
            "thing": ResourceSchema(attributes: [
                "size": AttributeSchema(.int, required: true, description: "how big"),
                "label": AttributeSchema(.string),
                "kind": AttributeSchema(.string, forceNew: true),
                "tags": AttributeSchema(.map(.string)),
                "secret": AttributeSchema(.string, sensitive: true),
                "ref": AttributeSchema(.string),
                "ttl": AttributeSchema(.duration),
                "limits": AttributeSchema(.object(["max": AttributeSchema(.int, required: true), "min": AttributeSchema(.int)])),
                "serial": .computed(.int),
                "url": .computed(.string),
            ]),
            "group": ResourceSchema(attributes: [
                "members": AttributeSchema(.list(.string)),
                "owner": AttributeSchema(.string, referenceType: "thing"),
            ]),
        ])

    func object(_ id: String) -> [String: Value]? { state.withLock { $0.objects[id] } }
    func setObject(_ id: String, _ attributes: [String: Value]?) { state.withLock { $0.objects[id] = attributes } }
    var count: Int { state.withLock { $0.objects.count } }
    var callLog: [String] { state.withLock { $0.calls } }

    private func log(_ s: String) { state.withLock { $0.calls.append(s) } }

    func schema() async throws -> ProviderSchema { Self.schemaValue }
    func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse { ConfigureResponse() }
    func validate(_ request: ValidateRequest) async throws -> ValidateResponse { ValidateResponse() }

    func plan(_ request: PlanRequest) async throws -> PlanResponse {
        var planned = request.proposed
        if let prior = request.prior {
            planned["id"] = .string(prior.id)
            planned["url"] = prior.attributes["url"]
            // Every apply counts the serial up, so only an unchanged thing keeps it.
            let unchanged = request.proposed.allSatisfy { prior.attributes[$0.key] ?? .null == $0.value }
            planned["serial"] = unchanged ? prior.attributes["serial"] : .unknown
        } else {
            planned["id"] = .unknown
            planned["url"] = .unknown
            planned["serial"] = .unknown
        }
        return PlanResponse(planned: planned)
    }

    func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        if latency > .zero { try await Task.sleep(for: latency) }
        log("\(request.action.rawValue) \(request.address)")
        if failApply.contains(request.address) {
            return ApplyResponse(new: nil, diagnostics: [.error("injected failure for \(request.address)")])
        }
        switch request.action {
        case .delete:
            setObject(request.prior!.id, nil)
            return ApplyResponse(new: nil)
        case .create, .update:
            let id = request.prior?.id ?? state.withLock { s -> String in
                defer { s.nextID += 1 }
                return "obj-\(s.nextID)"
            }
            var attributes = request.config
            let serial = (request.prior?.attributes["serial"]?.intValue ?? 0) + 1
            attributes["serial"] = .int(serial)
            attributes["url"] = .string("mem://\(id)")
            attributes.merge(state.withLock { $0.misreport[request.address] } ?? [:]) { _, wrong in wrong }
            setObject(id, attributes)
            if failHalfway.contains(request.address) {
                return ApplyResponse(new: ResourceObject(id: id, attributes: attributes), diagnostics: [.error("half-way failure")])
            }
            return ApplyResponse(new: ResourceObject(id: id, attributes: attributes))
        }
    }

    func read(_ request: ReadRequest) async throws -> ReadResponse {
        // A data source: the newest object (highest serial) whose attributes hold every queried value.
        if let query = request.query {
            let found = state.withLock {
                $0.objects.filter { _, attributes in query.allSatisfy { attributes[$0.key] == $0.value } }
                    .max { ($0.value["serial"]?.intValue ?? 0, $0.key) < ($1.value["serial"]?.intValue ?? 0, $1.key) }
            }
            return ReadResponse(current: found.map { ResourceObject(id: $0.key, attributes: $0.value) })
        }
        guard let attributes = object(request.id) else { return ReadResponse(current: nil) }
        return ReadResponse(current: ResourceObject(id: request.id, attributes: attributes))
    }

    func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        guard let attributes = object(request.id) else { return ImportResponse(imported: nil) }
        return ImportResponse(imported: ResourceObject(id: request.id, attributes: attributes))
    }
}

/// Builds a configuration from spec text against the test provider.
enum TestSpec {
    static func configuration(_ text: String, vars: [String] = [], provider: TestProvider = TestProvider())
        async -> (Configuration?, Diagnostics)
    {
        let (spec, d1) = SpecLoader.load(sources: [("main.yaml", text)])
        guard let spec else { return (nil, d1) }
        let (variables, d2) = VariableValues.resolve(spec, inputs: VariableInputs(flags: vars))
        guard !d2.hasErrors else { return (nil, d2) }
        let set = ProviderSet.with([("test", provider, TestProvider.schemaValue)])
        return Configuration.build(spec: spec, variables: variables, providers: set)
    }
}
