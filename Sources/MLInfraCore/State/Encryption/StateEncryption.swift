import Crypto
import Foundation
import Synchronization
import _CryptoExtras

/// Encryption at rest of the bytes a store keeps: the state (and its backup or versions), each
/// journal line, and saved plan files. See docs/decisions/state-encryption.md.
///
/// Stores call `seal` where they write bytes and `open` where they read them; the format
/// (`StateCodec`, `StateJournal`, `PlanFile`) never sees an envelope. Each envelope is one line of
/// text, `mlinfra-encrypted 1 KIND KEY_ID KDF PAYLOAD`: AES-256-GCM under a key derived (HKDF)
/// from the configured key or passphrase, the header and the store's scope bound in as
/// associated data, so a journal line is never read as a state and a row of one workspace
/// never opens as another's. The key id names the key without revealing it, so a read picks
/// the right one of the primary and fallback keys and an error can say which key is missing.
public struct StateEncryption: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Writes unencrypted bytes; still opens encrypted ones when a key is configured (turning encryption off).
        case off
        /// Writes encrypted bytes; reads encrypted and unencrypted ones, so the next write encrypts an old state.
        case on
        /// Writes encrypted bytes; refuses unencrypted ones.
        case enforced
    }

    /// What the sealed bytes are, bound into each envelope.
    public enum Kind: String, Sendable {
        case state, journal, plan

        var noun: String {
            switch self {
            case .state: "state"
            case .journal: "journal entry"
            case .plan: "plan file"
            }
        }
    }

    public static let modeVariable = "MLINFRA_STATE_ENCRYPTION"
    public static let keyVariable = StateKey.environmentVariable
    public static let fallbackKeyVariable = "MLINFRA_STATE_KEY_FALLBACK"
    public static let passphraseVariable = "MLINFRA_STATE_PASSPHRASE"
    public static let fallbackPassphraseVariable = "MLINFRA_STATE_PASSPHRASE_FALLBACK"

    public var mode: Mode
    /// Whether unencrypted bytes are read: always unless enforced; `state rekey --allow-unencrypted` sets it to migrate.
    public var acceptsUnencrypted: Bool
    /// The key new envelopes are sealed with.
    public let primary: EncryptionKey?
    /// Keys that still open old envelopes (key rotation), never used to seal.
    public let fallbacks: [EncryptionKey]

    /// No encryption and no key: bytes pass through unchanged, encrypted ones are refused for want of a key.
    public static let none = StateEncryption(mode: .off, primary: nil)

    public init(mode: Mode, primary: EncryptionKey?, fallbacks: [EncryptionKey] = []) {
        precondition(mode == .off || primary != nil, "encryption that is on needs a primary key")
        self.mode = mode
        self.acceptsUnencrypted = mode != .enforced
        self.primary = primary
        self.fallbacks = fallbacks
    }

    public var encrypts: Bool { mode != .off && primary != nil }

    // MARK: sealing and opening

    /// `plain` sealed under the primary key (one line of text, no newline), or `plain` itself when encryption is off.
    /// `scope` names the store the bytes belong to (empty for a local file and for plan files).
    public func seal(_ plain: [UInt8], kind: Kind, scope: String) -> [UInt8] {
        guard encrypts, let key = primary else { return plain }
        let derived = key.sealing()
        let header = "\(StateEnvelope.magic) \(StateEnvelope.version) \(kind.rawValue) \(derived.id) \(derived.kdf.text)"
        let box = try! AES.GCM.seal(  // only fails for a bad nonce size; the default is right
            plain, using: SymmetricKey(data: derived.key), authenticating: StateEnvelope.associatedData(header: header, scope: scope))
        return Array((header + " ").utf8) + Array(box.combined!.base64EncodedData())
    }

    /// `plain` sealed as a file's or a row's whole contents: the envelope and a newline, or `plain` itself when encryption is off.
    public func sealWhole(_ plain: [UInt8], kind: Kind, scope: String) -> [UInt8] {
        guard encrypts else { return plain }
        return seal(plain, kind: kind, scope: scope) + [0x0A]
    }

    /// The plain bytes of `bytes`: opened when they are an envelope, passed through when they are
    /// not (unless unencrypted bytes are refused). `location` names the file or row in errors.
    public func open(_ bytes: [UInt8], kind: Kind, scope: String, location: String) throws -> [UInt8] {
        guard StateEnvelope.isEnvelope(bytes) else {
            guard acceptsUnencrypted else { throw StateEncryptionErrors.notEncrypted(kind, location: location) }
            return bytes
        }
        let envelope = try StateEnvelope.parse(bytes, kind: kind, location: location)
        let candidates = [primary].compactMap { $0 } + fallbacks
        for key in candidates {
            guard let derived = try key.derived(for: envelope.kdf), derived.id == envelope.keyID else { continue }
            guard let box = try? AES.GCM.SealedBox(combined: envelope.payload),
                let plain = try? AES.GCM.open(
                    box, using: SymmetricKey(data: derived.key),
                    authenticating: StateEnvelope.associatedData(header: envelope.header, scope: scope))
            else { throw StateEncryptionErrors.failedAuthentication(kind, keyID: envelope.keyID, location: location) }
            return Array(plain)
        }
        throw StateEncryptionErrors.noKey(kind, keyID: envelope.keyID, tried: candidates, location: location)
    }

    public static func isEncrypted(_ bytes: [UInt8]) -> Bool { StateEnvelope.isEnvelope(bytes) }

    /// The key id an envelope names, or nil when `bytes` are not one.
    public static func keyID(of bytes: [UInt8]) -> String? {
        guard StateEnvelope.isEnvelope(bytes) else { return nil }
        return try? StateEnvelope.parse(bytes, kind: nil, location: "").keyID
    }

    // MARK: configuration

    /// The encryption of a backend's state, from the environment:
    /// - `MLINFRA_STATE_ENCRYPTION` = `off` | `on` | `enforced`; by default `on` for the postgres
    ///   backend (a shared database, whose rows and backups others can read) and for a passphrase,
    ///   `off` for a local file (whose key would sit beside it, and which is meant to be read and diffed);
    /// - the key: `MLINFRA_STATE_PASSPHRASE` (PBKDF2), else `MLINFRA_STATE_KEY`, else for a local
    ///   state its key file (`.mlinfra-keys/`, the one the HMACs use), made when missing;
    /// - fallbacks for reading only: `MLINFRA_STATE_KEY_FALLBACK`, `MLINFRA_STATE_PASSPHRASE_FALLBACK`;
    /// - each of `MLINFRA_STATE_KEY`, `…_KEY_FALLBACK` and `…_PASSPHRASE` may instead be given as a file, by
    ///   its `_FILE` twin (`KeyFiles`).
    public static func load(for backend: StateBackend, environment: [String: String]) throws -> StateEncryption {
        let environment = try KeyFiles.resolve(environment)
        let (primary, fallbacks) = try environmentKeys(environment)
        let isPostgres: Bool
        if case .postgres = backend { isPostgres = true } else { isPostgres = false }
        let mode = try mode(environment, default: isPostgres || environment[passphraseVariable]?.isEmpty == false ? .on : .off)
        var key = primary
        if key == nil, case .local(let path) = backend, mode != .off || PosixFiles.exists(StateKey.keyFilePath(forState: path)) {
            let fileKey = try StateKey.load(forState: path, environment: [:])
            key = EncryptionKey(key: fileKey.bytes, source: "the key file \(StateKey.keyFilePath(forState: path))")
        }
        guard mode == .off || key != nil else {
            throw StateError(
                .encryption,
                "state encryption is \(mode.rawValue) (\(environment[modeVariable] == nil ? "the default for the postgres backend" : modeVariable)), but no key is set",
                path: keyVariable,
                remedy: "set \(keyVariable) to the same secret on every machine that plans or applies (`openssl rand -hex 32` makes one), "
                    + "or \(passphraseVariable); or set \(modeVariable)=off to keep the state unencrypted")
        }
        return StateEncryption(mode: mode, primary: mode == .off && key == nil ? nil : key, fallbacks: fallbacks)
    }

    /// The encryption the environment alone configures (no key file): for a saved plan read before its workspace is known.
    public static func fromEnvironment(_ environment: [String: String]) throws -> StateEncryption {
        let environment = try KeyFiles.resolve(environment)
        let (primary, fallbacks) = try environmentKeys(environment)
        let mode = try mode(environment, default: primary == nil ? .off : .on)
        guard mode == .off || primary != nil else {
            return StateEncryption(mode: .off, primary: nil, fallbacks: fallbacks).enforcing(mode == .enforced)
        }
        return StateEncryption(mode: mode, primary: primary, fallbacks: fallbacks)
    }

    /// The same keys, refusing unencrypted bytes when `refuse` is true.
    func enforcing(_ refuse: Bool) -> StateEncryption {
        var copy = self
        if refuse { copy.acceptsUnencrypted = false }
        return copy
    }

    /// These keys, opening `extra` keys too (a saved plan's workspace key beside the environment's).
    public func adding(fallbacks extra: [EncryptionKey]) -> StateEncryption {
        var copy = StateEncryption(mode: mode, primary: primary, fallbacks: fallbacks + extra.filter { e in !fallbacks.contains { $0 === e } })
        copy.acceptsUnencrypted = acceptsUnencrypted
        return copy
    }

    static func mode(_ environment: [String: String], default fallback: Mode) throws -> Mode {
        guard let text = environment[modeVariable], !text.isEmpty else { return fallback }
        guard let mode = Mode(rawValue: text.lowercased()) else {
            throw StateError(
                .encryption, "\(modeVariable) is `\(text)`, which is not a state encryption mode", path: modeVariable,
                remedy: "set it to off, on or enforced (or leave it unset: on for postgres, off for a local file)")
        }
        return mode
    }

    static func environmentKeys(_ environment: [String: String]) throws -> (EncryptionKey?, [EncryptionKey]) {
        func key(_ name: String) throws -> EncryptionKey? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard text.utf8.count >= 16 else {
                throw StateError(
                    .encryption, "\(name) is \(text.utf8.count) characters long; a state encryption key needs at least 16", path: name,
                    remedy: "use a random key (`openssl rand -hex 32` makes one), or give a passphrase in \(passphraseVariable) instead")
            }
            return EncryptionKey(key: Array(text.utf8), source: name)
        }
        func passphrase(_ name: String) -> EncryptionKey? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            return EncryptionKey(passphrase: text, source: name)
        }
        let primary = try passphrase(passphraseVariable) ?? key(keyVariable)
        var fallbacks = [try key(fallbackKeyVariable), passphrase(fallbackPassphraseVariable)].compactMap { $0 }
        // With a passphrase as the primary, the state key still opens what it sealed before.
        if environment[passphraseVariable]?.isEmpty == false, let stateKey = try key(keyVariable) { fallbacks.append(stateKey) }
        return (primary, fallbacks)
    }
}

