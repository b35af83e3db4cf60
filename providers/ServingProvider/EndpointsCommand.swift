import ArgumentParser
import Foundation
import MLInfraCore
import Hummingbird
import Logging
import ModelServing
import ServiceLifecycle
import ServerCommands

/// `mlinfra endpoints`: look at the endpoints the agent serves.
public struct EndpointsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "endpoints",
        abstract: "Show model-serving endpoints: replicas, versions, traffic and autoscaler decisions.",
        subcommands: [List.self, Status.self, Replica.self]
    )

    public init() {}

    public enum Format: String, ExpressibleByArgument, Sendable {
        case human, json
    }

    public struct Common: ParsableArguments {
        @OptionGroup public var location: EngineDirectoryOptions
        @Option(name: .long, help: "human or json.")
        public var format: Format = .human
        public init() {}

        var store: SQLiteControlStore {
            get throws {
                try SQLiteControlStore(directory: location.directory.appendingPathComponent("serving"))
            }
        }

        /// The agent's last report on `name`, corrected when nothing serves it now (`ServingLiveness`).
        func observedStatus(_ store: any ControlStore, _ name: String) async throws -> EndpointStatus? {
            let reported = try store.status(name)
            let dataDirectory = location.directory
            return ServingLiveness.observed(reported, down: await ServingLiveness.downReason(dataDirectory: dataDirectory, status: reported))
        }
    }

    /// `mlinfra endpoints list`
    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "list", abstract: "List the endpoints and whether they are ready.")
        @OptionGroup public var common: Common
        public init() {}

        public func run() async throws {
            let store = try common.store
            let endpoints = try store.endpoints()
            if common.format == .json {
                var rows: [[String: Any]] = []
                for e in endpoints {
                    let status = try await common.observedStatus(store, e.config.name)
                    rows.append(["name": e.config.name, "url": e.config.url, "model": e.config.model, "ready": status?.ready ?? false,
                                 "served_version": status?.servedVersion ?? NSNull(), "ready_replicas": status?.readyReplicas ?? 0])
                }
                print(String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]), as: UTF8.self))
                return
            }
            if endpoints.isEmpty {
                print("no endpoints")
                return
            }
            for e in endpoints {
                let status = try await common.observedStatus(store, e.config.name)
                let state = status.map { $0.ready ? "ready" : ($0.message?.hasPrefix("not served") == true ? "not served" : "not ready") } ?? "no agent status"
                print("\(e.config.name)\t\(e.config.url)\t\(status?.servedVersion ?? e.config.model)\t\(status?.readyReplicas ?? 0) replicas\t\(state)")
            }
        }
    }

    /// `mlinfra endpoints status NAME`
    public struct Status: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "status", abstract: "Show an endpoint's replicas, versions, traffic and recent autoscaler decisions.")
        @Argument(help: "The endpoint's name.") public var name: String
        @Option(name: .long, help: "How many recent autoscaler decisions to show.") public var decisions: Int = 10
        @OptionGroup public var common: Common
        public init() {}

        public func run() async throws {
            let store = try common.store
            guard let desired = try store.endpoint(name) else {
                let known = try store.endpoints().map(\.config.name)
                throw CommandFailure("no endpoint \"\(name)\"" + (known.isEmpty ? "; none is applied yet" : "; known: \(known.joined(separator: ", "))"))
            }
            let status = try await common.observedStatus(store, name)
            let recent = try store.decisions(endpoint: name, limit: decisions)
            print(EndpointStatusView.render(config: desired.config, generation: desired.generation, status: status, decisions: recent,
                                            json: common.format == .json))
        }
    }

    /// `mlinfra endpoints replica …`: one replica worker (started by the agent, not by hand).
    public struct Replica: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "replica", abstract: "Serve one model version on a loopback port (internal: the agent starts these).",
            shouldDisplay: false)
        @Option(name: .long) public var endpoint: String
        @Option(name: .long) public var modelName: String
        @Option(name: .long) public var version: String
        @Option(name: .long) public var format: String
        @Option(name: .long) public var modelPath: String
        @Option(name: .long) public var sha256: String
        @Option(name: .long) public var host: String = "127.0.0.1"
        @Option(name: .long) public var port: Int = 0
        @Option(name: .long, help: "Exit when this process (the agent) is gone.") public var parentPid: Int32?
        @Option(name: .long, help: "STORE/NAME: the feature service or view `entities` requests read.") public var features: String?
        @Option(name: .long, help: "The feature store's directory (<data_dir>/features/STORE).") public var featuresDir: String?
        public init() {}

        /// Tells the agent why the replica cannot start (`{"error": …}` on standard output), then fails.
        func fail(_ error: any Error) -> any Error {
            let line = (try? JSONSerialization.data(withJSONObject: ["error": "\(error)"], options: [.withoutEscapingSlashes])) ?? Data()
            FileHandle.standardOutput.write(line + Data("\n".utf8))
            return error
        }

        public func run() async throws {
            var logger = Logger(label: "mlinfra.replica", factory: { StreamLogHandler.standardError(label: $0) })
            logger.logLevel = .warning
            guard let modelFormat = ModelFormat(rawValue: format) else {
                throw CommandFailure("unknown --format \(format); use one of \(ModelFormat.supportedList)")
            }
            let model = ResolvedModel(name: modelName, version: version, format: modelFormat, path: modelPath, sha256: sha256)
            let runtime: any ModelRuntime
            var lookup: FeatureLookup?
            do {
                runtime = try loadVerifiedModel(model)
                if let features {
                    guard let (store, name) = FeatureBinding.split(features), let featuresDir else {
                        throw CommandFailure("--features needs STORE/NAME and --features-dir")
                    }
                    lookup = try FeatureLookup(binding: FeatureBinding(storeDirectory: featuresDir, store: store, name: name),
                                               featureNames: runtime.featureNames)
                }
            } catch {
                throw fail(error)
            }
            let handler = ReplicaHandler(runtime: runtime, modelName: modelName, endpointName: endpoint, version: version, features: lookup)
            // One event loop: a replica answers short CPU-bound requests, and every extra thread
            // competes with the router and the other replicas for the same cores.
            let app = ReplicaServer.application(handler: handler, host: host, port: port, eventLoopThreads: 1, logger: logger) { port in
                FileHandle.standardOutput.write(Data("{\"listening\": \(port)}\n".utf8))
            }
            if let parentPid {
                Task.detached {
                    while true {
                        try? await Task.sleep(nanoseconds: 500_000_000)
                        if getppid() != parentPid { Foundation.exit(0) }
                    }
                }
            }
            try await app.runService()
        }
    }
}

