import Foundation
import MLInfraJSON
import Hummingbird
import ModelRegistry

/// mlinfra's own registry API under `/api/v1`: JSON in and out (snake_case keys, ISO 8601 times),
/// artifacts uploaded and downloaded as raw bytes; bad input answers 400 with `{error, field}`.
struct NativeRoutes {
    let registry: ModelRegistry
    let maxUploadBytes: Int

    func add(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in HTTPSupport.json(["status": "ok"]) }
        handle(router, .get, "/api/v1/models") { _, _, _ in
            try encode(["models": try registry.models()])
        }
        handle(router, .post, "/api/v1/models") { request, _, ctx in
            let p = try await Parameters.from(request)
            let tags = try stringMap(p.values["tags"], field: "tags")
            let model = try registry.createModel(try p.requireString("name"), description: p.string("description") ?? "", tags: tags, context: ctx)
            return try encode(model, status: .created)
        }
        handle(router, .get, "/api/v1/models/{name}") { _, c, _ in
            let name = try c.parameters.require("name")
            return try encode(ModelDetail(model: try registry.requireModel(name), versions: try registry.versions(of: name)))
        }
        handle(router, .delete, "/api/v1/models/{name}") { _, c, ctx in
            try registry.deleteModel(try c.parameters.require("name"), context: ctx)
            return HTTPSupport.json([:])
        }
        handle(router, .post, "/api/v1/models/{name}/versions") { request, c, ctx in
            try await upload(request, model: try c.parameters.require("name"), context: ctx)
        }
        handle(router, .get, "/api/v1/models/{name}/versions/{version}") { _, c, _ in
            let (name, number) = try nameAndVersion(c)
            guard let version = try registry.version(name, number) else {
                _ = try registry.requireModel(name)
                throw RegistryError.versionNotFound(name, number)
            }
            return try encode(version)
        }
        handle(router, .get, "/api/v1/models/{name}/versions/{version}/artifact") { _, c, _ in
            let (name, number) = try nameAndVersion(c)
            // `resolve` has checked the bytes against the sha256 in bounded memory; they are then
            // streamed in chunks, never held whole (a 2 GiB artifact costs a chunk, not 2 GiB).
            let resolved = try registry.resolve("models:/\(name)/\(number)")
            guard resolved.kind == .file else { throw RegistryError.directoryVersion("\(name) version \(number)") }
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[.modelSha256] = resolved.sha256
            return Response(status: .ok, headers: headers, body: try HTTPSupport.fileBody(resolved.artifactPath))
        }
        handle(router, .post, "/api/v1/models/{name}/versions/{version}/stage") { request, c, ctx in
            let (name, number) = try nameAndVersion(c)
            let p = try await Parameters.from(request)
            let text = try p.requireString("stage")
            guard let stage = Stage(parsing: text) else {
                throw RegistryError.invalid("stage", "unknown stage '\(text)'", remedy: "Use None, Staging, Production or Archived.")
            }
            let version = try registry.transitionStage(name, number, to: stage, archiveExisting: try p.bool("archive_existing"), context: ctx)
            return try encode(version)
        }
        handle(router, .put, "/api/v1/models/{name}/aliases/{alias}") { request, c, ctx in
            let name = try c.parameters.require("name"), alias = try c.parameters.require("alias")
            let p = try await Parameters.from(request)
            let version = try p.requireVersion()
            var context = ctx
            context.reason = p.string("reason") ?? ctx.reason
            let previous = try registry.setAlias(name, alias, version: version, context: context)
            var body: [String: JSONValue] = ["model": .string(name), "alias": .string(alias), "version": .int((version))]
            body["previous_version"] = previous.map { .int(($0)) } ?? .null
            return HTTPSupport.json(.object(body))
        }
        handle(router, .delete, "/api/v1/models/{name}/aliases/{alias}") { _, c, ctx in
            try registry.deleteAlias(try c.parameters.require("name"), try c.parameters.require("alias"), context: ctx)
            return HTTPSupport.json([:])
        }
        handle(router, .get, "/api/v1/models/{name}/history") { _, c, _ in
            let name = try c.parameters.require("name")
            _ = try registry.requireModel(name)
            return try encode(["entries": try registry.history(of: name)])
        }
        handle(router, .get, "/api/v1/resolve") { request, _, _ in
            guard let uri = Parameters.query(request).string("uri") else {
                throw RegistryError.invalid("uri", "missing query parameter 'uri'", remedy: "e.g. /api/v1/resolve?uri=models:/fraud@production")
            }
            let r = try registry.resolve(uri)
            return HTTPSupport.json([
                "name": .string(r.name), "version": .int((r.version)), "format": .string(r.format),
                "sha256": .string(r.sha256), "size": .int(Int(r.size)), "artifact_path": .string(r.artifactPath.path),
                "via": r.via.map(JSONValue.string) ?? .null,
            ])
        }
    }

    /// Registers the request body as a new version; `format`, `description`, `tag=k=v`, `run_id`,
    /// `dataset`, `commit` come from the query string.
    private func upload(_ request: Request, model: String, context: ChangeContext) async throws -> Response {
        let query = Parameters.query(request)
        var tags: [String: String] = [:]
        for tag in query.strings("tag") {
            let parts = tag.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw RegistryError.invalid("tag", "tag '\(tag)' must be KEY=VALUE")
            }
            tags[String(parts[0])] = String(parts[1])
        }
        let temp = registry.temporaryArtifactPath("upload")
        defer { try? FileManager.default.removeItem(at: temp) }
        let size = try await HTTPSupport.saveBody(request, to: temp, limit: maxUploadBytes)
        guard size > 0 else { throw RegistryError.invalid("body", "the request body (the artifact's bytes) is empty") }
        let version = try registry.register(
            RegistrationRequest(
                model: model, artifact: temp, format: query.string("format") ?? "file", description: query.string("description") ?? "",
                tags: tags, lineage: Lineage(runID: query.string("run_id"), dataset: query.string("dataset"), commit: query.string("commit")),
                source: query.string("source") ?? "upload"),
            context: context)
        return try encode(version, status: .created)
    }

    private func handle(
        _ router: Router<BasicRequestContext>, _ method: HTTPRequest.Method, _ path: String,
        _ body: @escaping @Sendable (Request, BasicRequestContext, ChangeContext) async throws -> Response
    ) {
        router.on(RouterPath(path), method: method) { request, context -> Response in
            do {
                return try await body(request, context, HTTPSupport.context(request))
            } catch let error as RegistryError {
                return NativeRoutes.error(error)
            } catch let error as HTTPError {
                return HTTPSupport.json(["error": .string(error.body ?? "\(error.status)")], status: error.status)
            } catch let error as any HTTPResponseError {
                return HTTPSupport.json(["error": .string("\(error)")], status: error.status)
            } catch {
                return HTTPSupport.json(["error": .string("\(error)")], status: .internalServerError)
            }
        }
    }

    static func error(_ error: RegistryError) -> Response {
        let status: HTTPResponse.Status =
            switch error.code {
            case .modelNotFound, .versionNotFound, .aliasNotFound, .noVersionInStage, .trackingNotFound: .notFound
            case .modelExists, .versionHasAliases, .trackingExists: .conflict
            case .protectedAlias: .forbidden
            case .invalidArgument, .invalidURI, .artifactUnreadable: .badRequest
            case .artifactMissing, .artifactCorrupted: .internalServerError
            case .storageUnavailable: .serviceUnavailable
            }
        var body: [String: JSONValue] = [
            "error": .string(error.message), "code": .string(error.code.rawValue), "hint": .string(error.remedy),
        ]
        if let field = error.field { body["field"] = .string(field) }
        return HTTPSupport.json(.object(body), status: status)
    }

    private func nameAndVersion(_ c: BasicRequestContext) throws -> (String, Int) {
        let name = try c.parameters.require("name")
        let text = try c.parameters.require("version")
        guard let n = Int(text), n > 0 else {
            throw RegistryError.invalid("version", "'\(text)' is not a version number")
        }
        return (name, n)
    }

    private func stringMap(_ value: JSONValue?, field: String) throws -> [String: String] {
        guard let value, value != .null else { return [:] }
        guard case .object(let object) = value else { throw RegistryError.invalid(field, "'\(field)' must be an object of strings") }
        return try object.mapValues { v in
            guard let s = v.stringValue else { throw RegistryError.invalid(field, "'\(field)' values must be strings") }
            return s
        }
    }

    private func encode(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

struct ModelDetail: Encodable {
    var model: RegisteredModel
    var versions: [ModelVersion]
}
