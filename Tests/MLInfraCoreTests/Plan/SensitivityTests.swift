import Foundation
import MLInfraCore
import Synchronization
import Testing

/// A provider that builds what it reports from its inputs, as real ones do: the id and `path`
/// hold the `name`, and a bad `schedule` is quoted back in the error. It also makes a secret of
/// its own (`password`, sensitive), reads it back, and quotes it when asked to `note: expire`.
final class NamingProvider: Provider, Sendable {
    private let passwords = Mutex<[String: String]>([:])

    static let schemaValue = ProviderSchema(
        name: "naming", version: "1.0.0",
        resourceTypes: [
            "named": ResourceSchema(attributes: [
                "name": AttributeSchema(.string, required: true),
                "note": AttributeSchema(.string),
                "schedule": AttributeSchema(.string),
                "alert": AttributeSchema(.object([
                    "webhook": AttributeSchema(.string),
                    "token": AttributeSchema(.string, sensitive: true),
                ])),
                "path": .computed(.string),
                "password": .computed(.string, sensitive: true),
            ])
        ])

    func schema() async throws -> ProviderSchema { Self.schemaValue }
    func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse { ConfigureResponse() }
    func validate(_ request: ValidateRequest) async throws -> ValidateResponse { ValidateResponse() }

    func plan(_ request: PlanRequest) async throws -> PlanResponse {
        if let schedule = request.proposed["schedule"]?.stringValue, !schedule.contains("*") {
            return PlanResponse(planned: request.proposed, diagnostics: [
                AttributeDiagnostic(attribute: "schedule", .error("invalid cron expression \(Value.string(schedule).rendered)", detail: "got \(schedule)"))
            ])
        }
        if request.proposed["note"]?.stringValue == "expire", let name = request.proposed["name"]?.stringValue,
            let password = passwords.withLock({ $0[name] })
        {
            return PlanResponse(planned: request.proposed, diagnostics: [AttributeDiagnostic(attribute: "note", .error("password \(password) has expired"))])
        }
        var planned = request.proposed
        if let name = planned["name"]?.stringValue {
            planned["path"] = .string("main/\(name)")
            planned["id"] = .string("main/\(name)")
        } else {
            planned["path"] = .unknown
        }
        return PlanResponse(planned: planned)
    }

    func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        guard request.action != .delete else { return ApplyResponse(new: nil) }
        let name = request.config["name"]?.stringValue ?? "?"
        var attributes = request.config
        attributes["path"] = .string("main/\(name)")
        let password = "generated-password-for-\(name)"
        passwords.withLock { $0[name] = password }
        attributes["password"] = .string(password)
        return ApplyResponse(new: ResourceObject(id: "main/\(name)", attributes: attributes))
    }

    func read(_ request: ReadRequest) async throws -> ReadResponse {
        var current = request.prior
        let name = request.id.split(separator: "/").last.map(String.init) ?? ""
        if let password = passwords.withLock({ $0[name] }) { current.attributes["password"] = .string(password) }
        return ReadResponse(current: current)
    }
    func importResource(_ request: ImportRequest) async throws -> ImportResponse { ImportResponse(imported: nil) }
}

/// Plans and applies spec text against `NamingProvider` with a real local state file.
struct NamingHarness {
    let provider = NamingProvider()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-sensitive-\(UUID().uuidString)")
    var statePath: String { directory.appendingPathComponent("demo.mlstate.json").path }
    var store: LocalStateStore { LocalStateStore(path: statePath) }
    var key = StateKey(bytes: Array("a-state-key-that-is-not-in-the-state-file".utf8))

    func configuration(_ text: String, vars: [String] = []) -> (Configuration?, Diagnostics) {
        let (spec, d1) = SpecLoader.load(sources: [("main.yaml", "mlinfra: 1\nproject: demo\n" + text)])
        guard let spec else { return (nil, d1) }
        let (variables, d2) = VariableValues.resolve(spec, inputs: VariableInputs(flags: vars))
        guard !d2.hasErrors else { return (nil, d2) }
        let set = ProviderSet.with([("naming", provider, NamingProvider.schemaValue)])
        var (configuration, d3) = Configuration.build(spec: spec, variables: variables, providers: set)
        configuration?.stateKey = key
        return (configuration, d3)
    }

    func plan(_ text: String, vars: [String] = []) async throws -> (Plan?, Diagnostics) {
        let (c, d) = configuration(text, vars: vars)
        guard let c else { return (nil, d) }
        return await Planner(configuration: c, options: PlanOptions()).plan(state: try await store.read() ?? StateFile.new())
    }

