import Foundation
@testable import MLInfraCore
import MLInfraCoreTesting
import Testing

extension EncryptionSamples {
    static func read(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }
}

@Suite struct StateEncryptionTests {
    typealias S = EncryptionSamples

    // MARK: the envelope

    @Test func sealedBytesOpenAndHoldNoPlaintext() throws {
        let e = S.encryption()
        let plain = StateCodec.encode(S.state())
        let sealed = e.sealWhole(plain, kind: .state, scope: "")
        #expect(StateEncryption.isEncrypted(sealed))
        #expect(S.plaintextFound(sealed).isEmpty)
        #expect(try e.open(sealed, kind: .state, scope: "", location: "s") == plain)
        #expect(StateEncryption.keyID(of: sealed) == e.primary!.keyID)
    }

    @Test func everyFlippedByteOfAnEnvelopeIsRefused() throws {
        let e = S.encryption()
        let sealed = e.sealWhole(StateCodec.encode(S.state()), kind: .state, scope: "")
        for i in sealed.indices {
            var damaged = sealed
            damaged[i] ^= 0x01
            // A flip in the magic makes it no envelope at all: then the state reader refuses it.
            #expect(throws: StateError.self, "byte \(i) flipped was read") {
                _ = try StateCodec.decode(e.open(damaged, kind: .state, scope: "", location: "s"), path: "s")
            }
        }
    }

    @Test func aChangedPayloadFailsAuthenticationNamingTheFileAndTheFix() throws {
        let e = S.encryption()
        var sealed = e.sealWhole(StateCodec.encode(S.state()), kind: .state, scope: "")
        let k = sealed.count / 2
        sealed[k] = sealed[k] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let error = #expect(throws: StateError.self) { try e.open(sealed, kind: .state, scope: "", location: "state/prod.json") }
        #expect(error?.code == .encryption)
        let text = error?.description ?? ""
        for part in ["state/prod.json", "failed authentication", "tampered", "backup"] { #expect(text.contains(part), "\(part) missing: \(text)") }
        #expect(!text.contains(S.keyA))
    }

    @Test func anEnvelopeOfAnotherScopeOrKindIsRefused() throws {
        let e = S.encryption()
        let sealed = e.sealWhole(Array("{}".utf8), kind: .state, scope: "postgres fraud/prod")
        let swapped = #expect(throws: StateError.self) { try e.open(sealed, kind: .state, scope: "postgres fraud/staging", location: "row") }
        #expect(swapped?.description.contains("failed authentication") == true)
        let kind = #expect(throws: StateError.self) { try e.open(sealed, kind: .plan, scope: "postgres fraud/prod", location: "p") }
        #expect(kind?.description.contains("encrypted state, not a plan file") == true)
    }

    @Test func anotherKeySaysWhichKeyIsMissingAndHowToFixIt() throws {
        let sealed = S.encryption(S.keyA).sealWhole(Array("{}".utf8), kind: .state, scope: "")
        let idA = S.encryption(S.keyA).primary!.keyID
        let error = #expect(throws: StateError.self) { try S.encryption(S.keyB).open(sealed, kind: .state, scope: "", location: "s") }
        let text = error?.description ?? ""
        #expect(text.contains("key id \(idA)"))
        #expect(text.contains("MLINFRA_STATE_KEY_FALLBACK"))
        #expect(!text.contains(S.keyA) && !text.contains(S.keyB))
        let none = #expect(throws: StateError.self) { try StateEncryption.none.open(sealed, kind: .state, scope: "", location: "s") }
        #expect(none?.description.contains("no encryption key is configured") == true)
        // With the old key as a fallback it opens.
        #expect(try S.encryption(S.keyB, fallback: S.keyA).open(sealed, kind: .state, scope: "", location: "s") == Array("{}".utf8))
    }

    @Test func aPassphraseKeyOpensWhatItSealedInAnotherProcess() throws {
        let writer = StateEncryption(mode: .on, primary: EncryptionKey(passphrase: "correct horse battery", source: "P", rounds: 1000))
        let sealed = writer.seal(Array("hello".utf8), kind: .journal, scope: "")
        #expect(String(decoding: sealed, as: UTF8.self).contains("pbkdf2-sha256.1000."))
        // Another process: another salt for its own writes, the envelope's salt for reading.
        let reader = StateEncryption(mode: .on, primary: EncryptionKey(passphrase: "correct horse battery", source: "P", rounds: 1000))
        #expect(reader.primary!.keyID != writer.primary!.keyID)
        #expect(try reader.open(sealed, kind: .journal, scope: "", location: "j") == Array("hello".utf8))
        let wrong = StateEncryption(mode: .on, primary: EncryptionKey(passphrase: "wrong horse", source: "P", rounds: 1000))
        #expect(throws: StateError.self) { try wrong.open(sealed, kind: .journal, scope: "", location: "j") }
    }

    @Test func enforcedModeRefusesUnencryptedBytesUnlessMigrating() throws {
        var e = S.encryption(mode: .enforced)
        let error = #expect(throws: StateError.self) { try e.open(Array("{}".utf8), kind: .state, scope: "", location: "s") }
        #expect(error?.description.contains("state rekey --allow-unencrypted") == true)
        e.acceptsUnencrypted = true
        #expect(try e.open(Array("{}".utf8), kind: .state, scope: "", location: "s") == Array("{}".utf8))
        #expect(try S.encryption(mode: .on).open(Array("{}".utf8), kind: .state, scope: "", location: "s") == Array("{}".utf8))
    }

    @Test func aRotatedStateKeyStillOpensIdsSealedUnderTheFallback() {
        let old = StateKey(bytes: Array(S.keyA.utf8))
        let sealed = old.seal("main/secret-id")
        let rotated = StateKey(bytes: Array(S.keyB.utf8)).withFallback(from: ["MLINFRA_STATE_KEY_FALLBACK": S.keyA])
        #expect(rotated.unseal(sealed) == "main/secret-id")
        #expect(StateKey(bytes: Array(S.keyB.utf8)).unseal(sealed) == nil)
        #expect(rotated.unseal(rotated.seal("x")) == "x")
        #expect(rotated.mac("v") == StateKey(bytes: Array(S.keyB.utf8)).mac("v"), "the fallback changed the HMACs")
    }

    // MARK: configuration

    @Test func postgresEncryptsByDefaultAndALocalFileOnRequest() throws {
        let pg = StateBackend.postgres(PostgresBackendSettings(url: "postgres://x@h/db", project: "p"))
        #expect(try StateEncryption.load(for: pg, environment: ["MLINFRA_STATE_KEY": S.keyA]).mode == .on)
        #expect(try StateEncryption.load(for: pg, environment: ["MLINFRA_STATE_KEY": S.keyA, "MLINFRA_STATE_ENCRYPTION": "off"]).encrypts == false)
        #expect(throws: StateError.self) { try StateEncryption.load(for: pg, environment: [:]) }
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let local = StateBackend.local(path: dir.path + "/s.json")
        #expect(try StateEncryption.load(for: local, environment: [:]).encrypts == false)
        let fromFile = try StateEncryption.load(for: local, environment: ["MLINFRA_STATE_ENCRYPTION": "enforced"])
        #expect(fromFile.mode == .enforced && fromFile.primary?.source.contains(".mlinfra-keys") == true)
        // The key file's key is the one the HMACs use, through a derived subkey, not itself.
        #expect(fromFile.primary?.keyID == EncryptionKey(key: try StateKey.load(forState: dir.path + "/s.json", environment: [:]).bytes, source: "").keyID)
        #expect(try StateEncryption.load(for: local, environment: ["MLINFRA_STATE_PASSPHRASE": "a long passphrase"]).encrypts)
    }

    @Test func badSettingsAreRefusedWithoutQuotingTheKey() throws {
        let local = StateBackend.local(path: "/tmp/never-made/s.json")
        let mode = #expect(throws: StateError.self) { try StateEncryption.load(for: local, environment: ["MLINFRA_STATE_ENCRYPTION": "yes"]) }
        #expect(mode?.description.contains("off, on or enforced") == true)
        let short = #expect(throws: StateError.self) {
            try StateEncryption.load(for: local, environment: ["MLINFRA_STATE_KEY": "hunter2", "MLINFRA_STATE_ENCRYPTION": "on"])
        }
        #expect(short?.description.contains("at least 16") == true)
        #expect(short?.description.contains("hunter2") == false)
    }

    // MARK: the local store

    @Test func keysMayBeFilesAsCISecretsAreMounted() throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let pg = StateBackend.postgres(PostgresBackendSettings(url: "postgres://x@h/db", project: "p"))
        try (S.keyA + "\n").write(toFile: dir.path + "/key", atomically: true, encoding: .utf8)
        try (S.keyB + "\n").write(toFile: dir.path + "/old", atomically: true, encoding: .utf8)
        let fromFiles = try StateEncryption.load(
            for: pg, environment: ["MLINFRA_STATE_KEY_FILE": dir.path + "/key", "MLINFRA_STATE_KEY_FALLBACK_FILE": dir.path + "/old"])
        // The file's key (newline dropped) is the variable's key: same key id, and it opens what the variable's key sealed.
        #expect(fromFiles.primary?.keyID == S.encryption(S.keyA).primary?.keyID)
        let sealedUnderOld = S.encryption(S.keyB).seal(Array("v".utf8), kind: .state, scope: "")
        #expect(try fromFiles.open(sealedUnderOld, kind: .state, scope: "", location: "row") == Array("v".utf8))
        // The HMAC key follows the same file.
        #expect(try StateKey.load(for: pg, environment: ["MLINFRA_STATE_KEY_FILE": dir.path + "/key"]).mac("v")
            == StateKey(bytes: Array(S.keyA.utf8)).mac("v"))

        let both = #expect(throws: StateError.self) {
            try StateEncryption.load(for: pg, environment: ["MLINFRA_STATE_KEY": S.keyA, "MLINFRA_STATE_KEY_FILE": dir.path + "/key"])
        }
        #expect(both?.description.contains("both MLINFRA_STATE_KEY and MLINFRA_STATE_KEY_FILE") == true)
        let missing = #expect(throws: StateError.self) {
            try StateEncryption.fromEnvironment(["MLINFRA_STATE_KEY_FILE": dir.path + "/absent"])
        }
        #expect(missing?.description.contains("cannot be read") == true)
        try "\n".write(toFile: dir.path + "/empty", atomically: true, encoding: .utf8)
        #expect(throws: StateError.self) { try StateEncryption.fromEnvironment(["MLINFRA_STATE_PASSPHRASE_FILE": dir.path + "/empty"]) }
    }

    @Test func stateBackupAndJournalOnDiskHoldNoPlaintext() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let store = LocalStateStore(path: path, encryption: S.encryption())
        var s = S.state()
        s.serial = try await store.write(s)
        s.serial = try await store.write(s)
        try await store.beginJournal(base: s)
        try await store.append(.upsert(S.marked("endpoint.journaled")))
        for file in [path, path + ".backup", path + ".journal"] {
            let bytes = S.read(file)
            #expect(bytes != nil, "\(file) is missing")
            #expect(S.plaintextFound(bytes).isEmpty, "\(file) holds \(S.plaintextFound(bytes))")
            #expect(!String(decoding: bytes ?? [], as: UTF8.self).contains("endpoint.journaled"))
        }
        // A new process recovers the encrypted journal.
        let recovered = try await LocalStateStore(path: path, encryption: S.encryption()).read()
        #expect(recovered?.resource("endpoint.journaled")?.attributes["token_hint"] == "attr-marker-7f3a")
        #expect(StateEncryption.isEncrypted(S.read(path) ?? []))
    }

    @Test func aFlippedByteInTheStateFileIsRefusedAndTheFileKept() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let store = LocalStateStore(path: path, encryption: S.encryption())
        try await store.write(S.state())
        var bytes = S.read(path)!
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = await #expect(throws: StateError.self) { _ = try await LocalStateStore(path: path, encryption: S.encryption()).read() }
        #expect(error?.code == .encryption)
        #expect(error?.description.contains(path) == true)
        await #expect(throws: StateError.self) { try await LocalStateStore(path: path, encryption: S.encryption()).write(S.state()) }
        #expect(S.read(path) == bytes, "a refused state was overwritten")
    }

    @Test func aTamperedJournalEntryIsRefusedNotSkipped() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        var s = S.state()
        s.serial = try await LocalStateStore(path: path, encryption: S.encryption()).write(s)
        do {
            let applying = LocalStateStore(path: path, encryption: S.encryption())
            try await applying.beginJournal(base: s)
            try await applying.append(.upsert(S.marked("endpoint.one")))
            try await applying.append(.upsert(S.marked("endpoint.two")))
        }
        // Change a byte of line 2's ciphertext and give the line a matching checksum, as someone editing it would.
        var lines = String(decoding: S.read(path + ".journal")!, as: UTF8.self).split(separator: "\n").map(String.init)
        var body = Array(lines[1].dropFirst(9).utf8)
        let k = body.count - 20
        body[k] = body[k] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let crc = String(format: "%08x", CRC32.checksum(body))
        lines[1] = crc + " " + String(decoding: body, as: UTF8.self)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path + ".journal"))
        let error = await #expect(throws: StateError.self) { _ = try await LocalStateStore(path: path, encryption: S.encryption()).read() }
        #expect(error?.code == .encryption)
        #expect(error?.description.contains("\(path).journal line 2") == true)
        #expect(error?.description.contains("failed authentication") == true)
        #expect(FileManager.default.fileExists(atPath: path + ".journal"), "a refused journal was removed")
    }

    @Test func rotationKeepsTheBackupReadableAndWritesUnderTheNewKey() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        var s = S.state()
        s.serial = try await LocalStateStore(path: path, encryption: S.encryption(S.keyA)).write(s)
        let rotated = S.encryption(S.keyB, fallback: S.keyA)
        let store = LocalStateStore(path: path, encryption: rotated)
        let read = try #require(try await store.read())
        #expect(read.resource("endpoint.marked") != nil)
        try await store.write(read)
        #expect(StateEncryption.keyID(of: S.read(path)!) == rotated.primary!.keyID)
        #expect(StateEncryption.keyID(of: S.read(path + ".backup")!) == S.encryption(S.keyA).primary!.keyID)
        // The backup, under the old key, still opens with the fallback.
        let backup = try StateCodec.decode(rotated.open(S.read(path + ".backup")!, kind: .state, scope: "", location: "b"), path: "b")
        #expect(backup.serial == 1)
        // Without the fallback the old key's backup does not open, and the error says what to set.
        let error = #expect(throws: StateError.self) { try S.encryption(S.keyB).open(S.read(path + ".backup")!, kind: .state, scope: "", location: "b") }
        #expect(error?.description.contains("MLINFRA_STATE_KEY_FALLBACK") == true)
    }

    @Test func enforcedStoreRefusesAnUnencryptedStateUntilMigrated() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        var s = S.state()
        s.serial = try await LocalStateStore(path: path).write(s)
        let error = await #expect(throws: StateError.self) { _ = try await LocalStateStore(path: path, encryption: S.encryption(mode: .enforced)).read() }
        #expect(error?.description.contains("not encrypted") == true)
        var migrating = S.encryption(mode: .enforced)
        migrating.acceptsUnencrypted = true
        let migrator = LocalStateStore(path: path, encryption: migrating)
        try await migrator.write(try #require(try await migrator.read()))
        #expect(S.plaintextFound(S.read(path)).isEmpty)
        #expect(try await LocalStateStore(path: path, encryption: S.encryption(mode: .enforced)).read()?.serial == 2)
    }

    @Test(arguments: StateStoreConformance.Check.allCases)
    func encryptedLocalFileStoreConforms(_ check: StateStoreConformance.Check) async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        try await StateStoreConformance.run(check, on: .localFile(directory: dir.path + "/enc", encryption: S.encryption()))
    }
}