/// A key that seals and opens envelopes: raw key material (from `MLINFRA_STATE_KEY` or a key
/// file), or a passphrase stretched with PBKDF2-SHA256 under a salt kept in each envelope.
///
/// Its description names where it came from and its key id, never the key.
public final class EncryptionKey: Sendable, CustomStringConvertible {
    /// PBKDF2-HMAC-SHA256 rounds for new envelopes (OWASP's 2023 figure); an envelope records its own.
    public static let passphraseRounds = 600_000

    enum Material: Sendable {
        case key([UInt8])
        case passphrase([UInt8], rounds: Int, salt: [UInt8])
    }

    struct Derived: Sendable {
        var key: [UInt8]
        var id: String
        var kdf: StateEnvelope.KDF
    }

    let material: Material
    /// Where the key came from, for messages: a variable's name or a key file's path.
    public let source: String
    /// The key new envelopes are sealed with (for a passphrase: under this process's salt).
    private let sealingKey: Derived
    /// Passphrase keys derived for other envelopes' salts, so each salt costs one PBKDF2 per process.
    private let cache = SaltCache()

    public init(key bytes: [UInt8], source: String) {
        material = .key(bytes)
        self.source = source
        sealingKey = Self.derive(master: bytes, kdf: .key)
    }

    /// A passphrase key; `rounds` below the default are for tests only.
    public init(passphrase: String, source: String, rounds: Int = EncryptionKey.passphraseRounds) {
        let salt = StateKey.randomBytes(16)
        let bytes = Array(passphrase.utf8)
        material = .passphrase(bytes, rounds: rounds, salt: salt)
        self.source = source
        let kdf = StateEnvelope.KDF.pbkdf2(rounds: rounds, salt: salt)
        sealingKey = Self.derive(master: Self.stretch(bytes, rounds: rounds, salt: salt), kdf: kdf)
        cache.put(kdf.text, sealingKey)
    }

