import Foundation
import Logging

/// The core's debug log (`MLINFRA_LOG=debug|trace`): provider calls with their timings, the
/// planner's decisions and the state store's steps, for finding out why a command did what it
/// did. Messages name addresses, actions, attribute paths and durations, never attribute values,
/// and the CLI's handler still passes every line through the workspace's redactor.
public enum DebugLog {
    public static let logger = Logger(label: "mlinfra")

    /// Milliseconds since `start`, rounded to 0.1, for a message.
    public static func milliseconds(since start: ContinuousClock.Instant) -> String {
        String(format: "%.1f ms", (ContinuousClock.now - start).seconds * 1000)
    }

    /// Runs `body`, logging at debug how long it took and whether it threw (its error is not
    /// logged: the command reports it, redacted, as a diagnostic).
    public static func timed<T>(_ what: @autoclosure () -> String, _ body: () async throws -> T) async throws -> T {
        guard logger.logLevel <= .debug else { return try await body() }
        let start = ContinuousClock.now
        do {
            let value = try await body()
            logger.debug("\(what()): \(milliseconds(since: start))")
            return value
        } catch {
            logger.debug("\(what()): failed after \(milliseconds(since: start))")
            throw error
        }
    }
}

extension Duration {
    /// The duration in seconds, as a `Double` (for timings in messages and events).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
