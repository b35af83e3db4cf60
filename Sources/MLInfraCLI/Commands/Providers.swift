import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    struct Providers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the built-in providers and their resource types.")
        @Option(name: .long, help: "human or json.") var format: OutputFormat = .human

        func run() async throws {
            let console = Console(noColor: false)
            var all: [String: Value] = [:]
            var text = ""
            for name in BuiltinProviders.catalog.builtins.keys.sorted() {
                guard let provider = BuiltinProviders.provider(named: name) else { continue }
                let schema = try await provider.schema()
                all[name] = ProviderSchemaJSON.value(schema)
                text += console.style.bold("\(name)") + " \(schema.version)\n"
                for type in schema.resourceTypes.keys.sorted() {
                    let r = schema.resourceTypes[type]!
                    text += "  \(type)" + (r.description.isEmpty ? "" : " — \(r.description)") + "\n"
                    for (attr, a) in r.attributes.sorted(by: { $0.key < $1.key }) {
                        var flags: [String] = []
                        if a.required { flags.append("required") }
                        if a.computed { flags.append("computed") }
                        if a.forceNew { flags.append("forces replacement") }
                        if a.sensitive { flags.append("sensitive") }
                        text += "      \(attr): \(a.type.name)" + (flags.isEmpty ? "" : " (\(flags.joined(separator: ", ")))") + "\n"
                    }
                }
            }
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

/// Schemas as JSON, for `mlinfra providers --format json`.
enum ProviderSchemaJSON {
    static func value(_ schema: ProviderSchema) -> Value {
        .map([
            "name": .string(schema.name),
            "version": .string(schema.version),
            "resource_types": .map(schema.resourceTypes.mapValues { r in
                .map([
                    "version": .int(r.version),
                    "description": .string(r.description),
                    "attributes": .map(r.attributes.mapValues(attribute)),
                ])
            }),
        ])
    }

    static func attribute(_ a: AttributeSchema) -> Value {
        .map([
            "type": .string(a.type.name), "required": .bool(a.required), "computed": .bool(a.computed),
            "optional": .bool(a.optional), "force_new": .bool(a.forceNew), "sensitive": .bool(a.sensitive),
            "description": .string(a.description),
        ])
    }
}
