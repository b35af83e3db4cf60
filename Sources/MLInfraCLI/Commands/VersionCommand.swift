import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    /// `mlinfra version [--json]`: this build and the providers built into it, as `terraform
    /// version -json` reports them.
    struct VersionCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the mlinfra version and its built-in providers.")
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            let console = Console(noColor: false)
            #if arch(x86_64)
            let arch = "amd64"
            #elseif arch(arm64)
            let arch = "arm64"
            #else
            let arch = "unknown"
            #endif
            #if os(Linux)
            let platform = "linux_\(arch)"
            #else
            let platform = "darwin_\(arch)"
            #endif
            var providers: [String: Value] = [:]
            for name in BuiltinProviders.catalog.builtins.keys.sorted() {
                guard let provider = BuiltinProviders.provider(named: name) else { continue }
                providers[name] = .string(try await provider.schema().version)
            }
            if json {
                console.out(JSONText.encode(.map([
                    "mlinfra_version": .string(MLInfraVersion.current), "platform": .string(platform), "provider_selections": .map(providers),
                ])) + "\n")
            } else {
                console.out("mlinfra \(MLInfraVersion.current) on \(platform)\n"
                    + providers.keys.sorted().map { "+ provider \($0) \(providers[$0]!.stringValue ?? "")\n" }.joined())
            }
        }
    }
}
