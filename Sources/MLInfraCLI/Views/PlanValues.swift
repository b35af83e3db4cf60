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
}
