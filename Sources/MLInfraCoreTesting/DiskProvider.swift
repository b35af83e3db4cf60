import Foundation
import MLInfraCore
import Synchronization

/// A provider whose objects are small JSON files in a directory, for end-to-end tests and
/// benchmarks of the core through the real `mlinfra` command (via `mlinfra-dev`).
///
/// Config: `dir` (where objects live, relative to the spec), `latency` (a duration every
/// `apply` and `read` call waits, standing in for a remote API; `plan` is local work and
/// does not wait), and `echo: true`, which keeps nothing on disk and reports every object
/// as it was recorded: a zero-latency provider that measures the core alone.
public final class DiskProvider: Provider, Sendable {
    /// Set by `configure`, before any other call.
    private struct Settings {
        var directory = URL(fileURLWithPath: ".")
        var latency: Duration = .zero
        var echo = false

        func file(_ id: String) -> URL { directory.appendingPathComponent(id + ".json") }
    }
    private let settings = Mutex(Settings())

    public init() {}

    public static let schemaValue = ProviderSchema(
        name: "disk", version: MLInfraVersion.current,
        config: [
            "dir": AttributeSchema(.string, description: "Directory for the objects (default .mlinfra/disk)."),
            "latency": AttributeSchema(.duration, description: "How long each apply and read call takes."),
            "echo": AttributeSchema(.bool, description: "Keep nothing; report objects as recorded."),
        ],
        resourceTypes: [
            "item": ResourceSchema(
                description: "A stored object with a few attributes.",
                attributes: [
                    "size": AttributeSchema(.int, required: true),
                    "label": AttributeSchema(.string),
                    "kind": AttributeSchema(.string, forceNew: true),
                    "tags": AttributeSchema(.map(.string)),
                    "ref": AttributeSchema(.string),
                    "secret": AttributeSchema(.string, sensitive: true),
                    "url": .computed(.string, description: "Where the object lives."),
                ])
        ])

    public func schema() async throws -> ProviderSchema { Self.schemaValue }

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        let dir = request.config["dir"]?.stringValue ?? ".mlinfra/disk"
        let configured = Settings(
            directory: URL(fileURLWithPath: dir, relativeTo: URL(fileURLWithPath: request.workingDirectory)).standardizedFileURL,
            latency: request.config["latency"]?.stringValue.flatMap(DurationText.seconds).map { .milliseconds(Int($0 * 1000)) } ?? .zero,
            echo: request.config["echo"]?.boolValue ?? false)
        settings.withLock { $0 = configured }
        if !configured.echo { try FileManager.default.createDirectory(at: configured.directory, withIntermediateDirectories: true) }
        return ConfigureResponse()
    }

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse { ValidateResponse() }

    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        var planned = request.proposed
        let id = Self.id(for: request.address)
        planned["id"] = .string(id)
        planned["url"] = .string("disk://\(id)")
        return PlanResponse(planned: planned)
    }

    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        let s = settings.withLock { $0 }
        if s.latency > .zero { try await Task.sleep(for: s.latency) }
        let id = request.prior?.id ?? Self.id(for: request.address)
        switch request.action {
        case .delete:
            if !s.echo { try? FileManager.default.removeItem(at: s.file(id)) }
            return ApplyResponse(new: nil)
        case .create, .update:
            var attributes = request.config
            attributes["url"] = .string("disk://\(id)")
            if !s.echo {
                let data = Data(JSONText.encode(.map(attributes), pretty: false).utf8)
                try data.write(to: s.file(id), options: .atomic)
            }
            return ApplyResponse(new: ResourceObject(id: id, attributes: attributes))
        }
    }

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        let s = settings.withLock { $0 }
        if s.latency > .zero { try await Task.sleep(for: s.latency) }
        if s.echo { return ReadResponse(current: request.prior) }
        guard let data = FileManager.default.contents(atPath: s.file(request.id).path) else { return ReadResponse(current: nil) }
        guard case .map(let attributes) = try JSONText.decode(Array(data)) else {
            return ReadResponse(current: nil, diagnostics: [.error("object \(request.id) is damaged")])
        }
        return ReadResponse(current: ResourceObject(id: request.id, attributes: attributes))
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        let read = try await read(ReadRequest(type: request.type, address: request.address, id: request.id, prior: ResourceObject(id: request.id, attributes: [:])))
        return ImportResponse(imported: read.current)
    }

    /// Number of objects on disk.
    public static func count(in directory: URL) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".json") }.count
    }

    static func id(for address: String) -> String {
        String(address.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." ? $0 : "_" })
    }
}
