import GRDB
import MLInfraJSON

// Hand-written column encoding for the registry's records. GRDB's Codable path builds a
// JSONEncoder per nested value and walks keyed containers; on the register path that was
// most of the CPU time. The columns and JSON are the same as the Codable path wrote
// (snake_case columns, JSON text with sorted keys for tags and lists), so existing
// databases read back unchanged, and reading still goes through Codable.

extension ModelRecord {
    func encode(to container: inout PersistenceContainer) {
        container["name"] = name
        container["description"] = description
        container["tags"] = JSONWriter.object(tags)
        container["protected_aliases"] = JSONWriter.array(protectedAliases)
        container["last_version"] = lastVersion
        container["created_at"] = createdAt
        container["updated_at"] = updatedAt
        container["creation_key"] = creationKey
    }
}

extension VersionRecord {
    func encode(to container: inout PersistenceContainer) {
        container["model"] = model
        container["version"] = version
        container["source"] = source
        container["sha256"] = sha256
        container["size"] = size
        container["format"] = format
        container["description"] = description
        container["tags"] = JSONWriter.object(tags)
        container["run_id"] = runId
        container["dataset"] = dataset
        container["git_commit"] = gitCommit
        container["status"] = status
        container["stage"] = stage
        container["created_by"] = createdBy
        container["created_at"] = createdAt
        container["updated_at"] = updatedAt
        container["creation_key"] = creationKey
        container["kind"] = kind
    }
}

extension AliasRecord {
    func encode(to container: inout PersistenceContainer) {
        container["model"] = model
        container["alias"] = alias
        container["version"] = version
        container["updated_at"] = updatedAt
    }
}

extension AuditRecord {
    func encode(to container: inout PersistenceContainer) {
        container["id"] = id
        container["time"] = time
        container["actor"] = actor
        container["origin"] = origin
        container["action"] = action
        container["model"] = model
        container["subject"] = subject
        container["before"] = before
        container["after"] = after
        container["summary"] = summary
        container["reason"] = reason
        container["plan_id"] = planId
    }
}

/// Compact JSON text with sorted keys and `/` unescaped, as the audit log and the tag
/// columns store it.
enum JSONWriter {
    static func object(_ map: [String: String]) -> String {
        var out = "{"
        for (i, key) in map.keys.sorted().enumerated() {
            if i > 0 { out += "," }
            string(key, into: &out)
            out += ":"
            string(map[key]!, into: &out)
        }
        return out + "}"
    }

    static func array(_ items: [String]) -> String {
        var out = "["
        for (i, item) in items.enumerated() {
            if i > 0 { out += "," }
            string(item, into: &out)
        }
        return out + "]"
    }

    /// An object from fields already in key order; nil values are left out, as JSONEncoder does.
    static func fields(_ fields: [(String, Fragment?)]) -> String {
        var out = "{"
        var first = true
        for (key, value) in fields {
            guard let value else { continue }
            if !first { out += "," }
            first = false
            string(key, into: &out)
            out += ":"
            switch value {
            case .string(let s): string(s, into: &out)
            case .int(let n): out += String(n)
            case .raw(let json): out += json
            }
        }
        return out + "}"
    }

    enum Fragment {
        case string(String)
        case int(Int64)
        case raw(String)
    }

    static func string(_ s: String, into out: inout String) { JSONValue.quote(s, into: &out) }
}
