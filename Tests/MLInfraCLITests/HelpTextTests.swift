import ArgumentParser
import Testing

@testable import MLInfraCLI

/// Every command's help says each default once (ArgumentParser adds `(default: …)` itself).
@Suite struct HelpTextTests {
    static func commands(_ command: any ParsableCommand.Type, path: [String] = []) -> [(String, any ParsableCommand.Type)] {
        let name = command.configuration.commandName ?? String(describing: command).lowercased()
        let here = path + [name]
        return [(here.joined(separator: " "), command)] + command.configuration.subcommands.flatMap { commands($0, path: here) }
    }

    @Test func noHelpLineStatesItsDefaultTwice() {
        let all = Self.commands(MLInfraCommand.self)
        #expect(all.count > 40, "\(all.count) commands")
        for (path, command) in all {
            let help = MLInfraCommand.helpMessage(for: command, columns: 10_000)
            for line in help.split(separator: "\n") where line.contains("(default:") && line.components(separatedBy: "default").count > 2 {
                Issue.record("`\(path) --help` states a default twice: \(line.trimmingCharacters(in: .whitespaces))")
            }
            // One spelling per flag: files are written with --out everywhere.
            #expect(!help.contains("--output"), "`\(path)` spells --out as --output")
        }
    }
}
