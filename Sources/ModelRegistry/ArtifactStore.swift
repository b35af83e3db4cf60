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

/// Writes all of `bytes` to `fd` (retrying short and interrupted writes); a failure is the error
/// `failure` makes from the system's reason.
private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, failure: (String) -> RegistryError) throws {
    var offset = 0
    while offset < bytes.count {
        let n = posixWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw failure(String(cString: strerror(errno)))
        }
        offset += n
    }
}

/// Whether an artifact is flushed to disk before its version becomes visible.
public enum ArtifactDurability: Sendable, Hashable {
    /// fsync each new artifact file before it is renamed into place and recorded (the default).
    case synced
    /// Leave flushing to the OS: faster; after a power failure an artifact may be lost or
    /// truncated, which the sha256 check on load then reports (it is never loaded silently).
    case osBuffered
}

/// Where a registry keeps artifacts by their sha256, and how it hands them out checked.
///
/// Every way out (load, verify, export) hashes the bytes again: content that no longer matches
/// its sha256 is refused, never returned. `verify` returns a local file holding the checked
/// bytes, for readers that need a path (serving, the HTTP download).
protocol ArtifactStorage: Sendable {
    /// Copies a file in while hashing it, in bounded memory; returns its sha256 and size.
    func ingest(file: URL) throws -> (sha256: String, size: Int64)
    func ingest(data: Data) throws -> (sha256: String, size: Int64)
    /// The bytes, after checking they hash to `sha256` (for small artifacts).
    func load(sha256: String, what: String) throws -> Data
    /// Checks the artifact in bounded memory; returns a local file holding exactly those bytes.
    @discardableResult
    func verify(sha256: String, what: String) throws -> URL
    /// Writes the artifact to `destination` in bounded memory, only if it hashes to `sha256`; returns the size.
    func export(sha256: String, what: String, to destination: URL) throws -> Int64
    /// The local file `verify` returns (not checked).
    func path(for sha256: String) -> URL
    /// A path for a temporary local file (an upload on its way in).
    func temporaryPath(_ purpose: String) -> String
    /// `ingest(file:)` that may still be storing when it returns: the caller may go on (record the
    /// version) and must call `finish()` before it commits anything that names the artifact.
    func startIngest(file: URL) throws -> StartedIngest
}

extension ArtifactStorage {
    func startIngest(file: URL) throws -> StartedIngest {
        let stored = try ingest(file: file)
        return StartedIngest(sha256: stored.sha256, size: stored.size, finish: {})
    }
}

/// An artifact hashed, and stored or on its way: `finish()` waits until it is stored (and throws
/// if it could not be). Call it on every path; after the first, calls repeat its outcome.
struct StartedIngest {
    let sha256: String
    let size: Int64
    let finish: () throws -> Void
}

/// Content-addressed artifact files: `ROOT/sha256/ab/abcdef…`, one file per distinct content.
///
/// Files are written to a temporary name in the store, flushed, and renamed into
/// place, so a reader never sees half a file. Every load hashes the bytes again:
/// a file that no longer matches its name is refused, never returned.
struct ArtifactStore: ArtifactStorage {
    let root: URL
    let durability: ArtifactDurability

    init(root: URL, durability: ArtifactDurability) throws {
        self.root = root
        self.durability = durability
        try FileManager.default.createDirectory(at: root.appendingPathComponent("sha256"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        removeAbandonedTemporaries()
    }

    /// A new temporary file's path in the store: `tmp/HOST.PID.UUID`, so whoever opens the store
    /// next can tell whose it is.
    func temporaryPath(_ purpose: String) -> String {
        "\(root.path)/tmp/\(Self.host).\(getpid()).\(purpose)-\(UUID().uuidString)"
    }

    /// Removes temporary files left by processes of this host that are gone (a `kill -9` during a
    /// registration or an upload); files of live processes, other hosts, or unknown names stay.
    func removeAbandonedTemporaries() {
        let directory = root.appendingPathComponent("tmp").path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let parts = name.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, parts[0] == Self.host, let pid = Int32(parts[1]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(directory + "/" + name) }
        }
    }

    /// This host's name without dots (it is the first field of temporary names).
    static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.replacingOccurrences(of: ".", with: "_")
    }()

    func path(for sha256: String) -> URL {
        root.appendingPathComponent("sha256").appendingPathComponent(String(sha256.prefix(2)))
            .appendingPathComponent(sha256)
    }

    /// Copies a file into the store while hashing it; returns its sha256 and size.
    func ingest(file: URL) throws -> (sha256: String, size: Int64) {
        let (input, info) = try Self.openArtifact(file)
        defer { close(input) }
        return try write { output in
            var hasher = SHA256()
            var size: Int64 = 0
            try Self.readChunks(input, path: file.path, sizeHint: Int64(info.st_size)) { chunk in
                hasher.update(bufferPointer: chunk)
                try output(chunk)
                size += Int64(chunk.count)
            }
            return (ArtifactStore.hex(hasher.finalize()), size)
        }
    }

    /// Opens a file to register, refusing a directory; the caller closes it.
    static func openArtifact(_ file: URL) throws -> (Int32, stat) {
        let input = open(file.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            throw RegistryError(
                .artifactUnreadable, "cannot read artifact \(file.path): \(String(cString: strerror(errno)))",
                remedy: "Check that the file exists and is readable (a directory is not accepted: pass one file).",
                field: "artifact")
        }
        var info = stat()
        if fstat(input, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(input)
            throw RegistryError(
                .artifactUnreadable, "artifact \(file.path) is a directory",
                remedy: "Register one file (archive a directory first, e.g. with tar).", field: "artifact")
        }
        return (input, info)
    }

