import Foundation
import MLInfraCore
import MLInfraPostgresState

/// The state backends this mlinfra is built with: local files and PostgreSQL.
enum StateBackends {
    static let makeStore: StateStoreMaker = { backend, encryption in
        switch backend {
        case .local:
            return try StateBackend.localOnly(backend, encryption)
        case .postgres(let settings):
            return try PostgresStateStore(
                url: try PostgresBackendURL(parsing: settings.url), schema: settings.schema, project: settings.project,
                workspace: settings.workspace, retainVersions: settings.retainVersions, encryption: encryption,
                syncsJournal: Workspace.syncsJournal)
        }
    }
}

/// Which workspace a command works on: `--workspace`, then MLINFRA_WORKSPACE, then the one
/// `mlinfra workspace select` wrote into `.mlinfra/workspace` beside the spec, then `default`.
enum WorkspaceSelection {
    static func name(flag: String?, specPath: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let env = environment["MLINFRA_WORKSPACE"], !env.isEmpty { return env }
        if let selected = try? String(contentsOfFile: selectionFile(specPath: specPath), encoding: .utf8) {
            let name = selected.trimmingCharacters(in: .whitespacesAndNewlines)
            if !name.isEmpty { return name }
        }
        return StateBackend.defaultWorkspace
    }

    /// `.mlinfra/workspace` in the spec's directory (the spec itself, when it is a directory).
    static func selectionFile(specPath: String) -> String {
        var isDirectory: ObjCBool = false
        let root = FileManager.default.fileExists(atPath: specPath, isDirectory: &isDirectory) && !isDirectory.boolValue
            ? (specPath as NSString).deletingLastPathComponent : specPath
        return URL(fileURLWithPath: root.isEmpty ? "." : root).appendingPathComponent(".mlinfra/workspace").standardizedFileURL.path
    }
}
