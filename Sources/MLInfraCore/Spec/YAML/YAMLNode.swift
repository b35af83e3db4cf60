/// How a scalar was written in the source.
public enum ScalarStyle: Sendable, Hashable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// One node of a parsed YAML document, with the place where it starts.
///
/// Nodes are plain values: an alias is expanded into a copy of the node it
/// names (copies share storage, so expansion is cheap; the loader counts the
/// expanded size against `YAMLLimits`). The root of an expanded alias carries
/// the alias's location; the nodes inside it keep the anchored text's locations.
public struct YAMLNode: Sendable {
    public enum Content: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        /// In document order; keys are unique by their text (the loader reports duplicates).
        case mapping([YAMLPair])
    }

    public var content: Content
    /// File, 1-based line and 1-based column (in characters) of the node's first character.
    public var location: SourceLocation
    /// The explicit tag, with the core prefix shortened (`!!str`, `!!int`, or a local `!name`).
    public var tag: String?

    public init(_ content: Content, location: SourceLocation, tag: String? = nil) {
        self.content = content
        self.location = location
        self.tag = tag
    }

    /// The scalar resolved by the YAML 1.2 core schema; nil for a sequence or mapping.
    ///
    /// Plain `null`/`Null`/`NULL`/`~`/empty → `.null`; `true`/`false` (3 casings) → `.bool`;
    /// decimal, `0x` and `0o` integers → `.int`; finite decimals with optional exponent →
    /// `.number`; anything else → `.string`. Quoted and block scalars are always strings.
    /// `.inf`, `.nan` and integers beyond `Int` stay strings here (the loader reports them
    /// as errors), so a `Value` never holds a number JSON cannot carry.
    /// An explicit `!!str`/`!!int`/`!!float`/`!!bool`/`!!null` tag forces that type
    /// when the text fits it (the loader reports text that does not).
    public var scalarValue: Value? {
        guard case .scalar(let text, let style) = content else { return nil }
        return YAMLScalarResolver.resolve(text, style: style, tag: tag).value
    }

    /// The scalar's text as written (after unquoting), or nil for a collection.
    public var scalarText: String? {
        if case .scalar(let text, _) = content { text } else { nil }
    }

    /// The items of a sequence, or nil.
    public var sequenceItems: [YAMLNode]? {
        if case .sequence(let items) = content { items } else { nil }
    }

    /// The pairs of a mapping, in document order, or nil.
    public var mappingPairs: [YAMLPair]? {
        if case .mapping(let pairs) = content { pairs } else { nil }
    }

    /// The value under a key of a mapping (compared by the key's text).
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let pairs) = content else { return nil }
        return pairs.first { $0.keyText == key }?.value
    }

    /// A short name of the node's kind for messages: `string`, `int`, `list`, `map`, ….
    public var kindName: String {
        switch content {
        case .scalar: scalarValue?.kindName ?? "string"
        case .sequence: "list"
        case .mapping: "map"
        }
    }

    /// The whole node as a `Value` (locations dropped; mapping keys by their text).
    public var value: Value {
        switch content {
        case .scalar: return scalarValue ?? .null
        case .sequence(let items): return .list(items.map(\.value))
        case .mapping(let pairs):
            var map: [String: Value] = [:]
            map.reserveCapacity(pairs.count)
            for pair in pairs where map[pair.keyText] == nil { map[pair.keyText] = pair.value.value }
            return .map(map)
        }
    }
}

/// A key and its value in a mapping.
public struct YAMLPair: Sendable {
    public var key: YAMLNode
    public var value: YAMLNode

    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }

    /// The key's text, which is what identifies it (`1`, `"1"` and `'1'` are the same key).
    public var keyText: String { key.scalarText ?? "" }
}
