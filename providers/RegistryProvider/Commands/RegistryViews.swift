import Foundation
import ModelRegistry

/// Human and JSON renderings of registry objects for the `models` commands.
enum RegistryViews {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func modelTable(_ models: [RegisteredModel]) -> String {
        guard !models.isEmpty else { return "No models registered. Register one with `mlinfra models register NAME --artifact PATH`.\n" }
        let rows = models.map { m in
            [m.name, "\(m.lastVersion)", aliases(m.aliases, protected: m.protectedAliases), m.description]
        }
        return table(header: ["MODEL", "VERSIONS", "ALIASES", "DESCRIPTION"], rows: rows)
    }

    static func model(_ model: RegisteredModel, versions: [ModelVersion]) -> String {
        var out = "Model \(model.name)\n"
        if !model.description.isEmpty { out += "  description: \(model.description)\n" }
        if !model.tags.isEmpty { out += "  tags: \(tags(model.tags))\n" }
        out += "  aliases: \(model.aliases.isEmpty ? "(none)" : aliases(model.aliases, protected: model.protectedAliases))\n"
        if !model.protectedAliases.isEmpty {
            out += "  protected aliases: \(model.protectedAliases.joined(separator: ", ")) (moved only by `mlinfra apply`)\n"
        }
        out += "\n"
        let rows = versions.map { v in
            [
                "\(v.version)", v.format, String(v.sha256.prefix(12)), "\(v.size)", v.stage.rawValue,
                v.aliases.joined(separator: ","), timestamp(v.createdAt), tags(v.tags),
            ]
        }
        return out + table(header: ["VERSION", "FORMAT", "SHA256", "BYTES", "STAGE", "ALIASES", "CREATED", "TAGS"], rows: rows)
    }

    static func version(_ v: ModelVersion, path: URL) -> String {
        var out = "\(v.model) version \(v.version)\n"
        out += "  uri:         models:/\(v.model)/\(v.version)\n"
        out += "  format:      \(v.format)\n"
        out += "  sha256:      \(v.sha256) (verified)\n"
        out += "  size:        \(v.size) bytes\n"
        out += "  artifact:    \(path.path)\n"
        out += "  source:      \(v.source)\n"
        out += "  stage:       \(v.stage.rawValue)\n"
        out += "  aliases:     \(v.aliases.isEmpty ? "(none)" : v.aliases.joined(separator: ", "))\n"
        if !v.description.isEmpty { out += "  description: \(v.description)\n" }
        if !v.tags.isEmpty { out += "  tags:        \(tags(v.tags))\n" }
        if let run = v.lineage.runID { out += "  run id:      \(run)\n" }
        if let dataset = v.lineage.dataset { out += "  dataset:     \(dataset)\n" }
        if let commit = v.lineage.commit { out += "  commit:      \(commit)\n" }
        out += "  created:     \(timestamp(v.createdAt)) by \(v.createdBy)\n"
        return out
    }

    static func history(_ entries: [AuditEntry]) -> String {
        guard !entries.isEmpty else { return "No changes recorded.\n" }
        var out = ""
        for e in entries {
            var via = e.origin.rawValue
            if let plan = e.planID { via += ", plan \(plan.prefix(12))" }
            out += "\(timestamp(e.time))  \(e.actor) (\(via))  \(e.summary)"
            if let reason = e.reason, !reason.isEmpty { out += "  — \(reason)" }
            out += "\n"
        }
        return out
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    private static func aliases(_ aliases: [String: Int], protected: [String]) -> String {
        aliases.keys.sorted().map { "\($0)\(protected.contains($0) ? "*" : "")→\(aliases[$0]!)" }.joined(separator: " ")
    }

    private static func tags(_ tags: [String: String]) -> String {
        tags.keys.sorted().map { "\($0)=\(tags[$0]!)" }.joined(separator: " ")
    }

    private static func table(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        return line(header) + rows.map(line).joined()
    }
}
