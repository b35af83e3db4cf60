import Foundation

/// Opens the store for a backend, encrypting at rest as told. The CLI passes one that knows every
/// backend it was built with; the core itself only opens local files (`StateBackend.localOnly`).
public typealias StateStoreMaker = @Sendable (StateBackend, StateEncryption) throws -> any StateStore

/// Where a workspace's state lives, resolved from the spec's `backend:`, the variables and the environment.
///
/// Its description never shows a server URL: the URL may hold a password.
public enum StateBackend: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    case local(path: String)
    case postgres(PostgresBackendSettings)

    public static let defaultWorkspace = "default"

    public var description: String {
        switch self {
        case .local(let path): "local state \(path)"
        case .postgres(let settings): settings.description
        }
    }

    public var debugDescription: String { description }

    /// Opens local state files; refuses other backends.
    public static let localOnly: StateStoreMaker = { backend, encryption in
        switch backend {
        case .local(let path):
            return LocalStateStore(path: path, syncsJournal: Workspace.syncsJournal, encryption: encryption)
        case .postgres:
            throw StateError(
                .backend, "this build has no postgres backend", path: "backend.postgres",
                remedy: "run the `mlinfra` executable, which includes it")
        }
    }

    /// Whether `name` can name a workspace: letters, digits, `-` and `_`, at most 64 characters.
    public static func isWorkspaceName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" || $0 == "_" }
    }

    /// The local state file of `workspace`: the default workspace's path itself, others in `<path>.d/<workspace>/`.
    public static func localPath(defaultPath: String, workspace: String) -> String {
        guard workspace != defaultWorkspace else { return defaultPath }
        let name = (defaultPath as NSString).lastPathComponent
        return defaultPath + ".d/\(workspace)/" + name
    }

    /// The backend the spec names (local by default), for `workspace`.
    static func resolve(
        spec: SpecDocument, variables: VariableValues, workspace: String, diagnostics: inout Diagnostics,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> StateBackend? {
        guard isWorkspaceName(workspace) else {
            diagnostics.append(
                .error(
                    "`\(workspace)` is not a workspace name",
                    detail: "Use letters, digits, `-` and `_` (at most 64 characters), e.g. `staging`."))
            return nil
        }
        guard let decl = spec.backend, decl.kind == .postgres else {
            let path = Workspace.statePath(spec: spec, variables: variables, diagnostics: &diagnostics)
            return .local(path: localPath(defaultPath: path, workspace: workspace))
        }
        var evaluator = Evaluator.beforeResources(spec, variables: variables, environment: environment)
        var url: String?
        if let expr = decl.url {
            let evaluated = evaluator.evaluate(expr, diagnostics: &diagnostics)
            guard let text = evaluated.value.stringValue else {
                diagnostics.append(.error("the postgres backend's `url` must be text", at: expr.location))
                return nil
            }
            url = text
            let fromSensitive = evaluated.sensitive || variables.sensitive.contains { variables.values[$0]?.stringValue == text }
            if !fromSensitive && Self.hasPassword(text) {
                diagnostics.append(
                    .warning(
                        "the postgres backend's URL holds a password but does not come from a sensitive variable",
                        detail: "Give it through a variable with `sensitive: true` (`url: ${var.pg_url}`) or MLINFRA_PG_URL, "
                            + "so the password is never saved in plan files.",
                        at: expr.location))
            }
        } else if let env = environment["MLINFRA_PG_URL"], !env.isEmpty {
            url = env
        }
        guard let url else {
            diagnostics.append(
                .error(
                    "the postgres backend has no URL",
                    detail: "Set `url: ${var.pg_url}` (a variable with `sensitive: true`) in `backend: { postgres: … }`, "
                        + "or the environment variable MLINFRA_PG_URL.", at: decl.location))
            return nil
        }
        var schema = "mlinfra"
        if let expr = decl.schema {
            guard let text = evaluator.evaluate(expr, diagnostics: &diagnostics).value.stringValue else {
                diagnostics.append(.error("the postgres backend's `schema` must be text", at: expr.location))
                return nil
            }
            schema = text
        }
        var retain: Int?
        if let expr = decl.retainVersions {
            guard let n = evaluator.evaluate(expr, diagnostics: &diagnostics).value.intValue, n >= 2 else {
                diagnostics.append(
                    .error(
                        "`retain_versions` must be a whole number of at least 2",
                        detail: "The current version and its backup are always kept; leave it out to keep every version.",
                        at: expr.location))
                return nil
            }
            retain = n
        }
        return .postgres(
            PostgresBackendSettings(url: url, schema: schema, project: spec.project, workspace: workspace, retainVersions: retain))
    }

    /// Whether a URL's user part carries a password (`user:password@`).
    static func hasPassword(_ url: String) -> Bool {
        guard let c = URLComponents(string: url), let password = c.password else { return false }
        return !password.isEmpty
    }
}

/// The postgres backend's settings; `url` is a secret, which `description` leaves out.
public struct PostgresBackendSettings: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public var url: String
    public var schema: String
    public var project: String
    public var workspace: String
    /// Versions kept per state; nil keeps all.
    public var retainVersions: Int?

    public init(url: String, schema: String = "mlinfra", project: String, workspace: String = StateBackend.defaultWorkspace, retainVersions: Int? = nil) {
        self.url = url
        self.schema = schema
        self.project = project
        self.workspace = workspace
        self.retainVersions = retainVersions
    }

    public var description: String { "postgres backend, schema \(schema), state \(project)/\(workspace)" }
    public var debugDescription: String { description }
}
