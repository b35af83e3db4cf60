import FeatureStoreProvider
import Foundation
import MLInfraCore
import MonitoringProvider
import RegistryProvider
import ServingProvider
import VectorProvider

import Synchronization

/// The providers linked into this binary, and how external plugins are started.
public enum BuiltinProviders {
    private static let extras = Mutex<[String: @Sendable () -> any Provider]>([:])
    /// Plugins started by this process, asked to shut down when the command ends.
    private static let plugins = Mutex<[PluginProvider]>([])

    /// Sends `shutdown` to every plugin this command started and waits for them to exit.
    static func shutdownPlugins() async {
        let started = plugins.withLock { list in
            defer { list = [] }
            return list
        }
        for plugin in started { await plugin.shutdown() }
    }

    /// Adds a built-in provider before the command runs (used by test and benchmark builds).
    public static func register(name: String, _ make: @escaping @Sendable () -> any Provider) {
        extras.withLock { $0[name] = make }
    }

    /// The members of the built-in `local` provider: one per engine.
    /// Endpoints resolve their models in the registry the spec's `registry` resource chose.
    static func localMembers() -> [any Provider] {
        let registry = RegistryProvider()
        return [registry, FeatureStoreProvider(), VectorProvider(), ServingProvider(registryLocation: { try registry.location() }), MonitoringProvider()]
    }

    /// The services `mlinfra agent` runs beside serving: the monitors' scheduler.
    static let agentServices: [AgentService] = [
        { context in
            MonitorSchedulerService(directory: context.dataDirectory.path, shared: context.shared.map {
                MonitorSchedulerService.Shared(database: $0.control, schema: $0.controlSchema, capture: $0.capture, captureSchema: $0.captureSchema)
            })
        },
    ]

    static var catalog: ProviderCatalog {
        ProviderCatalog(
            builtins: extras.withLock { $0 }.merging(["local": { CompositeProvider(name: "local", members: localMembers()) }]) { a, _ in a },
            plugin: { decl, root in
                var entry: [String: Value] = ["command": .string(decl.command ?? "")]
                if !decl.args.isEmpty { entry["args"] = .list(decl.args.map(Value.string)) }
                if let sha = decl.sha256 { entry["sha256"] = .string(sha) }
                if !decl.env.isEmpty { entry["env"] = .map(decl.env.mapValues(Value.string)) }
                if let timeout = decl.timeout { entry["timeout"] = .string(timeout) }
                let (spec, _) = try PluginSpec.parse(name: decl.name, entry: entry, specDirectory: root)
                let plugin = PluginProvider(spec: spec)
                plugins.withLock { $0.append(plugin) }
                return plugin
            })
    }

    /// A built-in provider by name, for `mlinfra provider serve NAME`.
    static func provider(named name: String) -> (any Provider)? {
        catalog.builtins[name]?()
    }
}
