import Foundation
import MLInfraCore
import MLInfraPostgresState
import MLInfraCoreTesting
import PostgresNIO
import Testing

/// Encryption at rest in PostgreSQL: what the rows hold, read back with a connection of the test's own.
@Suite struct PostgresStateEncryptionTests {
    typealias S = EncryptionSamples
    /// The samples' markers and the address of a journaled line.
    static let markers = EncryptionSamples.markers + ["endpoint.journaled"]

    func column(_ f: PostgresFixture, _ sql: String) throws -> [[UInt8]] {
        try f.rows(PostgresQuery(unsafeSQL: sql)).map { Array(try $0.decode(ByteBuffer.self).readableBytesView) }
    }

    func stateID(_ f: PostgresFixture, _ workspace: String = "default") -> String {
        "(SELECT id FROM \(f.schema).states WHERE project = '\(f.project)' AND workspace = '\(workspace)')"
    }

    func setBody(_ f: PostgresFixture, _ bytes: [UInt8], workspace: String = "default") throws {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: bytes))
        // Where the bytes live: the version row the state row points at.
        _ = try f.rows(PostgresQuery(
            unsafeSQL: "UPDATE \(f.schema).state_versions SET body = $1 WHERE id = (SELECT version_id FROM \(f.schema).states WHERE id = \(stateID(f, workspace)))",
            binds: binds))
    }

    @Test(arguments: StateStoreConformance.Check.allCases)
    func encryptedPostgresStoreConforms(_ check: StateStoreConformance.Check) async throws {
        try await PostgresFixture.with(encryption: S.encryption()) { try await StateStoreConformance.run(check, on: $0.fixture) }
    }

    @Test func stateVersionAndJournalRowsHoldNoPlaintext() async throws {
        let f = try await PostgresFixture.make(encryption: S.encryption())
        let store = f.store()
        var s = S.state()
        s.serial = try await store.write(s)
        s.serial = try await store.write(s)
        try await store.beginJournal(base: s)
        try await store.append(.upsert(S.marked("endpoint.journaled")))
        let rows = try column(f, f.currentBodySQL(stateID(f)))
            + column(f, "SELECT body FROM \(f.schema).state_versions WHERE state_id = \(stateID(f))")
            + column(f, "SELECT line FROM \(f.schema).state_journal WHERE state_id = \(stateID(f))")
        #expect(rows.count == 1 + 2 + 2)
        for row in rows {
            let text = String(decoding: row, as: UTF8.self)
            #expect(text.contains("mlinfra-encrypted 1 "), "a row is not encrypted")
            for marker in Self.markers { #expect(!text.contains(marker), "a row holds \(marker)") }
        }
        await store.close()
        // Another process recovers the encrypted journal rows.
        let reader = f.store()
        #expect(try await reader.read()?.resource("endpoint.journaled")?.attributes["token_hint"] == "attr-marker-7f3a")
        await reader.close()
        await f.close()
    }

    @Test func aFlippedByteInTheStateRowIsRefusedWithoutThePassword() async throws {
        let f = try await PostgresFixture.make(encryption: S.encryption())
        let store = f.store()
        try await store.write(S.state())
        var body = try #require(try column(f, f.currentBodySQL(stateID(f))).first)
        body[body.count / 2] ^= 0x01
        try setBody(f, body)
        let reader = f.store()
        let error = await #expect(throws: StateError.self) { _ = try await reader.read() }
        #expect(error?.code == .encryption)
        let text = error?.description ?? ""
        #expect(text.contains("state \(f.project)/default"))
        #expect(text.contains("state history") && text.contains("rollback"))
        if let password = URLComponents(string: f.server.url())?.password, !password.isEmpty { #expect(!text.contains(password)) }
        #expect(try column(f, f.currentBodySQL(stateID(f))).first == body, "a refused row was overwritten")
        await store.close()
        await reader.close()
        await f.close()
    }

    @Test func aTamperedJournalRowIsRefused() async throws {
        let f = try await PostgresFixture.make(encryption: S.encryption())
        var s = S.state()
        let store = f.store()
        s.serial = try await store.write(s)
        try await store.beginJournal(base: s)
        try await store.append(.upsert(S.marked("endpoint.one")))
        try await store.append(.upsert(S.marked("endpoint.two")))
        await store.close()
        // Change line 1's ciphertext and give it a matching checksum, as someone editing the row would.
        let line = try #require(try column(f, "SELECT line FROM \(f.schema).state_journal WHERE state_id = \(stateID(f)) AND seq = 1").first)
        var body = Array(line[9..<(line.count - 1)])
        let k = body.count - 20
        body[k] = body[k] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        var crc: UInt32 = 0xFFFF_FFFF
        for b in body {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        let tampered = Array((String(format: "%08x", crc ^ 0xFFFF_FFFF) + " ").utf8) + body + [0x0A]
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: tampered))
        _ = try f.rows(
            PostgresQuery(unsafeSQL: "UPDATE \(f.schema).state_journal SET line = $1 WHERE state_id = \(stateID(f)) AND seq = 1", binds: binds))
        let reader = f.store()
        let error = await #expect(throws: StateError.self) { _ = try await reader.read() }
        #expect(error?.code == .encryption)
        #expect(error?.description.contains("failed authentication") == true)
        #expect(try column(f, "SELECT line FROM \(f.schema).state_journal WHERE state_id = \(stateID(f))").count == 3, "a refused journal was removed")
        await reader.close()
        await f.close()
    }

    @Test func aRowCopiedToAnotherWorkspaceDoesNotOpenThere() async throws {
        let f = try await PostgresFixture.make(encryption: S.encryption())
        let prod = f.store(), staging = f.store(workspace: "staging")
        try await prod.write(S.state())
        try await staging.write(StateFile.new())
        let body = try #require(try column(f, f.currentBodySQL(stateID(f))).first)
        try setBody(f, body, workspace: "staging")
        let reader = f.store(workspace: "staging")
        let error = await #expect(throws: StateError.self) { _ = try await reader.read() }
        #expect(error?.description.contains("failed authentication") == true)
        for store in [prod, staging, reader] { await store.close() }
        await f.close()
    }

    @Test func rotationKeepsOldVersionsReadableAndWritesUnderTheNewKey() async throws {
        let f = try await PostgresFixture.make()
        let old = f.store(encryption: S.encryption(S.keyA))
        var s = S.state()
        s.serial = try await old.write(s)
        s.serial = try await old.write(s)
        await old.close()
        let rotated = S.encryption(S.keyB, fallback: S.keyA)
        let store = f.store(encryption: rotated)
        let current = try #require(try await store.read())
        #expect(current.serial == 2)
        let written = try await store.write(current)
        #expect(try await store.state(atSerial: 1)?.resource("endpoint.marked") != nil, "an old version under the old key is not readable")
        let keyIDs = try column(f, "SELECT body FROM \(f.schema).state_versions WHERE state_id = \(stateID(f)) ORDER BY serial")
            .map { StateEncryption.keyID(of: $0) }
        #expect(keyIDs == [S.encryption(S.keyA).primary!.keyID, S.encryption(S.keyA).primary!.keyID, rotated.primary!.keyID])
        #expect(StateEncryption.keyID(of: try column(f, f.currentBodySQL(stateID(f)))[0]) == rotated.primary!.keyID)
        await store.close()
        // Without the fallback the new state reads, an old version does not, and the error says what to set.
        let newOnly = f.store(encryption: S.encryption(S.keyB))
        #expect(try await newOnly.read()?.serial == written)
        let error = await #expect(throws: StateError.self) { _ = try await newOnly.state(atSerial: 1) }
        #expect(error?.description.contains("MLINFRA_STATE_KEY_FALLBACK") == true)
        #expect(error?.description.contains("state_versions serial 1") == true)
        await newOnly.close()
        await f.close()
    }

    @Test func enforcedModeRefusesAnUnencryptedRowUntilMigrated() async throws {
        let f = try await PostgresFixture.make()
        let plain = f.store(encryption: StateEncryption.none)
        var s = S.state()
        s.serial = try await plain.write(s)
        await plain.close()
        let enforced = f.store(encryption: S.encryption(mode: .enforced))
        let error = await #expect(throws: StateError.self) { _ = try await enforced.read() }
        #expect(error?.description.contains("--allow-unencrypted") == true)
        await enforced.close()
        var migrating = S.encryption(mode: .enforced)
        migrating.acceptsUnencrypted = true
        let migrator = f.store(encryption: migrating)
        try await migrator.write(try #require(try await migrator.read()))
        await migrator.close()
        let after = f.store(encryption: S.encryption(mode: .enforced))
        #expect(try await after.read()?.serial == 2)
        await after.close()
        await f.close()
    }
}
