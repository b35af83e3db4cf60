import ArgumentParser
import Foundation
import FeatureStoreProvider
import MLInfraCore
import MonitoringProvider
import RegistryProvider
import ServerCommands
import ServingProvider
import VectorProvider

/// The `mlinfra` command: declarative infrastructure for ML platforms.
public struct MLInfraCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mlinfra",
        abstract: "Declarative infrastructure for ML platforms: plan and apply feature stores, model registries, vector collections, endpoints and monitors.",
        version: MLInfraVersion.current,
        subcommands: [
            Validate.self, Plan.self, Apply.self, Destroy.self, Show.self, Graph.self, State.self, Import.self,
            Output.self, ForceUnlock.self, WorkspaceCommand.self, Providers.self, ProviderCommand.self,
            ModelsCommand.self, TokensCommand.self, FeaturesCommand.self, VectorsCommand.self, EndpointsCommand.self, MonitorsCommand.self,
            Agent.self, VersionCommand.self, Fmt.self, ConsoleCommand.self,
        ]
    )

    public init() {}

    /// Runs the command line; the entry point of `mlinfra`.
    /// Plugins the command started are shut down (the protocol's `shutdown`) however it ends.
    public static func run() async {
        // Everything mlinfra writes (state, key files, plan files, engine databases that hold
        // alert tokens and the spec's values) is the user's alone: files 0600, directories 0700.
        umask(0o077)
        if let problem = LogSetup.bootstrap(ProcessInfo.processInfo.environment) {
            FileHandle.standardError.write(Data("Error: \(problem)\n".utf8))
            Foundation.exit(1)
        }
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            await BuiltinProviders.shutdownPlugins()
        } catch {
            await BuiltinProviders.shutdownPlugins()
            // An error from a library (Foundation, SwiftNIO, Codable) is said in plain words, exit 1.
            exit(withError: ErrorText.isForeign(error) ? CommandFailure(ErrorText.describe(error)) : error)
        }
    }
}