/// Renders an endpoint's status for people or as JSON.
enum EndpointStatusView {
    static func render(config: EndpointConfig, generation: Int, status: EndpointStatus?, decisions: [ScalingDecision], json: Bool) -> String {
        if json {
            struct Document: Encodable {
                var config: EndpointConfig
                var generation: Int
                var status: EndpointStatus?
                var decisions: [ScalingDecision]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(Document(config: config, generation: generation, status: status, decisions: decisions))) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
        var out = "endpoint \(config.name)  \(config.url)\n"
        out += "  model: \(config.model)"
        if let canary = config.canary { out += "  canary: \(canary.model) (\(canary.percent)%)" }
        out += "\n  replicas: \(config.replicas.min)…\(config.replicas.max)  autoscaling: \(config.autoscaling.metric.rawValue) target \(config.autoscaling.target), scale-down window \(Int(config.autoscaling.scaleDownWindow))s\n"
        guard let status else {
            return out + "  status: no report from an agent yet (is `mlinfra agent` running?)\n"
        }
        let age = Date().timeIntervalSince1970 - status.updatedAt
        out += "  status: \(status.ready ? "ready" : "not ready")"
        if status.generation < generation { out += " (agent has not picked up the latest config yet)" }
        out += String(format: ", reported %.0fs ago\n", age)
        if let message = status.message { out += "  problems: \(message)\n" }
        for v in status.versions {
            out += "  version \(v.version) [\(v.role)] traffic \(v.percent)%  replicas \(v.readyReplicas)/\(v.desiredReplicas) ready\n"
            for r in v.replicas {
                out += "    pid \(r.pid)  port \(r.port)  \(r.state.rawValue)" + (r.restarts > 0 ? "  restarts \(r.restarts)" : "") + "\n"
            }
        }
        if !decisions.isEmpty {
            out += "  recent autoscaler decisions:\n"
            let formatter = ISO8601DateFormatter()
            for d in decisions {
                out += "    \(formatter.string(from: Date(timeIntervalSince1970: d.time)))  \(d.current) → \(d.desired)  \(d.reason)\n"
            }
        }
        return out
    }
}