    /// Reads an open file to its end in chunks of at most 1 MiB, so no artifact is ever held whole.
    static func readChunks(_ fd: Int32, path: String, sizeHint: Int64 = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(min(max(sizeHint, 4096), 1 << 20)), alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw RegistryError(
                    .artifactUnreadable, "cannot read \(path): \(String(cString: strerror(errno)))",
                    remedy: "Check that the file is readable.", field: "artifact")
            }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// The sha256 of a file's bytes, read in bounded chunks; nil when the file cannot be opened.
    static func sha256(ofFile path: String) throws -> (sha256: String, size: Int64)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var hasher = SHA256()
        var size: Int64 = 0
        try readChunks(fd, path: path) { chunk in
            hasher.update(bufferPointer: chunk)
            size += Int64(chunk.count)
        }
        return (hex(hasher.finalize()), size)
    }

    /// Checks, in bounded memory, that the file stored under `sha256` still hashes to it; returns its path.
    @discardableResult
    func verify(sha256: String, what: String) throws -> URL {
        let url = path(for: sha256)
        guard let (actual, _) = try Self.sha256(ofFile: url.path) else { throw Self.missing(what, at: url.path) }
        guard actual == sha256 else { throw Self.corrupted(what, at: url.path, expected: sha256, actual: actual) }
        return url
    }

    /// Copies the artifact stored under `sha256` to `destination` while hashing it (see `writeChecked`). Bounded memory; returns the size.
    func export(sha256: String, what: String, to destination: URL) throws -> Int64 {
        let url = path(for: sha256)
        let input = open(url.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw Self.missing(what, at: url.path) }
        defer { close(input) }
        return try Self.writeChecked(to: destination, sha256: sha256) { output in
            try Self.readChunks(input, path: url.path) { try output($0) }
        } corrupted: { actual in Self.corrupted(what, at: url.path, expected: sha256, actual: actual) }
    }

    /// Writes what `produce` hands over to `destination` while hashing it: to a temporary file
    /// beside it, renamed into place only once the hash is `sha256`, so a tampered artifact never
    /// appears at the destination (`corrupted` makes the error for the hash found instead).
    static func writeChecked(
        to destination: URL, sha256: String, _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void,
        corrupted: (String) -> RegistryError
    ) throws -> Int64 {
        let temp = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString)")
        let output = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else {
            throw RegistryError(
                .artifactUnreadable, "cannot write \(temp.path): \(String(cString: strerror(errno)))",
                remedy: "Check that the directory is writable.", field: "output")
        }
        var closed = false
        defer {
            if !closed { close(output) }
            unlink(temp.path)
        }
        var hasher = SHA256()
        var size: Int64 = 0
        try produce { chunk in
            hasher.update(bufferPointer: chunk)
            try writeAll(output, chunk) { reason in
                RegistryError(.artifactUnreadable, "cannot write \(temp.path): \(reason)", remedy: "Check that the disk is not full.", field: "output")
            }
            size += Int64(chunk.count)
        }
        let actual = hex(hasher.finalize())
        guard actual == sha256 else { throw corrupted(actual) }
        close(output)
        closed = true
        guard rename(temp.path, destination.path) == 0 else {
            throw RegistryError(
                .artifactUnreadable, "cannot write \(destination.path): \(String(cString: strerror(errno)))",
                remedy: "Check that the directory is writable.", field: "output")
        }
        return size
    }

    static func missing(_ what: String, at place: String) -> RegistryError {
        RegistryError(
            .artifactMissing, "the artifact of \(what) is missing from the store (\(place))",
            remedy: "Register the version again from its source, or restore the registry directory from a backup.")
    }

    static func corrupted(_ what: String, at place: String, expected: String, actual: String) -> RegistryError {
        RegistryError(
            .artifactCorrupted,
            "the artifact of \(what) does not match its sha256: expected \(expected), found \(actual) (\(place))",
            remedy: "The file was changed after registration and is refused. Register the model again from a trusted source.")
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
        guard let data = FileManager.default.contents(atPath: url.path) else { throw Self.missing(what, at: url.path) }
        let actual = ArtifactStore.sha256(of: data)
        guard actual == sha256 else { throw Self.corrupted(what, at: url.path, expected: sha256, actual: actual) }
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
        let temp = temporaryPath("ingest")
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RegistryError(
                .artifactUnreadable, "cannot write into the artifact store \(root.path): \(String(cString: strerror(errno)))",
                remedy: "Check that the registry directory is writable and the disk is not full.")
        }
        var isOpen = true
        defer { if isOpen { close(fd) } }
        do {
            let result = try body { bytes in
                try writeAll(fd, bytes) { reason in
                    RegistryError(
                        .artifactUnreadable, "cannot write into the artifact store \(root.path): \(reason)", remedy: "Check that the disk is not full.")
                }
            }
            if durability == .synced, fsync(fd) != 0 {
                throw RegistryError(
                    .artifactUnreadable, "cannot flush an artifact to disk in \(root.path): \(String(cString: strerror(errno)))",
                    remedy: "Check the disk.")
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
                    remedy: "Check that the registry directory is writable.")
            }
            return result
        } catch {
            unlink(temp)
            throw error
        }
    }
}
