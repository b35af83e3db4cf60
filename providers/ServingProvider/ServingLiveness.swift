import Foundation
import ModelServing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What really serves an endpoint now, not what the agent last wrote: the control store's status
/// holds the agent's last report, which stays "ready" after the agent is killed. Refresh and
/// `mlinfra endpoints list|status` see the endpoint as down when no agent runs for the data
/// directory or its router does not answer its readiness probe.
enum ServingLiveness {
    /// Why the endpoint is not served, or nil when its agent runs and its router answers.
    static func downReason(dataDirectory: URL, status: EndpointStatus?) async -> String? {
        guard AgentProcess(dataDirectory: dataDirectory).runningPID() != nil else {
            return "no agent runs for \(dataDirectory.path)"
        }
        guard let status, status.ready else { return nil }
        guard await routerAnswers(status.url) else { return "its router at \(status.url) does not answer" }
        return nil
    }

    /// The agent's last report, corrected for a dead data plane: not ready, no replicas, and why.
    static func observed(_ status: EndpointStatus?, down reason: String?) -> EndpointStatus? {
        guard var status, let reason else { return status }
        status.ready = false
        status.message = "not served: \(reason) (last report from the agent at "
            + ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: status.updatedAt)) + ")"
        for i in status.versions.indices { status.versions[i].replicas = [] }
        return status
    }

    /// `GET URL/v2/health/ready` answers 200 within two seconds.
    static func routerAnswers(_ url: String) async -> Bool {
        guard let probe = URL(string: url + "/v2/health/ready") else { return false }
        var request = URLRequest(url: probe)
        request.timeoutInterval = 2
        guard let (_, response) = try? await URLSession.shared.data(for: request) else { return false }
        return (response as? HTTPURLResponse)?.statusCode == 200
    }
}
