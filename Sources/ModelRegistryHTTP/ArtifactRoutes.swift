import Foundation
import Hummingbird
import MLInfraJSON
import ModelRegistry

/// MLflow's artifact proxy (`mlflow-artifacts:/…`, served under `/api/2.0/mlflow-artifacts/artifacts`):
/// upload (PUT), download (GET) and list (GET with `?path=`), as `MlflowArtifactsRepository` calls it.
///
/// Files are kept in the registry's content-addressed store (an upload streams to a temporary
/// file, then is hashed in; a download streams a checked copy) and indexed by their path.
/// `mlinfra-registry/NAME/VERSION/…` is a read-only tree of every registered version's files,
/// served from the version's own manifest, which is where `get-download-uri` points.
struct ArtifactRoutes {
    let registry: ModelRegistry
    let maxUploadBytes: Int

    static let base = "/api/2.0/mlflow-artifacts/artifacts"
    static let registryTree = "mlinfra-registry"

    func add(to router: Router<BasicRequestContext>) {
        router.put(RouterPath(Self.base + "/**")) { request, context in
            await Self.answer { try await upload(request, path: try Self.path(context)) }
        }
        router.get(RouterPath(Self.base + "/**")) { _, context in
            await Self.answer { try download(try Self.path(context)) }
        }
        router.get(RouterPath(Self.base)) { request, _ in
            await Self.answer { HTTPSupport.json(try list(Parameters.query(request).string("path") ?? "")) }
        }
    }

    /// The `mlflow-artifacts:/` URI of a registered version's files.
    static func registryURI(model: String, version: Int) -> String { "mlflow-artifacts:/\(registryTree)/\(model)/\(version)" }

    /// The tree path an `mlflow-artifacts:` URI names (with or without a host), or nil for another scheme.
    static func treePath(of uri: String) -> String? {
        guard uri.hasPrefix("mlflow-artifacts:") else { return nil }
        var rest = Substring(uri.dropFirst("mlflow-artifacts:".count))
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            rest = rest.drop { $0 != "/" }
        }
        return rest.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    private static func answer(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch { return MLflowRoutes.error(any: error) }
    }

    private static func path(_ context: BasicRequestContext) throws -> String {
        let raw = context.parameters[Hummingbird.Parameters.recursiveCaptureKey].map(String.init) ?? ""
        return (raw.removingPercentEncoding ?? raw).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    private func upload(_ request: Request, path: String) async throws -> Response {
        if path == Self.registryTree || path.hasPrefix(Self.registryTree + "/") {
            throw RegistryError.invalid(
                "path", "\(Self.registryTree)/… holds registered versions and is read-only",
                remedy: "Log artifacts under a run's or logged model's artifact_uri; register versions with model-versions/create.")
        }
        let temporary = registry.temporaryArtifactPath("mlflow-upload")
        defer { try? FileManager.default.removeItem(at: temporary) }
        _ = try await HTTPSupport.saveBody(request, to: temporary, limit: maxUploadBytes)
        try registry.storeTrackedArtifact(path, file: temporary)
        return HTTPSupport.json([:])
    }

    private func download(_ path: String) throws -> Response {
        guard let file = try files(at: path).first(where: { $0.path == path }) else {
            throw RegistryError(.trackingNotFound, "no artifact at '\(path)'", remedy: "List the folder with GET \(Self.base)?path=….", field: "path")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        return Response(status: .ok, headers: headers, body: try HTTPSupport.fileBody(try registry.verifiedFile(of: file)))
    }

    /// The entries directly under `path`: files with their size, folders once each.
    private func list(_ path: String) throws -> JSONValue {
        let prefix = path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        var entries: [String: JSONValue] = [:]
        for file in try files(at: prefix) where file.path != prefix {
            let relative = prefix.isEmpty ? file.path : String(file.path.dropFirst(prefix.count + 1))
            if let slash = relative.firstIndex(of: "/") {
                let folder = String(relative[..<slash])
                entries[folder] = ["path": .string(folder), "is_dir": .bool(true)]
            } else {
                entries[relative] = ["path": .string(relative), "is_dir": .bool(false), "file_size": .int(Int(file.size))]
            }
        }
        return ["files": .array(entries.keys.sorted().map { entries[$0]! })]
    }

    /// The files at `path` or under it: from the index, or from a registered version's manifest
    /// for paths in the registry's tree.
    private func files(at path: String) throws -> [TrackedArtifact] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == Self.registryTree else {
            return try (registry.trackedArtifact(path).map { [$0] } ?? []) + registry.trackedArtifacts(under: path)
        }
        guard parts.count >= 3, let number = Int(parts[2]) else { return [] }
        guard let version = try registry.version(parts[1], number) else { return [] }
        let root = parts[..<3].joined(separator: "/")
        let all = try registry.files(of: version).map { TrackedArtifact(path: root + "/" + $0.path, sha256: $0.sha256, size: $0.size) }
        return path == root ? all : all.filter { $0.path == path || $0.path.hasPrefix(path + "/") }
    }
}
