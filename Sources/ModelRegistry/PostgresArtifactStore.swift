import Crypto
import EnginePostgres
import Foundation
import NIOCore
import PostgresNIO

/// Artifacts kept in the registry's PostgreSQL schema, for a team with no shared disk.
///
/// An artifact is one `artifact` row (sha256, size, chunk count) and its bytes in `artifact_chunk`
/// rows of at most 1 MiB. Ingesting streams the file in chunks under a pending key while hashing
/// it, then, in the same transaction, names the chunks by the sha256 (or drops them when that
/// content is stored already), so a reader never sees half an artifact. Reading fetches one
/// chunk at a time and hashes as it goes: nothing is ever held whole, and content that does not
/// hash to its name (a changed chunk, a missing one) is refused. Readers that need a file get a
/// checked copy in a local cache (`verify`), itself checked again on every use.
///
/// An artifact's transaction does not wait for the disk (its `client` is made with `waitsForDisk:
/// false`): the version that names it commits after it with a wait, and PostgreSQL flushes its
/// log in order, so the artifact is on disk before any version can point to it (and an artifact
/// no version names is harmless).
struct PostgresArtifactStore: ArtifactStorage {
    let client: BlockingPostgres
    let schema: String
    /// Checked copies of artifacts, for readers that need a path.
    let cache: ArtifactStore

    static let chunkSize = 1 << 20

    private var place: String { "\(client.url) \(schema).artifact_chunk" }

    func ingest(file: URL) throws -> (sha256: String, size: Int64) {
        let started = try startIngest(file: file)
        try started.finish()
        return (started.sha256, started.size)
    }

    /// A small file is one statement, started on a connection of its own: it runs on the server
    /// while the caller records the version on another, and `finish()` waits for it before the
    /// version's commit.
    func startIngest(file: URL) throws -> StartedIngest {
        let (input, info) = try ArtifactStore.openArtifact(file)
        defer { close(input) }
        guard info.st_size <= Self.chunkSize else {
            let stored = try store { send in try ArtifactStore.readChunks(input, path: file.path, sizeHint: Int64(info.st_size), send) }
            return StartedIngest(sha256: stored.sha256, size: stored.size, finish: {})
        }
        var data = Data()
        try ArtifactStore.readChunks(input, path: file.path, sizeHint: Int64(info.st_size)) { data.append(contentsOf: $0) }
        let sha256 = ArtifactStore.sha256(of: data)
        let started = try PostgresRegistryStorage.failing("store an artifact", client.url) {
            try client.start(storing(data, as: sha256))
        }
        let url = client.url
        return StartedIngest(sha256: sha256, size: Int64(data.count)) {
            try PostgresRegistryStorage.failing("store an artifact", url) { try started.finish() }
        }
    }

