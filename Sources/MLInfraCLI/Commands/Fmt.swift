import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    /// `mlinfra fmt [PATH…] [--check] [--diff] [--recursive]`: rewrites spec YAML in the canonical
    /// layout (`SpecFormatter`), comments kept. With `--check` nothing is written and the exit code
    /// says whether anything would change (3, as `terraform fmt -check` does), for CI.
    struct Fmt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rewrite spec YAML files in the canonical layout, keeping comments.",
            discussion: """
                Formats every *.yaml and *.yml file in each PATH (a directory, by default the current one, or a file). \
                Prints the name of each file it changed. A file that does not parse, or whose meaning the layout would \
                change, is left as it is and named with the reason. Exit codes: 0 nothing (left) to change, 1 a file \
                could not be read, written or formatted, 3 with --check when a file is not formatted.
                """)

        @Argument(help: "Files or directories (default: the current directory).") var paths: [String] = []
        @Flag(name: .long, help: "Write nothing; exit 3 when a file is not formatted.") var check = false
        @Flag(name: .long, help: "Print the changes as a unified diff.") var diff = false
        @Flag(name: [.long, .customLong("recursive", withSingleDash: true)], help: "Also format the files in subdirectories.")
        var recursive = false

        func run() async throws {
            let console = Console(noColor: false)
            var failed = false
            var unformatted = false
            for file in try files(console: console) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    console.err("Error: \(file): cannot be read\n")
                    failed = true
                    continue
                }
                let text = String(decoding: data, as: UTF8.self)
                switch SpecFormatter.format(text, file: file) {
                case .refused(let why):
                    console.err("Error: \(file): \(why)\n")
                    failed = true
                case .formatted(let formatted) where formatted != text:
                    unformatted = true
                    console.out(file + "\n")
                    if diff { console.out(UnifiedDiff.render(old: text, new: formatted, name: file)) }
                    if !check {
                        do {
                            try Data(formatted.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
                        } catch {
                            console.err("Error: \(file): could not be written: \(error.localizedDescription)\n")
                            failed = true
                        }
                    }
                case .formatted:
                    break
                }
            }
            if failed { throw ExitCode.failure }
            if check && unformatted { throw ExitCode(3) }
        }

        /// The YAML files the paths name, sorted; hidden directories (`.mlinfra`, `.git`) and `state/` are skipped.
        func files(console: Console) throws -> [String] {
            var out: [String] = []
            for path in paths.isEmpty ? ["."] : paths {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw console.fail("\(path): no such file or directory")
                }
                if !isDirectory.boolValue {
                    out.append(path)
                    continue
                }
                out += yamlFiles(in: path)
            }
            return out
        }

        private func yamlFiles(in directory: String) -> [String] {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            var out: [String] = []
            for name in names where !name.hasPrefix(".") {
                let path = directory == "." ? name : (directory as NSString).appendingPathComponent(name)
                var isDirectory: ObjCBool = false
                FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                if isDirectory.boolValue {
                    if recursive && name != "state" { out += yamlFiles(in: path) }
                } else if name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                    out.append(path)
                }
            }
            return out
        }
    }
}

/// A unified diff (`diff -u` style, 3 lines of context) of two texts, for `fmt --diff`.
enum UnifiedDiff {
    static func render(old: String, new: String, name: String, context: Int = 3) -> String {
        func lines(_ text: String) -> [String] {
            var pieces = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if text.hasSuffix("\n") { pieces.removeLast() }
            return pieces
        }
        let a = lines(old), b = lines(new)
        // Longest common subsequence table (spec files are small).
        var lcs = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        enum Op { case same(String), del(String), add(String) }
        var ops: [Op] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                ops.append(.same(a[i])); i += 1; j += 1
            } else if i < a.count, j == b.count || lcs[i + 1][j] >= lcs[i][j + 1] {
                ops.append(.del(a[i])); i += 1  // deletions first, as diff -u writes them
            } else {
                ops.append(.add(b[j])); j += 1
            }
        }
        var out = "--- \(name)\n+++ \(name) (formatted)\n"
        var k = 0
        var oldLine = 1, newLine = 1
        while k < ops.count {
            guard case .same = ops[k] else {
                // A hunk: back up to `context` lines before, run until `context` unchanged lines after the last change.
                var start = k
                var back = 0
                while start > 0, back < context, case .same = ops[start - 1] { start -= 1; back += 1 }
                var end = k
                var quiet = 0
                while end < ops.count, quiet <= context * 2 {
                    if case .same = ops[end] { quiet += 1 } else { quiet = 0 }
                    end += 1
                }
                end -= max(0, quiet - context)
                let hunk = ops[start..<end]
                let oldCount = hunk.filter { if case .add = $0 { false } else { true } }.count
                let newCount = hunk.filter { if case .del = $0 { false } else { true } }.count
                let oldStart = oldLine - back, newStart = newLine - back
                out += "@@ -\(oldStart),\(oldCount) +\(newStart),\(newCount) @@\n"
                for op in hunk {
                    switch op {
                    case .same(let s): out += " \(s)\n"
                    case .del(let s): out += "-\(s)\n"
                    case .add(let s): out += "+\(s)\n"
                    }
                }
                for op in ops[k..<end] {
                    switch op {
                    case .same: oldLine += 1; newLine += 1
                    case .del: oldLine += 1
                    case .add: newLine += 1
                    }
                }
                k = end
                continue
            }
            oldLine += 1; newLine += 1; k += 1
        }
        return out
    }
}
