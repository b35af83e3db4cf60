import Foundation
import Logging
import ServiceLifecycle

/// Keeps an nginx include file in step with the control store: every `pollInterval` it reads
/// the load balancers and the routers that serve their endpoints now (live hosts that report
/// ready), writes the file when its text changes and asks nginx to reload (SIGHUP to the
/// master in `pidFile`). It reports what it wrote per load balancer. Any number of writers may
/// run (one per nginx); each reports under its own name.
public struct NginxWriter: Service {
    public let control: any ControlStore
    public let name: String
    public let configFile: URL
    public let pidFile: URL
    public let pollInterval: Double
    public let logger: Logger

    public init(control: any ControlStore, name: String, configFile: URL, pidFile: URL, pollInterval: Double = 0.25, logger: Logger) {
        self.control = control
        self.name = name
        self.configFile = configFile
        self.pidFile = pidFile
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func run() async throws {
        logger.info("nginx writer \(name) keeps \(configFile.path) (nginx pid file \(pidFile.path)) from \(control.location)")
        await cancelWhenGracefulShutdown {
            var written: String? = try? String(contentsOf: configFile, encoding: .utf8)
            var reported: [String: LoadBalancerStatus] = [:]
            while !Task.isCancelled {
                do {
                    try step(written: &written, reported: &reported)
                } catch {
                    logger.error("nginx writer \(name): \(error)")
                }
                await control.waitForChange(timeout: pollInterval)
            }
        }
    }

    /// One pass: render, write and reload when changed, report.
    func step(written: inout String?, reported: inout [String: LoadBalancerStatus]) throws {
        let balancers = try control.loadBalancers()
        var rendered: [(config: LoadBalancerConfig, upstreams: [String])] = []
        for (config, _) in balancers { rendered.append((config, try control.servingRouters(of: config.endpoint))) }
        let text = NginxConfig.render(rendered)
        var problem: String?
        if text != written {
            // A new file renamed over the old one: nginx never reads half of it.
            let temporary = configFile.appendingPathExtension("tmp")
            try Data(text.utf8).write(to: temporary)
            guard rename(temporary.path, configFile.path) == 0 else {
                throw ControlStoreError(message: "cannot replace \(configFile.path): \(String(cString: strerror(errno)))",
                                        remedy: "check that the agent may write in \(configFile.deletingLastPathComponent().path)")
            }
            problem = reload()
            if problem == nil {
                written = text
                let routes = rendered.map { "\($0.config.name) → \($0.upstreams.isEmpty ? "nowhere" : $0.upstreams.sorted().joined(separator: ", "))" }
                logger.info("nginx writer \(name): \(routes.isEmpty ? "no load balancer in the control store yet" : routes.joined(separator: "; "))")
            }
        }
        let now = Date().timeIntervalSince1970
        for ((config, generation), (_, upstreams)) in zip(balancers, rendered) {
            let message = problem ?? (upstreams.isEmpty ? "no live host serves endpoint \(config.endpoint)" : nil)
            let status = LoadBalancerStatus(name: config.name, host: name, generation: generation, upstreams: upstreams.sorted(), message: message, updatedAt: now)
            var previous = reported[config.name]
            previous?.updatedAt = now
            if previous != status || now - (reported[config.name]?.updatedAt ?? 0) >= 5 {
                try control.setLoadBalancerStatus(status)
                reported[config.name] = status
            }
        }
        for name in reported.keys where !balancers.contains(where: { $0.config.name == name }) {
            try control.removeReport(.loadBalancer, name: name, host: self.name)
            reported.removeValue(forKey: name)
        }
    }

    /// Sends SIGHUP to nginx's master; nil when sent, else why not.
    func reload() -> String? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            return "nginx is not running: no pid in \(pidFile.path) (start nginx with its http block including \(configFile.path))"
        }
        guard kill(pid, SIGHUP) == 0 else { return "cannot signal nginx (pid \(pid)): \(String(cString: strerror(errno)))" }
        return nil
    }
}
