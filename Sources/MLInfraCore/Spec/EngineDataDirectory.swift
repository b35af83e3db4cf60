import Foundation

/// Where the built-in engines keep their files, for the engine commands (`models`, `features`,
/// `vectors`, `monitors`, `endpoints`, `agent`): the same directory `plan` and `apply` use.
///
/// In order: `--data-dir` when given (relative to the spec directory when `--spec` is given,
/// else to the current directory); else the spec's `providers.local.data_dir` (variables
/// resolved from defaults and `MLINFRA_VAR_*`), relative to the spec directory; else
/// `.mlinfra` in the spec directory. The spec is `--spec`, or the current directory when it
/// holds YAML files.
public enum EngineDataDirectory {
    /// The directory's name when nothing names one.
    public static let defaultName = ".mlinfra"

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func resolve(
        dataDir: String?, spec: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) throws -> URL {
        let cwd = URL(fileURLWithPath: currentDirectory, isDirectory: true)
        let specURL = spec.map { URL(fileURLWithPath: $0, relativeTo: cwd).standardizedFileURL }
        let base = specURL.map(directory(of:)) ?? cwd
        if let dataDir { return place(dataDir, in: base) }

        // No --data-dir: ask the spec, when there is one.
        let specPath = specURL?.path ?? (holdsYAML(cwd.path) ? cwd.path : nil)
        guard let specPath else { return cwd.appendingPathComponent(defaultName).standardizedFileURL }
        let (document, diagnostics) = SpecLoader.load(path: specPath)
        guard let document else {
            throw Failure(description: "cannot read the spec at \(specPath) to find the data directory:\n"
                + diagnostics.items.filter { $0.severity == .error }.prefix(3).map { "  \($0.summary)" }.joined(separator: "\n")
                + "\nFix the spec, or pass --data-dir.")
        }
        let root = URL(fileURLWithPath: document.rootDirectory, isDirectory: true)
        guard let local = document.providers.first(where: { $0.name == "local" }),
              let entry = local.config.first(where: { $0.key == "data_dir" })
        else { return root.appendingPathComponent(defaultName).standardizedFileURL }
        let (variables, _) = VariableValues.resolve(document, inputs: VariableInputs(environment: environment))
        var evaluator = Evaluator.beforeResources(document, variables: variables, environment: environment)
        var problems = Diagnostics()
        let value = evaluator.evaluate(entry.value, diagnostics: &problems).value
        guard !problems.hasErrors, let text = value.stringValue, !text.isEmpty else {
            throw Failure(description: "providers.local.data_dir at \(entry.keyLocation) is not a string the commands can use; pass --data-dir.")
        }
        return place(text, in: root)
    }

    /// What an engine command needs from the spec's resource of `type`: the attributes `keys`,
    /// evaluated with the variables' defaults, `MLINFRA_VAR_*` and the spec's locals (where `models` and `features`
    /// find a shared server without an apply on this machine).
    public struct ResourceSettings: Sendable {
        public var address: String
        /// Its `name` attribute when that is a literal, else the resource's name.
        public var name: String
        public var config: [String: Value]
        /// The spec's directory, for relative paths.
        public var root: URL
        /// Whether a value could not be evaluated (a variable not set).
        public var incomplete: Bool
    }

    /// The settings of the first resource of `type` (the one whose name or `name` attribute is
    /// `name`, when given) in the spec at `specPath`; nil when there is no spec or no such resource.
    public static func settings(
        ofResource type: String, named name: String? = nil, keys: Set<String>, specPath: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ResourceSettings? {
        guard let specPath, let document = SpecLoader.load(path: specPath).0 else { return nil }
        let candidates = document.resources.filter { $0.type == type }
        func declaredName(_ decl: ResourceDecl) -> String {
            if case .literal(let v, _)? = decl.attributes.first(where: { $0.key == "name" })?.value, let text = v.stringValue { return text }
            return decl.name
        }
        guard let decl = name.map({ n in candidates.first { declaredName($0) == n } }) ?? candidates.first else { return nil }
        let (variables, _) = VariableValues.resolve(document, inputs: VariableInputs(environment: environment))
        var evaluator = Evaluator.beforeResources(document, variables: variables, environment: environment)
        var diagnostics = Diagnostics()
        var config: [String: Value] = [:]
        for entry in decl.attributes where keys.contains(entry.key) {
            config[entry.key] = evaluator.evaluate(entry.value, diagnostics: &diagnostics).value
        }
        return ResourceSettings(
            address: decl.address, name: declaredName(decl), config: config, root: URL(fileURLWithPath: document.rootDirectory, isDirectory: true),
            incomplete: diagnostics.hasErrors)
    }

    /// The spec the engine commands read: `--spec`, else the current directory when it holds YAML files.
    public static func specPath(_ spec: String?, currentDirectory: String = FileManager.default.currentDirectoryPath) -> String? {
        let cwd = URL(fileURLWithPath: currentDirectory, isDirectory: true)
        if let spec { return URL(fileURLWithPath: spec, relativeTo: cwd).standardizedFileURL.path }
        return holdsYAML(cwd.path) ? cwd.path : nil
    }

    private static func place(_ path: String, in base: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path).standardizedFileURL : base.appendingPathComponent(path).standardizedFileURL
    }

    private static func directory(of spec: URL) -> URL {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: spec.path, isDirectory: &isDirectory)
        let isFile = exists ? !isDirectory.boolValue : ["yaml", "yml"].contains(spec.pathExtension)
        return isFile ? spec.deletingLastPathComponent() : URL(fileURLWithPath: spec.path, isDirectory: true)
    }

    private static func holdsYAML(_ directory: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).contains { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
    }
}
