import Foundation
import MLInfraCore
import MonitoringProvider
import ServingProvider

/// After a destroy: what mlinfra leaves on this machine, and the agent stopped when nothing is
/// left for it (no endpoint to serve, no monitor to schedule in its data directory).
enum DestroyLeftovers {
    /// The lines to print; stops the agent when it is idle.
    static func settle(spec: String) -> [String] {
        guard let data = try? EngineDataDirectory.resolve(dataDir: nil, spec: spec),
            FileManager.default.fileExists(atPath: data.path)
        else { return [] }
        var lines: [String] = []
        let agent = AgentProcess(dataDirectory: data)
        let endpoints = ServingLeftovers.endpointCount(dataDirectory: data)
        let monitors = MonitoringLeftovers.monitorCount(dataDirectory: data)
        if let pid = agent.runningPID() {
            if endpoints == 0 && monitors == 0 {
                if let stopped = try? agent.stop() {
                    lines.append("Stopped the serving agent (pid \(stopped)): no endpoint or monitor is left for it.")
                } else {
                    lines.append("The serving agent (pid \(pid)) has nothing left to run; stop it with `mlinfra agent --stop`.")
                }
            } else {
                lines.append("The serving agent (pid \(pid)) keeps running for \(endpoints) endpoint(s) and \(monitors) monitor(s) "
                    + "another spec keeps in \(data.path).")
            }
        }
        lines.append("Left in place: \(data.path), the engines' files (the registry's artifacts and audit history, feature and vector "
            + "databases, logs). Delete the directory to remove them.")
        return lines
    }
}
