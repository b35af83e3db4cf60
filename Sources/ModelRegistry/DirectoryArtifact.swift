import Crypto
import Foundation

/// A version whose artifact is a directory (an MLflow model folder: `MLmodel`, the model file,
/// `requirements.txt`, …), kept as its files plus a manifest, all in the content-addressed store.
///
/// The manifest is text, one line per regular file, sorted by path (byte order):
///
///     mlinfra-directory 1
///     <sha256> <size> <644|755> <relative path>
///
/// and the version's sha256 is the manifest's, so it is a hash over the sorted entries: the same
/// files give the same sha256 on every machine, whatever their order on disk or their times, and
/// any change to a file's bytes, name or executable bit gives another. Every export and resolve
/// checks each file against its line, and the manifest against the version.
enum DirectoryArtifact {
    static let header = "mlinfra-directory 1\n"

    struct Entry: Equatable {
        var path: String
        var sha256: String
        var size: Int64
        var executable: Bool
    }

    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The regular files under `directory`, by relative path in byte order. Symbolic links and
    /// special files are refused (a link could point anywhere); an empty directory is refused.
    static func files(_ directory: URL) throws -> [(path: String, url: URL, executable: Bool)] {
        let root = directory.standardizedFileURL
        guard let walker = FileManager.default.enumerator(atPath: root.path) else {
            throw RegistryError(.artifactUnreadable, "cannot read directory \(root.path)", remedy: "Check that it exists and is readable.", field: "artifact")
        }
        var found: [(String, URL, Bool)] = []
        while let relative = walker.nextObject() as? String {
            let url = root.appendingPathComponent(relative)
            var info = stat()
            guard lstat(url.path, &info) == 0 else {
                throw RegistryError(.artifactUnreadable, "cannot read \(url.path)", remedy: "Check its permissions.", field: "artifact")
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: continue
            case S_IFREG:
                guard !relative.contains("\n") else {
                    throw RegistryError.invalid("artifact", "\(url.path): a file name holds a line break", remedy: "Rename the file.")
                }
                found.append((relative, url, info.st_mode & 0o111 != 0))
            default:
                throw RegistryError.invalid(
                    "artifact", "\(url.path) is not a regular file (a symbolic link or device)",
                    remedy: "Copy what it points to into the directory instead; a model directory holds regular files only.")
            }
        }
        guard !found.isEmpty else {
            throw RegistryError.invalid("artifact", "directory \(root.path) holds no files", remedy: "Register a directory with the model's files in it.")
        }
        return found.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
    }

    static func manifest(_ entries: [Entry]) -> Data {
        var text = header
        for e in entries { text += "\(e.sha256) \(e.size) \(e.executable ? "755" : "644") \(e.path)\n" }
        return Data(text.utf8)
    }

    static func parse(_ data: Data, what: String) throws -> [Entry] {
        let text = String(decoding: data, as: UTF8.self)
        guard text.hasPrefix(header) else { throw damaged(what, "it does not start with the manifest header") }
        var entries: [Entry] = []
        for line in text.dropFirst(header.count).split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0].count == 64, let size = Int64(parts[1]), parts[2] == "644" || parts[2] == "755",
                !parts[3].isEmpty, !parts[3].hasPrefix("/"), !parts[3].split(separator: "/").contains("..")
            else { throw damaged(what, "a line does not read as sha256, size, mode and a relative path") }
            entries.append(Entry(path: String(parts[3]), sha256: String(parts[0]), size: size, executable: parts[2] == "755"))
        }
        return entries
    }

    /// The sha256 and total size a registration of `directory` records, without storing anything (plan time).
    static func hash(_ directory: URL) throws -> (sha256: String, size: Int64) {
        let entries = try files(directory).map { file -> Entry in
            guard let (sha256, size) = try ArtifactStore.sha256(ofFile: file.url.path) else {
                throw RegistryError(.artifactUnreadable, "cannot read \(file.url.path)", remedy: "Check its permissions.", field: "artifact")
            }
            return Entry(path: file.path, sha256: sha256, size: size, executable: file.executable)
        }
        return (ArtifactStore.sha256(of: manifest(entries)), entries.reduce(0) { $0 + $1.size })
    }

    /// Stores every file and then the manifest; returns the manifest's sha256 and the files' total size.
    static func ingest(_ directory: URL, into store: any ArtifactStorage) throws -> (sha256: String, size: Int64) {
        var entries: [Entry] = []
        for file in try files(directory) {
            let (sha256, size) = try store.ingest(file: file.url)
            entries.append(Entry(path: file.path, sha256: sha256, size: size, executable: file.executable))
        }
        let (sha256, _) = try store.ingest(data: manifest(entries))
        return (sha256, entries.reduce(0) { $0 + $1.size })
    }

    /// Checks every file the manifest at `manifest` (already checked) names.
    static func verify(manifest: URL, in store: any ArtifactStorage, what: String) throws {
        let entries = try parse(try Data(contentsOf: manifest), what: what)
        for e in entries { try store.verify(sha256: e.sha256, what: "\(what), file \(e.path)") }
    }

    /// Writes the directory to `destination` (which must not exist): into a temporary sibling first,
    /// each file checked as it is copied, then renamed into place, so a failed check leaves nothing.
    static func export(manifest: URL, from store: any ArtifactStorage, what: String, to destination: URL) throws -> Int64 {
        let entries = try parse(try Data(contentsOf: manifest), what: what)
        let fm = FileManager.default
        guard !fm.fileExists(atPath: destination.path) else {
            throw RegistryError.invalid(
                "output", "\(destination.path) already exists; \(what) is a directory", remedy: "Choose a new path, or remove the old one first.")
        }
        let staging = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).partial-\(UUID().uuidString)")
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            var total: Int64 = 0
            for e in entries {
                let target = staging.appendingPathComponent(e.path)
                try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                total += try store.export(sha256: e.sha256, what: "\(what), file \(e.path)", to: target)
                chmod(target.path, e.executable ? 0o755 : 0o644)
            }
            try fm.moveItem(at: staging, to: destination)
            return total
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    static func notAFile(_ what: String) -> RegistryError { RegistryError.directoryVersion(what) }

    static func damaged(_ what: String, _ why: String) -> RegistryError {
        RegistryError(
            .artifactCorrupted, "the manifest of \(what) is damaged: \(why)",
            remedy: "Register the version again from its source, or restore the registry from a backup.")
    }
}

/// One file of a directory version, where the artifact store keeps it.
public struct DirectoryFile: Sendable, Equatable {
    /// The path inside the directory (`model.ubj`, `MLmodel`).
    public var path: String
    public var sha256: String
    public var size: Int64
    /// The file's bytes in the content-addressed store.
    public var url: URL
}

extension ModelRegistry {
    /// The files of a directory version that `resolve` checked, each in the artifact store, so a
    /// reader can open one file (a model directory's `MLmodel`, then its model file) without exporting the rest.
    public func directoryFiles(_ resolved: ResolvedModelVersion) throws -> [DirectoryFile] {
        let what = "\(resolved.name) version \(resolved.version)"
        guard resolved.kind == .directory else {
            throw RegistryError.invalid("artifact", "\(what) is a file, not a directory", remedy: "Load it with loadArtifact.")
        }
        return try DirectoryArtifact.parse(try Data(contentsOf: resolved.artifactPath), what: what).map {
            DirectoryFile(path: $0.path, sha256: $0.sha256, size: $0.size, url: artifacts.path(for: $0.sha256))
        }
    }
}