    /// The id of the key new envelopes are sealed with.
    public var keyID: String { sealingKey.id }

    public var description: String { "\(source) (key id \(keyID))" }

    func sealing() -> Derived { sealingKey }

    /// The key for an envelope derived with `kdf`, or nil when this key cannot be of that kind.
    func derived(for kdf: StateEnvelope.KDF) throws -> Derived? {
        switch (material, kdf) {
        case (.key, .key): return sealingKey
        case (.passphrase(let bytes, _, _), .pbkdf2(let rounds, let salt)):
            if let known = cache.get(kdf.text) { return known }
            let derived = Self.derive(master: Self.stretch(bytes, rounds: rounds, salt: salt), kdf: kdf)
            cache.put(kdf.text, derived)
            return derived
        default: return nil
        }
    }

    /// The AES key and the key id, both derived (HKDF-SHA256) from the master key with their own
    /// labels, so neither is the master itself (which, for `MLINFRA_STATE_KEY`, also keys the HMACs).
    static func derive(master: [UInt8], kdf: StateEnvelope.KDF) -> Derived {
        let ikm = SymmetricKey(data: master)
        let salt = Array("mlinfra-state-encryption".utf8)
        let aes = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Array("aes-256-gcm v1".utf8), outputByteCount: 32)
        let id = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Array("key id v1".utf8), outputByteCount: 8)
        return Derived(
            key: aes.withUnsafeBytes { Array($0) }, id: id.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }, kdf: kdf)
    }

    static func stretch(_ passphrase: [UInt8], rounds: Int, salt: [UInt8]) -> [UInt8] {
        // Only fails for an output size BoringSSL refuses; 32 bytes is fine.
        let key = try! KDF.Insecure.PBKDF2.deriveKey(
            from: passphrase, salt: salt, using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }
}

