import Foundation
import ModelRegistry

/// Where an MLflow `source` may point on the server's host: only at files under the roots its
/// operator configured, after `..`, symbolic links and `file://` percent-encoding are resolved.
/// A path outside them is refused with the same answer whether or not it exists, so the
/// refusal tells a client nothing about the host's files.
struct SourcePaths: Sendable {
    /// The roots, with symbolic links resolved.
    let roots: [String]

    init(roots: [URL]) {
        self.roots = roots.map { Self.realPath($0.path) ?? ($0.standardizedFileURL.path) }
    }

    /// The file a `source` names, if it is under a root.
    func resolve(_ source: String) throws -> URL {
        let path: String
        if source.lowercased().hasPrefix("file:") {
            guard let url = URL(string: source), url.isFileURL, url.host == nil || url.host == "" || url.host == "localhost" else {
                throw refusal(source, reason: "is not a file URI of this host")
            }
            path = url.path
        } else if source.hasPrefix("/") {
            path = source
        } else {
            throw refusal(source, reason: "is not an uploaded artifact or a path under this server's source roots")
        }
        guard !roots.isEmpty else { throw refusal(source, reason: "names a file of the server's host, and this server has no source roots") }
        let lexical = URL(fileURLWithPath: path).standardizedFileURL.path
        guard inside(lexical), let real = Self.realPath(lexical), inside(real) else {
            throw refusal(source, reason: "is outside this server's source roots")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw RegistryError.invalid("source", "source '\(source)' is not a regular file", remedy: "Name one file under a source root.")
        }
        return URL(fileURLWithPath: real)
    }

    private func inside(_ path: String) -> Bool {
        roots.contains { root in path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/") }
    }

    private func refusal(_ source: String, reason: String) -> RegistryError {
        RegistryError.invalid(
            "source", "source '\(source)' \(reason)",
            remedy: "Upload the artifact's bytes (POST /api/v1/models/NAME/versions, or `mlinfra models register`), "
                + "or have the operator start the server with `--source-root DIR` and name a file under it.")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
