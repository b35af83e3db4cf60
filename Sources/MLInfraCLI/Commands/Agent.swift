import ArgumentParser
import ServingProvider

extension MLInfraCommand {
    /// `mlinfra agent`: serving's agent (`AgentOptions`), composed with the services of the other
    /// engines this binary links (`BuiltinProviders.agentServices`).
    struct Agent: AsyncParsableCommand {
        static let configuration = AgentOptions.configuration
        @OptionGroup var options: AgentOptions

        func run() async throws {
            try await options.run(beside: BuiltinProviders.agentServices)
        }
    }
}