/// Derived passphrase keys by KDF text (salt and rounds).
private final class SaltCache: Sendable {
    private let keys = Mutex<[String: EncryptionKey.Derived]>([:])
    func get(_ kdf: String) -> EncryptionKey.Derived? { keys.withLock { $0[kdf] } }
    func put(_ kdf: String, _ derived: EncryptionKey.Derived) { keys.withLock { $0[kdf] = derived } }
}

/// The envelope's text: `mlinfra-encrypted 1 KIND KEY_ID KDF PAYLOAD`, PAYLOAD being the base64
/// of the AES-GCM nonce, ciphertext and tag.
enum StateEnvelope {
    static let magic = "mlinfra-encrypted"
    static let version = 1
    private static let prefix = Array((magic + " ").utf8)

    enum KDF: Sendable, Hashable {
        /// HKDF of raw key material.
        case key
        /// PBKDF2-HMAC-SHA256 of a passphrase, then HKDF.
        case pbkdf2(rounds: Int, salt: [UInt8])

        var text: String {
            switch self {
            case .key: "key"
            case .pbkdf2(let rounds, let salt): "pbkdf2-sha256.\(rounds).\(Data(salt).base64EncodedString())"
            }
        }

        init?(_ text: Substring) {
            if text == "key" {
                self = .key
                return
            }
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]), (1...10_000_000).contains(rounds),
                let salt = Data(base64Encoded: String(parts[2])), !salt.isEmpty
            else { return nil }
            self = .pbkdf2(rounds: rounds, salt: Array(salt))
        }
    }

    struct Parsed {
        var header: String
        var kind: String
        var keyID: String
        var kdf: KDF
        var payload: Data
    }

    static func isEnvelope(_ bytes: [UInt8]) -> Bool { bytes.starts(with: prefix) }

    /// The associated data: the header (version, kind, key id, KDF) and the store's scope.
    static func associatedData(header: String, scope: String) -> [UInt8] { Array((header + "\n" + scope).utf8) }

    /// Reads an envelope; the header is split as text, the (large) payload stays bytes.
    static func parse(_ bytes: [UInt8], kind: StateEncryption.Kind?, location: String) throws -> Parsed {
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D) { end -= 1 }
        var spaces: [Int] = []
        var k = 0
        while k < end && spaces.count < 5 {
            if bytes[k] == 0x20 { spaces.append(k) }
            k += 1
        }
        let payloadBytes = spaces.count == 5 ? bytes[(spaces[4] + 1)..<end] : []
        var fields = (spaces.count == 5 ? String(decoding: bytes[..<spaces[4]], as: UTF8.self) : String(decoding: bytes[..<end], as: UTF8.self))
            .split(separator: " ", omittingEmptySubsequences: false)
        if spaces.count == 5 { fields.append("") }
        func damaged(_ what: String) -> StateError {
            StateError(
                .encryption, "the encrypted \(kind?.noun ?? "data") is damaged: \(what); it was not read and was left unchanged",
                path: location, remedy: StateEncryptionErrors.restoreRemedy(kind ?? .state))
        }
        guard fields.count == 6 else { throw damaged("its envelope has \(fields.count) fields, not 6") }
        guard fields[1] == "\(version)" else {
            throw StateError(
                .newerVersion, "the \(kind?.noun ?? "data") is encrypted with envelope version \(fields[1]), which this mlinfra cannot read",
                path: location, remedy: "use the newer mlinfra that wrote it")
        }
        if let kind, fields[2] != kind.rawValue {
            throw StateError(
                .encryption, "this holds an encrypted \(fields[2]), not a \(kind.noun); it was not read", path: location,
                remedy: "check that the path points at the right file")
        }
        guard let kdf = KDF(fields[4]) else { throw damaged("its key derivation `\(fields[4])` is not one mlinfra writes") }
        // Only the canonical base64 is read, so no changed character decodes to the same bytes.
        let encoded = Data(payloadBytes)
        guard payloadBytes.firstIndex(of: 0x20) == nil else { throw damaged("its envelope has more than 6 fields") }
        guard let payload = Data(base64Encoded: encoded), payload.count >= 28, payload.base64EncodedData() == encoded else {
            throw damaged("its payload is not the base64 mlinfra writes")
        }
        let header = fields[0..<5].joined(separator: " ")
        return Parsed(header: header, kind: String(fields[2]), keyID: String(fields[3]), kdf: kdf, payload: payload)
    }
}

