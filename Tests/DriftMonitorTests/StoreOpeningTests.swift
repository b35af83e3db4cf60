import Foundation
import Testing

@testable import DriftMonitor

/// Four monitors applied in parallel open one new database at once; each store runs its own
/// connection pool, as separate processes would.
@Suite struct StoreOpeningTests {
    @Test func storesOpenedTogetherOnANewDatabaseAllSucceed() async throws {
        for _ in 0..<30 {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("drift-open-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: root) }
            let failures = await withTaskGroup(of: String?.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        await Task.detached {
                            do {
                                _ = try SQLiteMonitorStore(dataDirectory: root.path)
                                return nil
                            } catch {
                                return "\(error)"
                            }
                        }.value
                    }
                }
                return await group.reduce(into: [String]()) { if let e = $1 { $0.append(e) } }
            }
            #expect(failures.isEmpty, "\(failures)")
        }
    }
}
