import Foundation
import Synchronization

/// A server that a test process's suites share: started on first use, stopped when the process exits.
final class SharedTestServer: Sendable {
    private let task = Mutex<Task<PostgresTestServer, any Error>?>(nil)
    private static let all = Mutex<[SharedTestServer]>([])

    /// The server, started by `start` on the first call.
    func server(_ start: @escaping @Sendable () async throws -> PostgresTestServer) async throws -> PostgresTestServer {
        let running = task.withLock { task in
            if let task { return task }
            let started = Task { try await start() }
            task = started
            return started
        }
        Self.register(self)
        return try await running.value
    }

    private static func register(_ shared: SharedTestServer) {
        let first = all.withLock { list -> Bool in
            guard !list.contains(where: { $0 === shared }) else { return false }
            list.append(shared)
            return list.count == 1
        }
        if first { atexit { SharedTestServer.stopAll() } }
    }

    /// At exit: stops every shared server that started, waiting up to 30 seconds.
    private static func stopAll() {
        let tasks = all.withLock { $0 }.compactMap { shared in shared.task.withLock { $0 } }
        let semaphore = DispatchSemaphore(value: 0)
        Thread {
            Task {
                for task in tasks { if let server = try? await task.value { server.stop() } }
                semaphore.signal()
            }
        }.start()
        _ = semaphore.wait(timeout: .now() + 30)
    }
}
