/// The address of a resource instance: `TYPE.NAME`, or `TYPE.NAME["key"]` for a `for_each` instance.
public struct ResourceAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var type: String
    public var name: String
    /// The `for_each` key, when the resource has one.
    public var key: String?

    public init(type: String, name: String, key: String? = nil) {
        self.type = type
        self.name = name
        self.key = key
    }

    /// Parses `TYPE.NAME` or `TYPE.NAME["key"]`; nil when the text is not an address.
    public init?(parsing text: String) {
        var base = Substring(text)
        var key: String?
        if base.hasSuffix("\"]"), let open = base.range(of: "[\"") {
            key = String(base[open.upperBound..<base.index(base.endIndex, offsetBy: -2)])
            base = base[..<open.lowerBound]
        }
        let parts = base.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, ResourceAddress.isIdentifier(parts[0]), ResourceAddress.isIdentifier(parts[1]) else {
            return nil
        }
        self.init(type: String(parts[0]), name: String(parts[1]), key: key)
    }

    /// The address without the instance key: `TYPE.NAME`.
    public var resource: String { "\(type).\(name)" }

    /// A name for the engine object behind the instance: `NAME`, or `NAME_key` for a `for_each` instance.
    public var objectName: String {
        guard let key else { return name }
        return name + "_" + String(key.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
    }

    public var description: String {
        guard let key else { return "\(type).\(name)" }
        return "\(type).\(name)[\"\(key)\"]"
    }

    public static func < (lhs: ResourceAddress, rhs: ResourceAddress) -> Bool {
        lhs.description < rhs.description
    }

    /// Letters, digits, `_` and `-`, starting with a letter or `_`.
    public static func isIdentifier(_ text: Substring) -> Bool {
        guard let first = text.first, first.isLetter || first == "_" else { return false }
        return text.allSatisfy { ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") && $0.isASCII }
    }
}
