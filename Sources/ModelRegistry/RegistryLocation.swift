import EnginePostgres
import Foundation

/// Where a registry keeps its records and its artifacts.
///
/// `directory` is always local: it holds the SQLite file and the artifact files by default, and
/// with PostgreSQL the cache of checked artifact copies that readers needing a path are given.
public struct RegistryLocation: Sendable, Hashable {
    public enum Records: Sendable, Hashable {
        /// `directory/registry.sqlite` (the default).
        case sqlite
        /// The tables of `schema` in a PostgreSQL database, shared by everyone who names it.
        case postgres(PostgresURL, schema: String)
    }

    public var directory: URL
    public var records: Records
    /// Where the artifact files go, when they are files (default `directory/artifacts`); nil
    /// with PostgreSQL records means in PostgreSQL too.
    public var artifactDirectory: URL?

    /// Whether a change to PostgreSQL records returns only once the server has flushed it to disk
    /// (the default). Without it (`synchronous_commit = off`) a change is committed and visible to
    /// everyone at once and survives any crash of mlinfra, but a crash of the database server in
    /// the following moment (under a second) may lose it — SQLite's guarantee here, whose WAL
    /// runs with `synchronous = NORMAL`. Saves a disk flush per change.
    public var waitsForDisk = true

    /// The schema the PostgreSQL records go to when the spec names none.
    public static let defaultSchema = "mlinfra_registry"

    public init(directory: URL, records: Records = .sqlite, artifactDirectory: URL? = nil) {
        self.directory = directory
        self.records = records
        self.artifactDirectory = artifactDirectory
    }
}
