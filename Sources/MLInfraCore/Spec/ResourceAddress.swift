/// The address of a resource instance: `TYPE.NAME`, `TYPE.NAME["key"]` for a `for_each` instance,
/// and either behind the module calls that hold it: `module.serving.TYPE.NAME`,
/// `module.serving["dev"].module.inner.TYPE.NAME`.
public struct ResourceAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The module calls that hold the resource, as written (`module.serving["dev"]`); nil in the root module.
    public var module: String?
    public var type: String
    public var name: String
    /// The `for_each` key, when the resource has one.
    public var key: String?

    public init(module: String? = nil, type: String, name: String, key: String? = nil) {
        self.module = module
        self.type = type
        self.name = name
        self.key = key
    }

    /// Parses `[module.M[…].]…TYPE.NAME` or `…TYPE.NAME["key"]`; nil when the text is not an address.
    public init?(parsing text: String) {
        var rest = Substring(text)
        guard let module = Self.takeModulePath(&rest) else { return nil }
        var key: String?
        if rest.hasSuffix("\"]"), let open = rest.range(of: "[\"") {
            key = String(rest[open.upperBound..<rest.index(rest.endIndex, offsetBy: -2)])
            rest = rest[..<open.lowerBound]
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, ResourceAddress.isIdentifier(parts[0]), ResourceAddress.isIdentifier(parts[1]) else {
            return nil
        }
        self.init(module: module.isEmpty ? nil : module, type: String(parts[0]), name: String(parts[1]), key: key)
    }

    /// Takes the leading `module.NAME` / `module.NAME["key"]` steps off `rest`, with the dot after
    /// each; returns them ("" for none), or nil when one is malformed.
    static func takeModulePath(_ rest: inout Substring) -> String? {
        var steps: [String] = []
        while rest.hasPrefix("module.") {
            var step = rest.dropFirst("module.".count)
            let end = step.firstIndex { $0 == "." || $0 == "[" } ?? step.endIndex
            let name = step[..<end]
            guard isIdentifier(name) else { return nil }
            step = step[end...]
            var text = "module.\(name)"
            if step.hasPrefix("[\"") {
                guard let close = step.range(of: "\"]") else { return nil }
                text += step[..<close.upperBound]
                step = step[close.upperBound...]
            }
            guard step.hasPrefix(".") else { return nil }
            steps.append(text)
            rest = step.dropFirst()
        }
        return steps.joined(separator: ".")
    }

    /// The text when it is a module path and nothing else (`module.serving`, `module.env["dev"].module.db`), else nil.
    public static func modulePath(parsing text: String) -> String? {
        var rest = Substring(text + ".")
        guard text.hasPrefix("module."), let path = takeModulePath(&rest), rest.isEmpty else { return nil }
        return path
    }

    /// Whether the module instance `path` is `module` or inside it: `module.m["a"]` and
    /// `module.m.module.db` are within `module.m`; `module.mx` is not.
    public static func isWithin(_ path: String, module: String) -> Bool {
        path == module || path.hasPrefix(module + ".") || (!module.hasSuffix("]") && path.hasPrefix(module + "["))
    }

    /// The address without the instance key: `TYPE.NAME` (behind its module path).
    public var resource: String { (module.map { $0 + "." } ?? "") + "\(type).\(name)" }

    /// A name for the engine object behind the instance: `NAME`, or `NAME_key` for a `for_each` instance.
    /// The module path is not part of it, so moving a resource into a module keeps its engine object;
    /// a module called more than once gives its resources a `name` built from its inputs.
    public var objectName: String {
        guard let key else { return name }
        return name + "_" + String(key.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
    }

    public var description: String {
        guard let key else { return resource }
        return "\(resource)[\"\(key)\"]"
    }

    public static func < (lhs: ResourceAddress, rhs: ResourceAddress) -> Bool {
        lhs.description < rhs.description
    }

    /// Letters, digits, `_` and `-`, starting with a letter or `_`.
    public static func isIdentifier(_ text: Substring) -> Bool {
        guard let first = text.utf8.first, SpecText.isLetterByte(first) || first == UInt8(ascii: "_") else { return false }
        return text.utf8.allSatisfy(SpecText.isNameByte)
    }
}

extension Sequence {
    /// Sorted by address, each address written out once rather than twice per comparison
    /// (`<` compares the written forms; a 10,000-resource plan sorts three such lists).
    func sortedByAddress(_ address: (Element) -> ResourceAddress) -> [Element] {
        let items = Array(self)
        let keys = items.map { address($0).description }
        return keys.indices.sorted { keys[$0] < keys[$1] }.map { items[$0] }
    }
}
