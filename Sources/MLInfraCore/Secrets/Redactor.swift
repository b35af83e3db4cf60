import Synchronization

/// Takes the text of known secrets out of messages.
///
/// Diagnostics are built from values by many hands (the core, every provider, engine errors
/// quoted with `"\(error)"`); rather than trusting each message, every diagnostic the planner,
/// the applier and the workspace hand out, and every line the CLI prints, passes through one
/// of these. A secret is named instead of quoted: "the value of `var.secret` (sensitive)".
public struct Redactor: Sendable, Hashable {
    /// Shorter strings are not treated as secrets: scrubbing them would garble every message
    /// (and a secret this short can be guessed anyway).
    public static let minimumLength = 4

    /// Secret text → the name said in its place, longest text first.
    public private(set) var secrets: [Secret] = []

    public struct Secret: Sendable, Hashable {
        public var text: String
        public var name: String
    }

    public init() {}

    /// Adds a secret's text, said as `name` (`var.secret`, `monitor.drift.alert.token`).
    public mutating func add(_ text: String, name: String) {
        guard text.count >= Self.minimumLength, !secrets.contains(where: { $0.text == text }) else { return }
        secrets.append(Secret(text: text, name: name))
        secrets.sort { $0.text.count > $1.text.count }
    }

    public mutating func add(contentsOf other: Redactor) {
        for s in other.secrets { add(s.text, name: s.name) }
    }

    /// `text` with every secret replaced by "the value of `NAME` (sensitive)"; a quoted secret loses its quotes.
    public func scrub(_ text: String) -> String {
        guard !secrets.isEmpty else { return text }
        var out = text
        for secret in secrets where out.contains(secret.text) {
            let said = "the value of `\(secret.name)` (sensitive)"
            out = out.replacingOccurrences(of: Value.quote(secret.text), with: said)
            out = out.replacingOccurrences(of: "\"\(secret.text)\"", with: said)
            out = out.replacingOccurrences(of: "'\(secret.text)'", with: said)
            out = out.replacingOccurrences(of: secret.text, with: said)
        }
        return out
    }

    public func scrub(_ diagnostic: Diagnostic) -> Diagnostic {
        var d = diagnostic
        d.summary = scrub(d.summary)
        d.detail = scrub(d.detail)
        return d
    }

    public func scrub(_ diagnostics: Diagnostics) -> Diagnostics {
        guard !secrets.isEmpty else { return diagnostics }
        return Diagnostics(diagnostics.items.map(scrub))
    }

    /// The values of the sensitive variables.
    public static func of(variables: VariableValues) -> Redactor {
        var redactor = Redactor()
        for name in variables.sensitive.sorted() {
            guard let value = variables.values[name] else { continue }
            var texts = Set<String>()
            Secrets.strings(value, into: &texts)
            for text in texts { redactor.add(text, name: "var.\(name)") }
        }
        return redactor
    }

    /// The secrets of a spec: sensitive variables' values, and literal values the spec gives to
    /// attributes its providers' schemas mark sensitive.
    public static func of(
        spec: SpecDocument, variables: VariableValues, providers: ProviderSet, functions: FunctionContext = FunctionContext()
    ) -> Redactor {
        var redactor = of(variables: variables)
        // What `sensitive(…)` wraps around `env("NAME")` is secret: the variable's value never shows in a message.
        func secretEnvironment(_ expression: SpecExpr) {
            for call in expression.calls where call.name == "sensitive" {
                for inner in call.arguments.flatMap(\.calls) where inner.name == "env" {
                    guard case .literal(.string(let name), _)? = inner.arguments.first, let value = functions.environment[name] else { continue }
                    redactor.add(value, name: "env.\(name)")
                }
            }
        }
        for decl in spec.resources { for entry in decl.attributes { secretEnvironment(entry.value) } }
        for entry in spec.outputs { secretEnvironment(entry.value) }
        for entry in spec.locals { secretEnvironment(entry.value) }
        var pathsByType: [String: Set<String>] = [:]
        // One evaluator for every resource: each new one would read the process environment again.
        let literals = Evaluator(variables: variables, functions: functions)
        for decl in spec.resources {
            let paths: Set<String>
            if let known = pathsByType[decl.type] {
                paths = known
            } else {
                paths = providers.resourceSchema(decl.type).map(Secrets.paths(of:)) ?? []
                pathsByType[decl.type] = paths
            }
            guard !paths.isEmpty else { continue }
            var evaluator = literals
            var ignored = Diagnostics()
            var config: [String: Value] = [:]
            for entry in decl.attributes { config[entry.key] = evaluator.evaluate(entry.value, diagnostics: &ignored).value }
            for path in paths {
                for text in Secrets.texts(in: config, paths: [path]) { redactor.add(text, name: "\(decl.address).\(path)") }
            }
        }
        return redactor
    }
}

/// The spec's secrets plus those met while planning or applying: values providers report at
/// sensitive paths (a generated password, a token read back). Shared by the tasks of one plan or apply.
public final class SecretsSeen: Sendable {
    private let redactor: Mutex<Redactor>

    public init(_ base: Redactor) { redactor = Mutex(base) }

    /// Adds the texts at `paths` of an instance's attributes, named `ADDRESS.PATH`.
    public func learn(_ attributes: [String: Value], paths: Set<String>, address: String) {
        guard !paths.isEmpty else { return }
        var found: [(String, String)] = []
        for path in paths {
            for text in Secrets.texts(in: attributes, paths: [path]) { found.append((text, "\(address).\(path)")) }
        }
        guard !found.isEmpty else { return }
        redactor.withLock { r in for (text, name) in found { r.add(text, name: name) } }
    }

    public var current: Redactor { redactor.withLock { $0 } }

    public func scrub(_ diagnostics: Diagnostics) -> Diagnostics { current.scrub(diagnostics) }
}
