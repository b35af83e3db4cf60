import CaptureStorage
import DriftMonitor
import EnginePostgres
import Foundation
import ServiceLifecycle

/// The monitors' cron scheduler as an agent service: over the data directory's monitors, or on a
/// serving host over the monitors in the database the agents share (each due time then runs on
/// one agent; see `MonitorStore.exclusively`). A store that cannot be opened is reported once and
/// the service then waits for shutdown instead of taking the agent down.
public struct MonitorSchedulerService: Service {
    public let directory: String
    public let shared: Shared?

    /// Where a serving host's monitors and the captured traffic they read are.
    public struct Shared: Sendable {
        public var database: PostgresURL
        /// The control store's schema, where `monitor` resources with `control: { postgres: … }` are stored.
        public var schema: String
        public var capture: PostgresURL
        public var captureSchema: String

        public init(database: PostgresURL, schema: String, capture: PostgresURL, captureSchema: String) {
            self.database = database
            self.schema = schema
            self.capture = capture
            self.captureSchema = captureSchema
        }
    }

    public init(directory: String, shared: Shared? = nil) {
        self.directory = directory
        self.shared = shared
    }

    func engine() throws -> DriftMonitorEngine {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let shared else { return try DriftMonitorEngine(dataDirectory: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/monitoring", withIntermediateDirectories: true)
        return DriftMonitorEngine(store: try PostgresMonitorStore(url: shared.database, schema: shared.schema), dataDirectory: directory,
                                  opened: try PostgresCaptureStore(url: shared.capture, schema: shared.captureSchema))
    }

    public func run() async throws {
        let scheduler: MonitorScheduler
        do {
            scheduler = MonitorScheduler(engine: try engine())
        } catch {
            FileHandle.standardError.write(Data("mlinfra agent: monitors are not scheduled: \(error)\n".utf8))
            try? await gracefulShutdown()
            return
        }
        do {
            try await scheduler.run()
        } catch is CancellationError {
            // The agent's graceful shutdown cancels the scheduler's sleep: a normal stop, not an error.
        }
    }
}

/// What monitoring still has in a data directory, for `destroy` to say what it leaves.
public enum MonitoringLeftovers {
    /// Monitors the monitoring store still holds; the agent's scheduler runs them.
    public static func monitorCount(dataDirectory: URL) -> Int {
        let database = dataDirectory.appendingPathComponent("monitoring/monitoring.sqlite").path
        guard FileManager.default.fileExists(atPath: database) else { return 0 }
        return (try? DriftMonitorEngine(dataDirectory: dataDirectory.path).store.monitors().count) ?? 0
    }
}
