import MLInfraCore
import MLInfraCoreTesting
import Testing

/// The PostgreSQL store passes the same checks as the local file and in-memory stores.
@Suite struct PostgresStateStoreConformanceTests {
    @Test(arguments: StateStoreConformance.Check.allCases)
    func postgresStore(_ check: StateStoreConformance.Check) async throws {
        try await PostgresFixture.with { try await StateStoreConformance.run(check, on: $0.fixture) }
    }
}
