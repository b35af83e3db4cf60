import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing

/// Every state store passes the same checks.
@Suite struct StateStoreConformanceTests {
    @Test(arguments: StateStoreConformance.Check.allCases)
    func inMemoryStore(_ check: StateStoreConformance.Check) async throws {
        try await StateStoreConformance.run(check, on: .inMemory())
    }

    @Test(arguments: StateStoreConformance.Check.allCases)
    func localFileStore(_ check: StateStoreConformance.Check) async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        try await StateStoreConformance.run(check, on: .localFile(directory: dir.path + "/nested/state"))
    }
}

/// A fresh directory under the system temporary directory.
struct StateTestDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "/mlinfra-state-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a blocking call (waiting for a child process, reading its pipe) on a thread of its own,
/// so it does not hold one of the few cooperative threads other tests' timers need.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