    func apply(_ text: String, vars: [String] = []) async throws -> ApplyResult {
        let (c, d) = configuration(text, vars: vars)
        guard let c else { throw DiagnosticsError(d) }
        let (plan, pd) = await Planner(configuration: c, options: PlanOptions()).plan(state: try await store.read() ?? StateFile.new())
        guard let plan else { throw DiagnosticsError(pd) }
        return await Applier(configuration: c, plan: plan, store: store, options: ApplyOptions(context: ApplyContext(actor: "test"))).apply()
    }

    func stateText() -> String { (try? String(contentsOfFile: statePath, encoding: .utf8)) ?? "" }
}

@Suite struct SensitivityTests {
    let secret = "hunter2-canary"
    let variables = "variables:\n  secret: { type: string, sensitive: true }\n"

    @Test func aNestedAttributeTheSchemaMarksSensitiveIsRedactedEvenAsALiteral() async throws {
        let h = NamingHarness()
        let spec = "resources:\n  named.a: { name: a, alert: { webhook: \"http://hook\", token: literal-token-1234 } }\n"
        let (plan, d) = try await h.plan(spec)
        let change = try #require(plan?.change("named.a"), "\(d)")
        #expect(change.sensitive.contains("alert.token"))
        #expect(Secrets.display(change.after?["alert"], at: "alert", sensitive: change.sensitive) == "{ token = (sensitive), webhook = \"http://hook\" }")
        let result = try await h.apply(spec)
        #expect(result.ok, "\(result.diagnostics)")
        #expect(!h.stateText().contains("literal-token-1234"))
        #expect(h.stateText().contains("http://hook"), "only the secret part is redacted")
    }

