import DriftMonitor
import Foundation
import ServiceLifecycle

/// The monitors' cron scheduler as an agent service; a data directory that cannot be opened
/// is reported once and the service then waits for shutdown instead of taking the agent down.
public struct MonitorSchedulerService: Service {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func run() async throws {
        let scheduler: MonitorScheduler
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            scheduler = try MonitorScheduler(directory: directory)
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
