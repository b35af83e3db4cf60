import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether an artifact is flushed to disk before its version becomes visible.
public enum ArtifactDurability: Sendable, Hashable {
    /// fsync each new artifact file before it is renamed into place and recorded (the default).
    case synced
    /// Leave flushing to the OS: faster; after a power failure an artifact may be lost or
    /// truncated, which the sha256 check on load then reports (it is never loaded silently).
    case osBuffered
}

/// Content-addressed artifact files: `ROOT/sha256/ab/abcdef…`, one file per distinct content.
///
/// Files are written to a temporary name in the store, flushed, and renamed into
/// place, so a reader never sees half a file. Every load hashes the bytes again:
/// a file that no longer matches its name is refused, never returned.
struct ArtifactStore: Sendable {
    let root: URL
    let durability: ArtifactDurability

    init(root: URL, durability: ArtifactDurability) throws {
        self.root = root
        self.durability = durability
        try FileManager.default.createDirectory(at: root.appendingPathComponent("sha256"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("tmp"), withIntermediateDirectories: true)
    }

    func path(for sha256: String) -> URL {
        root.appendingPathComponent("sha256").appendingPathComponent(String(sha256.prefix(2)))
            .appendingPathComponent(sha256)
    }

    /// Copies a file into the store while hashing it; returns its sha256 and size.
    func ingest(file: URL) throws -> (sha256: String, size: Int64) {
        let input: FileHandle
        do {
            input = try FileHandle(forReadingFrom: file)
        } catch {
            throw RegistryError(
                .artifactUnreadable, "cannot read artifact \(file.path)",
                hint: "Check that the file exists and is readable (a directory is not accepted: pass one file).",
                field: "artifact")
        }
        defer { try? input.close() }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw RegistryError(
                .artifactUnreadable, "artifact \(file.path) is a directory",
                hint: "Register one file (archive a directory first, e.g. with tar).", field: "artifact")
        }
        return try write { output in
            var hasher = SHA256()
            var size: Int64 = 0
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
                try output.write(contentsOf: chunk)
                size += Int64(chunk.count)
            }
            return (ArtifactStore.hex(hasher.finalize()), size)
        }
    }

    /// Stores bytes; returns their sha256 and size.
    func ingest(data: Data) throws -> (sha256: String, size: Int64) {
        try write { output in
            try output.write(contentsOf: data)
            return (ArtifactStore.sha256(of: data), Int64(data.count))
        }
    }

    /// The bytes stored under `sha256`, after checking they still hash to it.
    func load(sha256: String, what: String) throws -> Data {
        let url = path(for: sha256)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RegistryError(
                .artifactMissing, "the artifact of \(what) is missing from the store (\(url.path))",
                hint: "Register the version again from its source, or restore the registry directory from a backup.")
        }
        let actual = ArtifactStore.sha256(of: data)
        guard actual == sha256 else {
            throw RegistryError(
                .artifactCorrupted,
                "the artifact of \(what) does not match its sha256: expected \(sha256), found \(actual) (\(url.path))",
                hint: "The file was changed after registration and is refused. Register the model again from a trusted source.")
        }
        return data
    }

    static func sha256(of data: Data) -> String { hex(SHA256.hash(data: data)) }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes through `body` into a temporary file, flushes it, and renames it to its content address.
    private func write(_ body: (FileHandle) throws -> (sha256: String, size: Int64)) throws -> (sha256: String, size: Int64) {
        let temp = root.appendingPathComponent("tmp").appendingPathComponent(UUID().uuidString)
        guard FileManager.default.createFile(atPath: temp.path, contents: nil) else {
            throw RegistryError(
                .artifactUnreadable, "cannot write into the artifact store \(root.path)",
                hint: "Check that the registry directory is writable and the disk is not full.")
        }
        do {
            let output = try FileHandle(forWritingTo: temp)
            let result: (sha256: String, size: Int64)
            do {
                result = try body(output)
                if durability == .synced { try output.synchronize() }
                try output.close()
            } catch {
                try? output.close()
                throw error
            }
            let final = path(for: result.sha256)
            try FileManager.default.createDirectory(at: final.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard rename(temp.path, final.path) == 0 else {
                throw RegistryError(
                    .artifactUnreadable, "cannot move artifact into place at \(final.path): \(String(cString: strerror(errno)))",
                    hint: "Check that the registry directory is writable.")
            }
            return result
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw error
        }
    }
}
