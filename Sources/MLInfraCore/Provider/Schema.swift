/// The type of an attribute, as a provider declares it.
public indirect enum AttributeType: Sendable, Hashable {
    case string
    case int
    case number
    case bool
    /// A duration written with a unit: `500ms`, `30s`, `5m`, `2h`, `90d`.
    case duration
    case list(AttributeType)
    case map(AttributeType)
    /// A nested block with its own attributes.
    case object([String: AttributeSchema])
    /// Anything; the provider checks it.
    case any

    public var name: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .number: "number"
        case .bool: "bool"
        case .duration: "duration"
        case .list(let t): "list(\(t.name))"
        case .map(let t): "map(\(t.name))"
        case .object: "object"
        case .any: "any"
        }
    }
}

/// One attribute of a resource type.
public struct AttributeSchema: Sendable, Hashable {
    public var type: AttributeType
    /// The spec must set it.
    public var required: Bool
    /// The provider sets it.
    public var computed: Bool
    /// With `computed`: the spec may set it too; left out, the provider chooses.
    public var optional: Bool
    /// A change to it cannot be made in place: the resource is replaced.
    public var forceNew: Bool
    /// Its value never appears in output, logs, errors or plain state.
    public var sensitive: Bool
    /// When the attribute holds a reference, the resource type it must point to (`${TYPE.NAME}`).
    public var referenceType: String?
    public var description: String
    /// Allowed values, for strings.
    public var allowed: [String]?
    /// When the attribute's text names another resource by its name rather than by a `${…}`
    /// reference (a feature service's `VIEW:FEATURE`), which type it names: the core makes the
    /// dependency edge, so the named resource is planned and applied first.
    public var namesResource: NameReference?

    public init(
        _ type: AttributeType,
        required: Bool = false,
        computed: Bool = false,
        optional: Bool = false,
        forceNew: Bool = false,
        sensitive: Bool = false,
        referenceType: String? = nil,
        allowed: [String]? = nil,
        namesResource: NameReference? = nil,
        description: String = ""
    ) {
        self.type = type
        self.required = required
        self.computed = computed
        self.optional = optional
        self.forceNew = forceNew
        self.sensitive = sensitive
        self.referenceType = referenceType
        self.allowed = allowed
        self.namesResource = namesResource
        self.description = description
    }

    /// An attribute only the provider sets.
    public static func computed(_ type: AttributeType, sensitive: Bool = false, description: String = "") -> AttributeSchema {
        AttributeSchema(type, computed: true, sensitive: sensitive, description: description)
    }

    /// Whether a spec may set it.
    public var settable: Bool { !computed || optional || required }
}

/// A resource named inside an attribute's text: the part before `separator` (all of it when
/// nil) is the `name` of a resource of `type` (its resource name when it sets no `name`).
public struct NameReference: Sendable, Hashable, Codable {
    public var type: String
    public var separator: String?
    public init(type: String, separator: String? = nil) {
        self.type = type
        self.separator = separator
    }

    /// The name `text` refers to.
    public func name(in text: String) -> String {
        guard let separator, let range = text.range(of: separator) else { return text }
        return String(text[..<range.lowerBound])
    }
}

/// A resource type a provider manages.
public struct ResourceSchema: Sendable, Hashable {
    /// Bumped when the attributes a provider stores change shape.
    public var version: Int
    public var description: String
    public var attributes: [String: AttributeSchema]

    public init(version: Int = 1, description: String = "", attributes: [String: AttributeSchema]) {
        self.version = version
        self.description = description
        self.attributes = attributes
    }
}

/// Everything a provider declares about itself.
public struct ProviderSchema: Sendable, Hashable {
    public var name: String
    public var version: String
    /// Settings accepted under `providers: NAME:` in a spec.
    public var config: [String: AttributeSchema]
    public var resourceTypes: [String: ResourceSchema]
    /// At most this many calls at once; nil for no limit.
    public var concurrencyLimit: Int?

    public init(
        name: String,
        version: String,
        config: [String: AttributeSchema] = [:],
        resourceTypes: [String: ResourceSchema],
        concurrencyLimit: Int? = nil
    ) {
        self.name = name
        self.version = version
        self.config = config
        self.resourceTypes = resourceTypes
        self.concurrencyLimit = concurrencyLimit
    }
}