/// The errors of opening an envelope; none ever quotes a key or a passphrase.
enum StateEncryptionErrors {
    static func restoreRemedy(_ kind: StateEncryption.Kind) -> String {
        switch kind {
        case .plan: "make the plan again with `mlinfra plan --out FILE`"
        case .journal: "move the journal away to discard its operations (or restore it), then run `mlinfra plan` to see what differs"
        case .state:
            "restore the previous state: for a local file its `.backup` (`cp STATE.backup STATE`), for postgres "
                + "`mlinfra state history` and `mlinfra state rollback SERIAL`; never edit encrypted state by hand"
        }
    }

    static func notEncrypted(_ kind: StateEncryption.Kind, location: String) -> StateError {
        let remedy = kind == .plan
            ? "make the plan again with `mlinfra plan --out FILE` (plan files are encrypted while encryption is on)"
            : "if this is the state from before encryption was turned on, encrypt it once with "
                + "`mlinfra state rekey --allow-unencrypted`; otherwise find out what wrote unencrypted state here"
        return StateError(
            .encryption,
            "the \(kind.noun) is not encrypted, and \(StateEncryption.modeVariable)=enforced refuses unencrypted \(kind.noun)s; it was not read",
            path: location, remedy: remedy)
    }

    static func failedAuthentication(_ kind: StateEncryption.Kind, keyID: String, location: String) -> StateError {
        StateError(
            .encryption,
            "the encrypted \(kind.noun) failed authentication with key id \(keyID): it was changed after it was written "
                + "(tampered with or damaged), or belongs to another state; it was not read and was left unchanged",
            path: location, remedy: restoreRemedy(kind))
    }

    static func noKey(_ kind: StateEncryption.Kind, keyID: String, tried: [EncryptionKey], location: String) -> StateError {
        guard !tried.isEmpty else {
            return StateError(
                .encryption, "the \(kind.noun) is encrypted with key id \(keyID), and no encryption key is configured", path: location,
                remedy: "set \(StateEncryption.keyVariable) (or \(StateEncryption.passphraseVariable)) to the key it was encrypted with")
        }
        return StateError(
            .encryption,
            "the \(kind.noun) was encrypted with key id \(keyID), which is none of the configured keys ("
                + tried.map(\.description).joined(separator: ", ") + ")",
            path: location,
            remedy: "set \(StateEncryption.fallbackKeyVariable) to the key it was encrypted with (\(StateEncryption.fallbackPassphraseVariable) "
                + "for a passphrase); the next write, or `mlinfra state rekey`, encrypts it under the primary key")
    }
}
