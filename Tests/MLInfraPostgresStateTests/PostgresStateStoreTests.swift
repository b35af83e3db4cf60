import Foundation
import MLInfraCore
import MLInfraPostgresState
import MLInfraCoreTesting
import MLInfraTesting
import PostgresNIO
import Testing

/// What the PostgreSQL store does beyond the shared conformance checks: locks that cannot be
/// stuck and name their holder, versions, a plan applied once, and no password in any error.
@Suite struct PostgresStateStoreTests {
    @Test func locksOfOneStateInTwoSchemasOfOneDatabaseDoNotCollide() async throws {
        let a = try await PostgresFixture.make(schema: "team_a", project: "shared")
        let b = try await PostgresFixture.make(schema: "team_b", project: "shared")
        let storeA = a.store(), storeB = b.store()
        try await storeA.lock(LockInfo.make(operation: "apply"), timeout: 0)
        try await storeB.lock(LockInfo.make(operation: "apply"), timeout: 0)
        #expect(try await storeA.currentLock() != nil)
        #expect(try await storeB.currentLock() != nil)
        await storeA.close()
        await storeB.close()
        await a.close()
        await b.close()
    }

    @Test func secondWriterSeesTheHoldersDetailsAndCIRun() async throws {
        let f = try await PostgresFixture.make()
        let holderStore = f.store()
        var holder = LockInfo.make(operation: "apply")
        holder.who = "ci-bot"
        holder.host = "runner-17"
        holder.pid = 4242
        holder.ciRunURL = LockInfo.ciRunURL([
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/ml", "GITHUB_RUN_ID": "991",
        ])
        try await holderStore.lock(holder, timeout: 0)
        let error = await #expect(throws: StateError.self) {
            try await f.store().lock(LockInfo.make(operation: "apply"), timeout: 0)
        }
        let text = error?.description ?? ""
        for part in ["ci-bot@runner-17", "pid 4242", "\"apply\"", holder.id, "https://github.com/acme/ml/actions/runs/991"] {
            #expect(text.contains(part), "missing \(part) in: \(text)")
        }
        #expect(!text.contains(LockInfo.make(operation: "x").host) || LockInfo.make(operation: "x").host == "runner-17")
        await holderStore.close()
        await f.close()
    }

    @Test func aHolderWhoseSessionEndedNoLongerBlocksTheLock() async throws {
        let f = try await PostgresFixture.make()
        let crashed = f.store()
        var dead = LockInfo.make(operation: "apply")
        dead.host = "another-runner"  // not checkable by pid: only the session tells it is gone
        try await crashed.lock(dead, timeout: 0)
        await crashed.close()
        let next = f.store()
        let mine = LockInfo.make(operation: "apply")
        try await next.lock(mine, timeout: 5)
        #expect(try await next.currentLock() == mine)
        try await next.unlock(id: mine.id)
        await next.close()
        await f.close()
    }

    @Test func forceUnlockEndsTheHoldersSessionSoItCannotKeepWriting() async throws {
        let f = try await PostgresFixture.make()
        let holder = f.store()
        var state = StateStoreConformance.sampleState()
        state.serial = try await holder.write(state)
        let info = LockInfo.make(operation: "apply")
        try await holder.lock(info, timeout: 0)
        try await f.store().forceUnlock(id: info.id)
        await #expect(throws: StateError.self) { try await holder.write(state) }
        let other = f.store()
        try await other.lock(LockInfo.make(operation: "apply"), timeout: 0)
        #expect(try await other.read()?.serial == 1)
        await other.close()
        await holder.close()
        await f.close()
    }

    @Test func everyWriteIsKeptAsAVersionWithWhoWroteItAndItsPlan() async throws {
        let f = try await PostgresFixture.make()
        let store = f.store()
        store.setWriteContext(StateWriteContext(actor: "alice@laptop", operation: "state rm"))
        var s = StateStoreConformance.sampleState()
        s.serial = try await store.write(s)
        s.serial = try await store.write(s)
        store.setWriteContext(StateWriteContext(actor: "ci (CI)", operation: "apply", planID: "plan-1"))
        try await store.beginJournal(base: s)
        try await store.append(.remove(address: "model.fraud"))
        var folded = s
        folded.remove("model.fraud")
        #expect(try await store.commitJournal(folded) == 3)
        let versions = try await store.versions(limit: 10)
        #expect(versions.map(\.serial) == [3, 2, 1])
        #expect(versions.map(\.writtenBy) == ["ci (CI)", "alice@laptop", "alice@laptop"])
        #expect(versions.first?.planID == "plan-1")
        #expect(try await store.version(appliedPlan: "plan-1")?.serial == 3)
        #expect(try await store.version(appliedPlan: "plan-2") == nil)
        #expect(try await store.state(atSerial: 1)?.resource("model.fraud") != nil)

        folded.serial = 3
        try await store.beginJournal(base: folded)
        try await store.append(.upsert(StateStoreConformance.sampleResource("endpoint.again")))
        let error = await #expect(throws: StateError.self) { try await store.commitJournal(folded) }
        #expect(error?.description.contains("already applied") == true, "\(String(describing: error))")
        await store.close()
        await f.close()
    }

    @Test func retentionKeepsTheNewestVersionsOnly() async throws {
        let f = try await PostgresFixture.make()
        let store = f.store(retainVersions: 2)
        var s = StateStoreConformance.sampleState()
        for _ in 0..<4 { s.serial = try await store.write(s) }
        #expect(try await store.versions(limit: 10).map(\.serial) == [4, 3])
        await store.close()
        await f.close()
    }

    @Test func theURLsPasswordAppearsInNoError() async throws {
        let server = try await PostgresTestServer.shared()
        let secret = "pw-\(UUID().uuidString.prefix(8))"
        let urls = [
            "postgres://\(server.username):\(secret)@127.0.0.1:\(server.port)/postgres",  // wrong password
            "postgres://\(server.username):\(secret)@127.0.0.1:1/postgres",  // nothing listens
            "postgres://\(server.username):\(secret)@127.0.0.1:\(server.port)/no_such_database",
        ]
        for text in urls {
            let store = try PostgresStateStore(url: try PostgresBackendURL(parsing: text), project: "p")
            let error = await #expect(throws: StateError.self) { _ = try await store.read() }
            let shown = "\(String(describing: error)) \(String(reflecting: error)) \(store.location)"
            #expect(!shown.contains(secret), "\(shown)")
            #expect(error?.code == .backend)
            await store.close()
        }
        let bad = #expect(throws: StateError.self) { _ = try PostgresBackendURL(parsing: "mysql://u:\(secret)@h/db") }
        #expect(bad.map { !"\($0)".contains(secret) } == true)
    }

    @Test func aSchemaMigratedByANewerMlinfraIsRefused() async throws {
        let f = try await PostgresFixture.make(schema: "future_\(UUID().uuidString.prefix(6).lowercased())")
        _ = try f.rows(PostgresQuery(unsafeSQL: "INSERT INTO \(f.schema).mlinfra_migrations (version, name) VALUES (99, 'from the future')"))
        let store = f.store()
        let error = await #expect(throws: StateError.self) { _ = try await store.read() }
        #expect(error?.description.contains("newer mlinfra") == true, "\(String(describing: error))")
        await store.close()
        await f.close()
    }

    @Test func aStateWrittenBeforeMigrationTwoReadsAndItsNextWriteIsKeptOnce() async throws {
        let f = try await PostgresFixture.make()
        let store = f.store()
        var state = StateFile.new()
        state.outputs["url"] = OutputState(value: "http://old", sensitive: false)
        state.serial = try await store.write(state)
        await store.close()
        // Put the schema back as migration 1 left it: the body in the state row, no pointer, no digest.
        let s = f.schema
        for sql in [
            "UPDATE \(s).states st SET body = v.body FROM \(s).state_versions v WHERE v.id = st.version_id",
            "ALTER TABLE \(s).states DROP COLUMN version_id, DROP COLUMN digest",
            "DELETE FROM \(s).mlinfra_migrations WHERE version = 2",
        ] { _ = try f.rows(PostgresQuery(unsafeSQL: sql)) }

        let upgraded = f.store()
        let read = try #require(try await upgraded.read())
        #expect(read.serial == state.serial && read.outputs["url"]?.value == "http://old")
        state = read
        state.outputs["url"] = OutputState(value: "http://new", sensitive: false)
        let serial = try await upgraded.write(state)
        await upgraded.close()
        // The new write lives once, in its version row; the old body left the state row.
        #expect(try f.bytes("SELECT body FROM \(s).states WHERE project = '\(f.project)' AND workspace = 'default'") == nil)
        let fresh = f.store()
        #expect(try await fresh.read()?.outputs["url"]?.value == "http://new")
        #expect(try await fresh.read()?.serial == serial)
        #expect(try await fresh.state(atSerial: serial - 1)?.outputs["url"]?.value == "http://old")
        await fresh.close()
        await f.close()
    }
}
