import Crypto
import Foundation

/// The key of the HMACs that state and plan files keep in place of secrets.
///
/// It is never in the state file: it comes from `MLINFRA_STATE_KEY` (or the file `MLINFRA_STATE_KEY_FILE` names), or from a key file beside the
/// state (`<state dir>/.mlinfra-keys/<state file>.key`, 0600 in a 0700 directory) created on first
/// use. With the state file alone an HMAC cannot be checked against guesses of the secret.
/// See docs/decisions/secrets.md.
public struct StateKey: Sendable, Hashable {
    public static let environmentVariable = "MLINFRA_STATE_KEY"
    let bytes: [UInt8]
    /// Old keys (`MLINFRA_STATE_KEY_FALLBACK`) that still open values sealed before a key rotation; never used to seal or MAC.
    let fallbacks: [[UInt8]]

    public init(bytes: [UInt8], fallbacks: [[UInt8]] = []) {
        self.bytes = bytes
        self.fallbacks = fallbacks
    }

    /// This key, opening values sealed under the environment's `MLINFRA_STATE_KEY_FALLBACK` too.
    func withFallback(from environment: [String: String]) -> StateKey {
        guard let old = environment[StateEncryption.fallbackKeyVariable], !old.isEmpty, Array(old.utf8) != bytes else { return self }
        return StateKey(bytes: bytes, fallbacks: fallbacks + [Array(old.utf8)])
    }

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
    /// The key for a backend: `MLINFRA_STATE_KEY`, else, for a local state, its key file. A shared
    /// backend (PostgreSQL) needs the variable: every runner that plans or applies must hold the
    /// same key, which a file on one runner's disk cannot give (set it from the CI's secrets).
    public static func load(for backend: StateBackend, environment: [String: String]) throws -> StateKey {
        let environment = try KeyFiles.resolve(environment)
        switch backend {
        case .local(let path):
            return try load(forState: path, environment: environment).withFallback(from: environment)
        case .postgres:
            guard let text = environment[environmentVariable], !text.isEmpty else {
                throw StateError(
                    .unreadable, "the postgres backend needs the state key in \(environmentVariable)", path: environmentVariable,
                    remedy: "Set \(environmentVariable) to the same secret on every machine that plans or applies "
                        + "(e.g. from the CI's secrets; `openssl rand -hex 32` makes one).")
            }
            return StateKey(bytes: Array(text.utf8)).withFallback(from: environment)
        }
    }

    public static func load(forState statePath: String, environment: [String: String]) throws -> StateKey {
        let environment = try KeyFiles.resolve(environment)
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

    /// How a sealed value starts in state.
    public static let sealedPrefix = "mlinfra-sealed:"

    /// `text` encrypted (AES-GCM) under this key: for a value state must keep to work, such as a
    /// resource id built from a secret, that must still not be readable from the state file.
    public func seal(_ text: String) -> String {
        let box = try! AES.GCM.seal(Data(text.utf8), using: sealingKey)  // only fails for a bad nonce size; the default is right
        return Self.sealedPrefix + box.combined!.base64EncodedString()
    }

    /// The text of a sealed value (a value not sealed comes back as it is); nil when this key does not open it.
    public func unseal(_ text: String) -> String? {
        guard Self.isSealed(text) else { return text }
        guard let data = Data(base64Encoded: String(text.dropFirst(Self.sealedPrefix.count))),
            let box = try? AES.GCM.SealedBox(combined: data)
        else { return nil }
        for key in [bytes] + fallbacks {
            if let clear = try? AES.GCM.open(box, using: Self.sealingKey(key)) { return String(decoding: clear, as: UTF8.self) }
        }
        return nil
    }

    public static func isSealed(_ text: String) -> Bool { text.hasPrefix(sealedPrefix) }

    /// A key of its own for sealing, derived from the state key, so the HMACs and the ciphertexts never share one.
    private var sealingKey: SymmetricKey { Self.sealingKey(bytes) }

    private static func sealingKey(_ bytes: [UInt8]) -> SymmetricKey {
        SymmetricKey(data: SHA256.hash(data: Data(bytes + Array("mlinfra-seal".utf8))))
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}
