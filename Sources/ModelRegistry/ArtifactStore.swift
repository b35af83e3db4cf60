import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `write(2)`, out of reach of `ArtifactStore.write`'s name.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }

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
        let input = open(file.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            throw RegistryError(
                .artifactUnreadable, "cannot read artifact \(file.path): \(String(cString: strerror(errno)))",
                hint: "Check that the file exists and is readable (a directory is not accepted: pass one file).",
                field: "artifact")
        }
        defer { close(input) }
        var info = stat()
        if fstat(input, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            throw RegistryError(
                .artifactUnreadable, "artifact \(file.path) is a directory",
                hint: "Register one file (archive a directory first, e.g. with tar).", field: "artifact")
        }
        return try write { output in
            var hasher = SHA256()
            var size: Int64 = 0
            let capacity = 1 << 20
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(min(max(Int64(info.st_size), 4096), Int64(capacity))), alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = read(input, buffer.baseAddress, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RegistryError(
                        .artifactUnreadable, "cannot read artifact \(file.path): \(String(cString: strerror(errno)))",
                        hint: "Check that the file is readable.", field: "artifact")
                }
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                hasher.update(bufferPointer: chunk)
                try output(chunk)
                size += Int64(n)
            }
            return (ArtifactStore.hex(hasher.finalize()), size)
        }
    }

    /// Stores bytes; returns their sha256 and size.
    func ingest(data: Data) throws -> (sha256: String, size: Int64) {
        try write { output in
            try data.withUnsafeBytes { try output($0) }
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

    /// Writes through `body` into a temporary file, flushes it (when synced), and renames it
    /// to its content address. Plain POSIX calls: one open, the writes, fsync, close, rename
    /// (and a mkdir the first time a two-letter prefix directory is needed).
    private func write(
        _ body: ((UnsafeRawBufferPointer) throws -> Void) throws -> (sha256: String, size: Int64)
    ) throws -> (sha256: String, size: Int64) {
        let temp = root.path + "/tmp/" + UUID().uuidString
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RegistryError(
                .artifactUnreadable, "cannot write into the artifact store \(root.path): \(String(cString: strerror(errno)))",
                hint: "Check that the registry directory is writable and the disk is not full.")
        }
        var isOpen = true
        defer { if isOpen { close(fd) } }
        do {
            let result = try body { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = posixWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw RegistryError(
                            .artifactUnreadable, "cannot write into the artifact store \(root.path): \(String(cString: strerror(errno)))",
                            hint: "Check that the disk is not full.")
                    }
                    offset += n
                }
            }
            if durability == .synced, fsync(fd) != 0 {
                throw RegistryError(
                    .artifactUnreadable, "cannot flush an artifact to disk in \(root.path): \(String(cString: strerror(errno)))",
                    hint: "Check the disk.")
            }
            close(fd)
            isOpen = false
            let final = path(for: result.sha256).path
            if rename(temp, final) != 0 {
                // The prefix directory does not exist yet: make it and try once more.
                let directory = (final as NSString).deletingLastPathComponent
                if errno == ENOENT, mkdir(directory, 0o755) == 0 || errno == EEXIST, rename(temp, final) == 0 {
                    return result
                }
                throw RegistryError(
                    .artifactUnreadable, "cannot move artifact into place at \(final): \(String(cString: strerror(errno)))",
                    hint: "Check that the registry directory is writable.")
            }
            return result
        } catch {
            unlink(temp)
            throw error
        }
    }
}
