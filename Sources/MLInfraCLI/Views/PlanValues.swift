import Foundation
import MLInfraCore

/// How the plan views show attribute values to a reviewer: a create leaves out the empty
/// defaults a provider fills in (`description = ""`, `tags = {}`), and paths under the spec's
/// directory are shown relative to it (`./.mlinfra/registry`), never as the runner's
/// absolute path. The JSON view, for machines, keeps every value as it is.
struct PlanValues {
    /// The spec's directory, absolute; nil to show paths as they are.
    var root: String?

    init(root: String? = nil) {
        self.root = root.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    }

    /// The root of the spec at `path` (a directory, or a file's directory).
    static func root(ofSpec path: String) -> String {
        var isDirectory: ObjCBool = false
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        return FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) && !isDirectory.boolValue
            ? (absolute as NSString).deletingLastPathComponent : absolute
    }

    /// The attributes a create shows, in order.
    static func createKeys(_ c: ResourceChange) -> [String] {
        (c.after ?? [:]).keys.sorted().filter { key in
            switch c.after?[key] {
            case .string("")?, .null?: return false
            case .map(let m)?: return !m.isEmpty
            case .list(let l)?: return !l.isEmpty
            default: return true
            }
        }
    }

    func show(_ value: Value?, _ key: String, _ sensitive: Set<String>) -> String {
        let text = Secrets.display(value, at: key, sensitive: sensitive)
        guard let root, root != "/", text.contains(root) else { return text }
        return text.replacingOccurrences(of: root + "/", with: "./").replacingOccurrences(of: "\"" + root + "\"", with: "\".\"")
    }

    /// The plan line's tail for changes to state alone: ", 1 moved, 1 to import, 1 to forget" (only those there are).
    static func stateCounts(_ plan: Plan) -> String {
        var moved = 0, imported = 0, forgotten = 0
        for s in plan.stateChanges {
            switch s.kind {
            case .moved: moved += 1
            case .imported: imported += 1
            case .forgotten: forgotten += 1
            }
        }
        var parts: [String] = []
        if moved > 0 { parts.append("\(moved) moved") }
        if imported > 0 { parts.append("\(imported) to import") }
        if forgotten > 0 { parts.append("\(forgotten) to forget") }
        return parts.map { ", " + $0 }.joined()
    }
}
