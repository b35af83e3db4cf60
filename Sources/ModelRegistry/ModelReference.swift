/// A parsed `models:/…` URI: a model name and which of its versions.
public struct ModelReference: Sendable, Hashable, CustomStringConvertible {
    public enum Selector: Sendable, Hashable {
        case version(Int)
        case alias(String)
        case stage(Stage)
        case latest
    }

    public var model: String
    public var selector: Selector

    public init(model: String, selector: Selector) {
        self.model = model
        self.selector = selector
    }

    /// Parses `models:/NAME/3`, `models:/NAME@alias`, `models:/NAME/Production`, `models:/NAME/latest`;
    /// the `models:/` prefix may be left out (`NAME@alias`, `NAME/3`).
    public init(parsing text: String) throws {
        var rest = Substring(text)
        if rest.hasPrefix("models:/") { rest = rest.dropFirst("models:/".count) }
        let invalid = RegistryError(
            .invalidURI, "'\(text)' is not a model URI",
            remedy: "Write models:/NAME/3 (a version), models:/NAME@alias, models:/NAME/Production (a stage) or models:/NAME/latest.",
            field: "uri")
        if let at = rest.firstIndex(of: "@") {
            let name = String(rest[..<at])
            let alias = String(rest[rest.index(after: at)...])
            guard !name.isEmpty, !alias.isEmpty, !alias.contains("/"), !name.contains("/") else { throw invalid }
            self.init(model: name, selector: .alias(alias))
            return
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw invalid }
        let name = String(parts[0])
        let selector = String(parts[1])
        if let number = Int(selector), number > 0 {
            self.init(model: name, selector: .version(number))
        } else if selector.lowercased() == "latest" {
            self.init(model: name, selector: .latest)
        } else if let stage = Stage(parsing: selector) {
            self.init(model: name, selector: .stage(stage))
        } else {
            throw invalid
        }
    }

    public var description: String {
        switch selector {
        case .version(let n): "models:/\(model)/\(n)"
        case .alias(let a): "models:/\(model)@\(a)"
        case .stage(let s): "models:/\(model)/\(s.rawValue)"
        case .latest: "models:/\(model)/latest"
        }
    }
}