    @Test func anOutputReadingASensitiveAttributeIsSensitiveAndNeverStoredPlain() async throws {
        let h = NamingHarness()
        let spec = variables + "resources:\n  named.a: { name: a, alert: { token: \"${var.secret}\" } }\n"
            + "outputs:\n  token: ${named.a.alert.token}\n  whole: ${named.a.alert}\n  name: ${named.a.name}\n"
        let (plan, d) = try await h.plan(spec, vars: ["secret=\(secret)"])
        let outputs = Dictionary(uniqueKeysWithValues: try #require(plan, "\(d)").outputs.map { ($0.name, $0) })
        #expect(outputs["token"]?.sensitive == true)
        #expect(outputs["whole"]?.sensitive == true, "a value holding a secret is sensitive")
        #expect(outputs["name"]?.sensitive == false)
        let result = try await h.apply(spec, vars: ["secret=\(secret)"])
        #expect(result.ok, "\(result.diagnostics)")
        #expect(result.outputs["token"]?.sensitive == true)
        #expect(!h.stateText().contains(secret))
    }

    @Test func aLiteralSensitiveAttributeReadBackThroughAReferenceIsSensitive() async throws {
        let h = NamingHarness()
        let spec = "resources:\n  named.a: { name: a, alert: { token: literal-token-5678 } }\n"
            + "  named.b: { name: b, note: \"copy ${named.a.alert.token}\" }\noutputs:\n  t: ${named.a.alert.token}\n"
        let (plan, d) = try await h.plan(spec)
        let p = try #require(plan, "\(d)")
        #expect(p.outputs.first { $0.name == "t" }?.sensitive == true)
        let result = try await h.apply(spec)
        #expect(result.ok, "\(result.diagnostics)")
        let state = try #require(try await h.store.read())
        #expect(state.resource("named.b")?.sensitiveAttributes.contains("note") == true)
        #expect(!h.stateText().contains("literal-token-5678"))
    }

    @Test func whatAProviderBuildsFromASecretIsSensitiveIdIncluded() async throws {
        let h = NamingHarness()
        let spec = variables + "resources:\n  named.a: { name: \"${var.secret}-x\" }\n"
        let (plan, d) = try await h.plan(spec, vars: ["secret=\(secret)"])
        let change = try #require(plan?.change("named.a"), "\(d)")
        #expect(change.sensitive.isSuperset(of: ["name", "path", "id"]), "\(change.sensitive)")
        #expect(Secrets.display(change.after?["id"], at: "id", sensitive: change.sensitive) == "(sensitive)")
        let result = try await h.apply(spec, vars: ["secret=\(secret)"])
        #expect(result.ok, "\(result.diagnostics)")
        let state = try #require(try await h.store.read())
        let stored = try #require(state.resource("named.a"))
        #expect(stored.sensitiveAttributes.isSuperset(of: ["name", "path", "id"]))
        // State needs the id to read the resource back: it keeps it sealed under the state key.
        #expect(StateKey.isSealed(stored.id))
        #expect(h.key.unseal(stored.id) == "main/\(secret)-x")
        #expect(!h.stateText().contains(secret), "\(h.stateText())")
        // Refreshing and planning again with the same secret changes nothing: the provider gets the
        // clear id, and the HMACs match.
        let (again, d2) = try await h.plan(spec, vars: ["secret=\(secret)"])
        #expect(try #require(again, "\(d2)").change("named.a")?.action == .noop)
        // Another key cannot open the id: the plan says so instead of losing the resource.
        var other = h
        other.key = StateKey(bytes: Array("some-other-key-0123456789abcdef".utf8))
        let (refused, d3) = try await other.plan(spec, vars: ["secret=\(secret)"])
        #expect(refused == nil)
        #expect(d3.errors.contains { $0.summary == "the state key cannot open the sealed id of `named.a`" }, "\(d3)")
    }

    @Test func forEachOverASensitiveValueIsAPlanError() async throws {
        let h = NamingHarness()
        let spec = "variables:\n  names: { type: list, sensitive: true }\n"
            + "resources:\n  named.a: { for_each: \"${var.names}\", name: \"${each.key}\" }\n"
        let (configuration, d) = h.configuration(spec, vars: ["names=[\"\(secret)\", other1]"])
        #expect(configuration == nil)
        let error = try #require(d.errors.first { $0.summary.contains("for_each") }, "\(d)")
        #expect(error.summary == "`for_each` cannot use a sensitive value")
        #expect(error.detail.contains("`var.names`"))
        #expect(!"\(d)".contains(secret))
    }

    @Test func aProviderErrorQuotingASensitiveInputNamesTheVariableInstead() async throws {
        let h = NamingHarness()
        let spec = variables + "resources:\n  named.a: { name: a, schedule: \"${var.secret}\" }\n"
        let (plan, d) = try await h.plan(spec, vars: ["secret=\(secret)"])
        #expect(plan == nil)
        let text = d.map { "\($0.summary) \($0.detail)" }.joined(separator: "\n")
        #expect(!text.contains(secret), "\(text)")
        #expect(text.contains("invalid cron expression the value of `var.secret` (sensitive)"), "\(text)")
    }

    @Test func aSecretTheProviderMadeIsNeverQuotedEither() async throws {
        let h = NamingHarness()
        let result = try await h.apply("resources:\n  named.a: { name: a }\n")
        #expect(result.ok, "\(result.diagnostics)")
        #expect(!h.stateText().contains("generated-password-for-a"))
        let (plan, d) = try await h.plan("resources:\n  named.a: { name: a, note: expire }\n")
        #expect(plan == nil)
        let text = d.map(\.summary).joined(separator: "\n")
        #expect(!text.contains("generated-password-for-a"), "\(text)")
        #expect(text.contains("password the value of `named.a.password` (sensitive) has expired"), "\(text)")
    }

    @Test func stateHMACsAreKeyedByTheStateKeyNotByAnythingInTheStateFile() async throws {
        let h = NamingHarness()
        let spec = variables + "resources:\n  named.a: { name: a, note: \"${var.secret}\" }\n"
        let result = try await h.apply(spec, vars: ["secret=\(secret)"])
        #expect(result.ok, "\(result.diagnostics)")
        let state = try #require(try await h.store.read())
        let stored = try #require(state.resource("named.a")?.inputs["note"])
        #expect(Secrets.isRedacted(stored))
        #expect(stored == Secrets.redact(.string(secret), key: h.key))
        // Everything the state file holds, tried as the key, does not reproduce the HMAC.
        for candidate in [state.lineage, "mlinfra-secret:" + state.lineage, String(state.serial)] {
            #expect(stored != Secrets.redact(.string(secret), key: StateKey(bytes: Array(candidate.utf8))))
        }
    }

    @Test func theStateKeyFileIsMadeOnceOwnerOnlyAndTheEnvironmentOverridesIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-key-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let statePath = dir.appendingPathComponent("state/demo.mlstate.json").path
        let first = try StateKey.load(forState: statePath, environment: [:])
        let again = try StateKey.load(forState: statePath, environment: [:])
        #expect(first == again)
        let keyFile = StateKey.keyFilePath(forState: statePath)
        let fileMode = try #require(try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int)
        let dirMode = try #require(try FileManager.default.attributesOfItem(atPath: (keyFile as NSString).deletingLastPathComponent)[.posixPermissions] as? Int)
        #expect(fileMode == 0o600)
        #expect(dirMode == 0o700)
        #expect(!keyFile.hasPrefix(statePath), "the key is not in the state file")
        let fromEnvironment = try StateKey.load(forState: statePath, environment: [StateKey.environmentVariable: "ci-secret-key-0123456789"])
        #expect(fromEnvironment != first)
    }
}