    func ingest(data: Data) throws -> (sha256: String, size: Int64) {
        if data.count <= Self.chunkSize {
            let sha256 = ArtifactStore.sha256(of: data)
            try PostgresRegistryStorage.failing("store an artifact", client.url) {
                try client.commitWithoutWaiting(storing(data, as: sha256))
            }
            return (sha256, Int64(data.count))
        }
        return try store { send in
            try data.withUnsafeBytes { bytes in
                var offset = 0
                repeat {
                    let end = min(offset + Self.chunkSize, bytes.count)
                    try send(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
                    offset = end
                } while offset < bytes.count
            }
        }
    }

    /// One statement that stores `data` (at most one chunk) as the artifact `sha256`, unless stored already.
    private func storing(_ data: Data, as sha256: String) -> PostgresQuery {
        """
        WITH stored AS (
            INSERT INTO \(unescaped: schema).artifact (sha256, size, chunks) VALUES (\(sha256), \(Int64(data.count)), 1)
            ON CONFLICT (sha256) DO NOTHING RETURNING sha256)
        INSERT INTO \(unescaped: schema).artifact_chunk (sha256, seq, bytes) SELECT sha256, 0, \(ByteBuffer(bytes: data)) FROM stored
        """
    }

    func load(sha256: String, what: String) throws -> Data {
        var data = Data()
        var hasher = SHA256()
        try chunks(of: sha256, what: what) { chunk in
            hasher.update(bufferPointer: chunk)
            data.append(contentsOf: chunk)
        }
        let actual = ArtifactStore.hex(hasher.finalize())
        guard actual == sha256 else { throw ArtifactStore.corrupted(what, at: place, expected: sha256, actual: actual) }
        return data
    }

    func verify(sha256: String, what: String) throws -> URL {
        let url = cache.path(for: sha256)
        if let (cached, _) = try ArtifactStore.sha256(ofFile: url.path), cached == sha256 { return url }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = try export(sha256: sha256, what: what, to: url)
        return url
    }

    func export(sha256: String, what: String, to destination: URL) throws -> Int64 {
        try ArtifactStore.writeChecked(to: destination, sha256: sha256) { output in
            try chunks(of: sha256, what: what, output)
        } corrupted: { actual in ArtifactStore.corrupted(what, at: place, expected: sha256, actual: actual) }
    }

    func path(for sha256: String) -> URL { cache.path(for: sha256) }

    func temporaryPath(_ purpose: String) -> String { cache.temporaryPath(purpose) }

    /// Stores what `produce` hands over (chunks of at most 1 MiB) as one artifact; returns its sha256 and size.
    private func store(
        _ produce: (_ send: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws -> (sha256: String, size: Int64) {
        try PostgresRegistryStorage.failing("store an artifact", client.url) {
            try client.transaction(waitsForDisk: false, retryConflicts: false) { session in
                let pending = "pending-\(UUID().uuidString)"
                var hasher = SHA256()
                var size: Int64 = 0
                var seq = 0
                try produce { chunk in
                    hasher.update(bufferPointer: chunk)
                    size += Int64(chunk.count)
                    try session.query(
                        "INSERT INTO \(unescaped: schema).artifact_chunk (sha256, seq, bytes) VALUES (\(pending), \(seq), \(ByteBuffer(bytes: chunk)))")
                    seq += 1
                }
                let sha256 = ArtifactStore.hex(hasher.finalize())
                // Waits for a writer of the same content in flight, then stores nothing twice.
                let inserted = try session.query(
                    """
                    INSERT INTO \(unescaped: schema).artifact (sha256, size, chunks) VALUES (\(sha256), \(size), \(seq))
                    ON CONFLICT (sha256) DO NOTHING RETURNING sha256
                    """)
                if inserted.isEmpty {
                    try session.query("DELETE FROM \(unescaped: schema).artifact_chunk WHERE sha256 = \(pending)")
                } else {
                    try session.query("UPDATE \(unescaped: schema).artifact_chunk SET sha256 = \(sha256) WHERE sha256 = \(pending)")
                }
                return (sha256, size)
            }
        }
    }

    /// Hands the stored chunks of `sha256` to `consume` in order, one fetched at a time.
    private func chunks(of sha256: String, what: String, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        try PostgresRegistryStorage.failing("read an artifact", client.url) {
            try client.withSession { session in
                let rows = try session.query("SELECT chunks FROM \(unescaped: schema).artifact WHERE sha256 = \(sha256)")
                guard let row = rows.first else { throw ArtifactStore.missing(what, at: place) }
                let count = try row.decode(Int.self)
                for seq in 0..<count {
                    let chunk = try session.query(
                        "SELECT bytes FROM \(unescaped: schema).artifact_chunk WHERE sha256 = \(sha256) AND seq = \(seq)")
                    guard let bytes = try chunk.first?.decode(ByteBuffer.self) else { throw ArtifactStore.missing(what, at: place) }
                    try bytes.withUnsafeReadableBytes(consume)
                }
            }
        }
    }
}
