import GRDB

/// Direct SQL on a registry's SQLite file, for tests that check what the database itself refuses.
enum SQLiteAccess {
    static func succeeds(_ sql: String, path: String) -> Bool {
        guard let queue = try? DatabaseQueue(path: path) else { return false }
        return (try? queue.write { try $0.execute(sql: sql) }) != nil
    }
}
