import ArgumentParser
import Foundation
import MLInfraCore
import MLInfraHTTP

/// `mlinfra tokens create|list|revoke`: the bearer tokens the servers accept, kept as salted
/// hashes in `tokens.json` (mode 0600) in the engines' data directory.
public struct TokensCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Create, list and revoke the bearer tokens the servers (registry, features, vectors, serving) accept.",
        subcommands: [Create.self, List.self, Revoke.self])

    public init() {}

    /// `tokens.json` in the data directory.
    public static func defaultFile(in dataDirectory: URL) -> URL { dataDirectory.appendingPathComponent("tokens.json") }

    struct Options: ParsableArguments {
        @OptionGroup var location: EngineDirectoryOptions
        @Option(help: "The token file (default: tokens.json in the data directory).")
        var file: String?

        func tokens() throws -> AccessTokens {
            if let file { return AccessTokens(file: URL(fileURLWithPath: file)) }
            return AccessTokens(file: TokensCommand.defaultFile(in: location.directory))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; it is printed once and stored only as a salted hash.")
        @OptionGroup var options: Options
        @Argument(help: "A name for the token, e.g. ci-apply or trainer.") var name: String
        @Option(name: .customLong("scope"), help: "SERVER:read or SERVER:write (registry, features, vectors, serving, agent, or * for all); repeatable.")
        var scopes: [String] = []

        func run() async throws {
            guard !scopes.isEmpty else { throw ValidationError("give at least one --scope, e.g. --scope registry:write") }
            let (entry, token) = try options.tokens().create(name: name, scopes: scopes)
            FileHandle.standardError.write(Data("Created token \(entry.id) (\(entry.name)) with \(entry.scopes.joined(separator: ", ")). It is shown only now:\n".utf8))
            print(token)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (ids, names, scopes; never the secrets).")
        @OptionGroup var options: Options

        func run() async throws {
            let entries = try options.tokens().list()
            if entries.isEmpty { print("No tokens: the servers of this data directory need none.") }
            for entry in entries {
                print("\(entry.id)  \(entry.name)  \(entry.scopes.joined(separator: ","))  created \(ISO8601DateFormatter().string(from: entry.created))")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id or name; running servers refuse it within a second.")
        @OptionGroup var options: Options
        @Argument(help: "The token's id or name.") var token: String

        func run() async throws {
            guard try options.tokens().revoke(token) else {
                throw CommandFailure("no token with id or name '\(token)'; `mlinfra tokens list` shows them")
            }
            print("Revoked \(token)")
        }
    }
}
