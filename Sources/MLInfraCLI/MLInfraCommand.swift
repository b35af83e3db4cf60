import ArgumentParser
import MLInfraCore

/// The `mlinfra` command: declarative infrastructure for ML platforms.
public struct MLInfraCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mlinfra",
        abstract: "Declarative infrastructure for ML platforms: plan and apply feature stores, model registries, vector collections, endpoints and monitors.",
        version: MLInfraVersion.current,
        subcommands: [
            Validate.self, Plan.self, Apply.self, Destroy.self, Show.self, Graph.self, State.self, Import.self,
            Output.self, ForceUnlock.self, Providers.self, ProviderCommand.self,
        ]
    )

    public init() {}
}
