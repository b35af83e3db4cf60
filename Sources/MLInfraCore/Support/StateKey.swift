import Crypto
import Foundation

/// The key of the HMACs that state and plan files keep in place of secrets.
///
/// It is never in the state file: it comes from `MLINFRA_STATE_KEY`, or from a key file beside the
/// state (`<state dir>/.mlinfra-keys/<state file>.key`, 0600 in a 0700 directory) created on first
/// use. With the state file alone an HMAC cannot be checked against guesses of the secret.
/// See docs/decisions/secrets.md.
public struct StateKey: Sendable, Hashable {
    public static let environmentVariable = "MLINFRA_STATE_KEY"
    let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// A random key that lives as long as the process: for plans that are never stored (tests, tools).
    public static let ephemeral = StateKey(bytes: randomBytes(32))

    /// The hex HMAC-SHA256 of `text`.
    public func mac(_ text: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: bytes))
            .map { String(format: "%02x", $0) }.joined()
    }

    /// Where the key file of the state at `statePath` lives.
    public static func keyFilePath(forState statePath: String) -> String {
        let url = URL(fileURLWithPath: statePath)
        return url.deletingLastPathComponent().appendingPathComponent(".mlinfra-keys")
            .appendingPathComponent(url.lastPathComponent + ".key").path
    }

    /// The key for the state at `statePath`: `MLINFRA_STATE_KEY` when set, else the key file, made when missing.
    public static func load(forState statePath: String, environment: [String: String]) throws -> StateKey {
        if let text = environment[environmentVariable], !text.isEmpty { return StateKey(bytes: Array(text.utf8)) }
        let path = keyFilePath(forState: statePath)
        let directory = (path as NSString).deletingLastPathComponent
        try PosixFiles.makePrivateDirectory(directory)
        if let existing = try PosixFiles.read(path) {
            let text = String(decoding: existing.bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text.count >= 32 else {
                throw StateError(
                    .unreadable, "the state key file is too short to be a key", path: path,
                    remedy: "Restore it from where you keep it, or set \(environmentVariable). Deleting it makes every secret in state look changed once.")
            }
            return StateKey(bytes: Array(text.utf8))
        }
        let text = randomBytes(32).map { String(format: "%02x", $0) }.joined() + "\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            // Another process made it first: use theirs.
            if errno == EEXIST { return try load(forState: statePath, environment: [:]) }
            throw StateError.io("create", path: path, errno: errno)
        }
        defer { close(fd) }
        try PosixFiles.writeAll(fd, Array(text.utf8), path: path)
        try PosixFiles.sync(fd, path: path)
        return StateKey(bytes: Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8))
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}
