import Foundation

/// A state file or state store problem, saying what went wrong, where, and how to fix it.
///
/// Shared by the format (unreadable or newer files) and the storage (locks,
/// journals, conflicting writes). The description never contains state
/// values, only addresses, serials, lineages and lock holders, so it is safe
/// to print even when the state holds secrets.
public struct StateError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What kind of problem this is, for callers that branch on it.
    public enum Code: String, Sendable, Hashable {
        /// The file is not valid JSON, not a state file, or has an invalid field.
        case unreadable
        /// The file was written by a newer mlinfra with a format version this one cannot read.
        case newerVersion
        /// The state being written belongs to a different lineage than the stored one.
        case lineageMismatch
        /// The stored state has a higher serial than the one being written: someone wrote in between.
        case serialConflict
        /// Another process holds the lock.
        case locked
        /// An unlock named a lock that does not exist or has another id.
        case lockNotHeld
        /// A journal left by an interrupted command does not match the state it would apply to.
        case journalMismatch
        /// A journal operation was called out of order (no journal begun, or one already open or pending).
        case journalState
        /// The operating system refused a file operation.
        case io
        /// A state backend on a server (PostgreSQL) could not be reached, or refused a request.
        case backend
        /// Encrypted bytes could not be opened (no key, another key, failed authentication), or
        /// unencrypted bytes were found where encryption is enforced.
        case encryption
    }

    public var code: Code
    /// What went wrong, in one or two sentences.
    public var message: String
    /// The file (or store location) concerned.
    public var path: String
    /// How the user can fix it.
    public var remedy: String
    /// 1-based line and column of a syntax error, when known.
    public var line: Int?
    public var column: Int?
    /// 0-based byte offset of a syntax error, when known.
    public var offset: Int?

    public init(
        _ code: Code, _ message: String, path: String, remedy: String,
        line: Int? = nil, column: Int? = nil, offset: Int? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.remedy = remedy
        self.line = line
        self.column = column
        self.offset = offset
    }

    public var description: String {
        var place = path
        if let line, let column { place += ":\(line):\(column)" }
        if let offset { place += " (byte \(offset))" }
        return "\(place): \(message)\n  fix: \(remedy)"
    }
}

extension StateError {
    static func unreadable(_ message: String, path: String, offset: Int? = nil, in bytes: [UInt8]? = nil) -> StateError {
        var line: Int?
        var column: Int?
        if let offset, let bytes {
            (line, column) = lineAndColumn(of: offset, in: bytes)
        }
        return StateError(
            .unreadable, "the state file cannot be read: \(message). It was left unchanged.", path: path,
            remedy: "restore the previous state with `cp \(path).backup \(path)` (if the backup exists), "
                + "or correct the file by hand at the position shown",
            line: line, column: column, offset: offset)
    }

    static func io(_ operation: String, path: String, errno code: Int32) -> StateError {
        StateError(
            .io, "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))", path: path,
            remedy: "check that the directory exists, is writable and the disk is not full, then retry")
    }

    /// The 1-based line and column (in bytes) of an offset.
    static func lineAndColumn(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1
        var lineStart = 0
        let end = min(offset, bytes.count)
        var i = 0
        while i < end {
            if bytes[i] == 0x0A {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        return (line, end - lineStart + 1)
    }
}

