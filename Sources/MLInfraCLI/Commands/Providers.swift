import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    struct Providers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the built-in providers and their resource types.")
        @Option(name: .long, help: "human or json.") var format: OutputFormat = .human

        @Option(name: .long, help: "Write one reference page per resource type (TYPE.md) into this directory, e.g. docs/resources.")
        var docs: String?

        func run() async throws {
            let console = Console(noColor: false)
            var all: [String: Value] = [:]
            var text = ""
            for name in BuiltinProviders.catalog.builtins.keys.sorted() {
                guard let provider = BuiltinProviders.provider(named: name) else { continue }
                let schema = try await provider.schema()
                all[name] = SchemaViews.json(schema)
                text += SchemaViews.human(schema, bold: console.style.bold)
                if let docs {
                    do {
                        try FileManager.default.createDirectory(atPath: docs, withIntermediateDirectories: true)
                        for (type, r) in schema.resourceTypes {
                            try SchemaViews.page(type: type, r, provider: name)
                                .write(toFile: (docs as NSString).appendingPathComponent("\(type).md"), atomically: true, encoding: .utf8)
                        }
                    } catch {
                        throw CommandFailure("cannot write the reference pages into \(docs): \(ErrorText.describe(error))")
                    }
                }
            }
            if docs != nil { return }
            console.out(format == .json ? JSONText.encode(.map(["format_version": "1.0", "providers": .map(all)])) + "\n" : text)
        }
    }

    struct ProviderCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "provider", abstract: "Provider plugin tools.", subcommands: [Serve.self])

        struct Serve: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Serve a built-in provider over the plugin protocol (JSON-RPC on stdin/stdout).")
            @Argument(help: "The built-in provider's name.") var name: String

            func run() async throws {
                guard let provider = BuiltinProviders.provider(named: name) else {
                    throw CommandFailure("no built-in provider `\(name)`; built-in: \(BuiltinProviders.catalog.builtins.keys.sorted().joined(separator: ", ")).")
                }
                try await PluginServer(provider: provider, name: name, version: MLInfraVersion.current).run()
            }
        }
    }
}
