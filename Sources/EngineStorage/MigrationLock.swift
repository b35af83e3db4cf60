import Foundation
import GRDB

extension DatabaseMigrator {
    /// Opens the database at `path` and migrates it while holding an exclusive `flock` on
    /// `<database>.migrate-lock`, so that several processes opening the same new database at
    /// once (four monitors applied in parallel, two registries starting together) neither race
    /// to switch it to WAL ("database is locked") nor run a migration twice ("table … already
    /// exists"). GRDB's own barrier serialises one pool's writers only.
    public func openPool(path: String, configuration: Configuration) throws -> DatabasePool {
        let lockPath = path + ".migrate-lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DatabaseError(message: "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw DatabaseError(message: "cannot lock \(lockPath): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try migrate(pool)
        return pool
    }
}
