import Crypto
import Foundation
import Synchronization

/// Bearer tokens for the servers, kept as salted SHA-256 hashes in one file (mode 0600).
///
/// A token reads `mlt_<id>_<secret>`: the id finds its entry, the secret is compared with the
/// stored hash in constant time. Scopes are `SERVER:read` or `SERVER:write` (write includes
/// read), `*` standing for every server. The file is read again within a second of a change, so
/// `mlinfra tokens revoke` takes effect on running servers.
public final class AccessTokens: Sendable {
    public let file: URL
    private let cache: Mutex<Cache>

    private struct Cache {
        var entries: [String: Entry] = [:]
        var modified: Date?
        var checked: ContinuousClock.Instant?
    }

    /// One token as stored: never the secret itself.
    public struct Entry: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var scopes: [String]
        public var salt: String
        public var hash: String
        public var created: Date
    }

    private struct FileBody: Codable {
        var tokens: [Entry]
    }

    public enum Verdict: Sendable, Equatable {
        case allowed, missing, unknown, forbidden
    }

    /// Opens the token file (which need not exist yet: no tokens).
    public init(file: URL) {
        self.file = file
        self.cache = Mutex(Cache())
    }

    /// Every stored token, oldest first.
    public func list() throws -> [Entry] {
        try Self.read(file).sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }

    /// Creates a token with `scopes`, returning its entry and the secret token, shown once.
    public func create(name: String, scopes: [String]) throws -> (Entry, String) {
        for scope in scopes { try Self.validate(scope: scope) }
        let id = Self.randomHex(bytes: 6)
        let secret = Self.randomHex(bytes: 24)
        let salt = Self.randomHex(bytes: 16)
        let entry = Entry(id: id, name: name, scopes: scopes, salt: salt, hash: Self.digest(salt: salt, secret: secret), created: Date())
        var entries = try Self.read(file)
        entries.append(entry)
        try write(entries)
        return (entry, "mlt_\(id)_\(secret)")
    }

    /// Removes a token by id (or name); false when none matches.
    public func revoke(_ idOrName: String) throws -> Bool {
        var entries = try Self.read(file)
        let before = entries.count
        entries.removeAll { $0.id == idOrName || $0.name == idOrName }
        guard entries.count != before else { return false }
        try write(entries)
        return true
    }

    /// Whether any token is stored (servers then require one).
    public var isEmpty: Bool { current().isEmpty }

    /// Checks an `Authorization` header against the tokens and the access a route needs.
    public func verify(authorization: String?, server: String, write: Bool) -> Verdict {
        guard let authorization else { return .missing }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .missing }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        let pieces = token.split(separator: "_", maxSplits: 2)
        guard pieces.count == 3, pieces[0] == "mlt", let entry = current()[String(pieces[1])] else { return .unknown }
        let expected = Data(entry.hash.utf8)
        let given = Data(Self.digest(salt: entry.salt, secret: String(pieces[2])).utf8)
        guard expected.count == given.count, zip(expected, given).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return .unknown }
        let wanted = write ? ["\(server):write", "*:write"] : ["\(server):read", "\(server):write", "*:read", "*:write"]
        return entry.scopes.contains(where: wanted.contains) ? .allowed : .forbidden
    }

    /// The entries, read again when the file changed (checked at most once a second).
    private func current() -> [String: Entry] {
        cache.withLock { cache in
            let now = ContinuousClock.now
            if let checked = cache.checked, now - checked < .seconds(1) { return cache.entries }
            cache.checked = now
            let modified = (try? FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate]) as? Date
            if modified != cache.modified {
                cache.modified = modified
                // An unreadable file keeps nobody out silently: it admits no token at all.
                let entries = (try? Self.read(file)) ?? [Entry(id: "", name: "", scopes: [], salt: "", hash: "", created: .distantPast)]
                cache.entries = Dictionary(entries.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            }
            return cache.entries
        }
    }

    private func write(_ entries: [Entry]) throws {
        let directory = file.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(FileBody(tokens: entries))
        let temp = directory.appendingPathComponent(".\(file.lastPathComponent).\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temp.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ServerPolicyError(message: "cannot write \(temp.path)", remedy: "Check that the directory is writable.")
        }
        guard rename(temp.path, file.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temp)
            throw ServerPolicyError(message: "cannot replace \(file.path): \(reason)", remedy: "Check that the directory is writable.")
        }
        cache.withLock { $0.checked = nil }
    }

    static func read(_ file: URL) throws -> [Entry] {
        guard FileManager.default.fileExists(atPath: file.path) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(FileBody.self, from: Data(contentsOf: file)).tokens
        } catch {
            throw ServerPolicyError(
                message: "the token file \(file.path) is unreadable", remedy: "Restore it, or remove it and create the tokens again.")
        }
    }

    static func validate(scope: String) throws {
        let parts = scope.split(separator: ":")
        guard parts.count == 2, !parts[0].isEmpty, parts[1] == "read" || parts[1] == "write" else {
            throw ServerPolicyError(
                message: "scope '\(scope)' is not SERVER:read or SERVER:write",
                remedy: "Use e.g. registry:read, features:write or *:read.")
        }
    }

    static func digest(salt: String, secret: String) -> String {
        SHA256.hash(data: Data((salt + secret).utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}
