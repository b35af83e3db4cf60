import Foundation

// The JSON shape of a provider schema, as external plugins send it in answer to
// `schema` (documented in providers/README.md). Keys are snake_case; flags that
// are false and texts that are empty may be left out, so a plugin written by
// hand stays short.

extension AttributeType: Codable {
    /// Reads a type written as a string (`"string"`, `"list(string)"`,
    /// `"map(list(int))"`) or as an object (`{"list": T}`, `{"map": T}`,
    /// `{"object": {NAME: ATTRIBUTE, …}}`) where `T` is again either form.
    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.singleValueContainer(), let text = try? container.decode(String.self) {
            guard let parsed = AttributeType(parsing: text) else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription:
                            "unknown attribute type \"\(text)\"; use string, int, number, bool, duration, any, list(T), map(T) or {\"object\": {…}}"
                    ))
            }
            self = parsed
            return
        }
        let container = try decoder.container(keyedBy: TypeKey.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "an attribute type object has exactly one key: list, map or object"))
        }
        switch key {
        case .list: self = .list(try container.decode(AttributeType.self, forKey: .list))
        case .map: self = .map(try container.decode(AttributeType.self, forKey: .map))
        case .object: self = .object(try container.decode([String: AttributeSchema].self, forKey: .object))
        }
    }

    /// Writes the string form whenever the type has one (no nested object), the object form otherwise.
    public func encode(to encoder: any Encoder) throws {
        if let text = textForm {
            var container = encoder.singleValueContainer()
            try container.encode(text)
            return
        }
        var container = encoder.container(keyedBy: TypeKey.self)
        switch self {
        case .list(let element): try container.encode(element, forKey: .list)
        case .map(let element): try container.encode(element, forKey: .map)
        case .object(let attributes): try container.encode(attributes, forKey: .object)
        default: break
        }
    }

    /// Parses the string form: a scalar name, or `list(T)` / `map(T)` around one.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch trimmed {
        case "string": self = .string
        case "int": self = .int
        case "number": self = .number
        case "bool": self = .bool
        case "duration": self = .duration
        case "any": self = .any
        default:
            for (prefix, make) in [("list(", AttributeType.list), ("map(", AttributeType.map)] where trimmed.hasPrefix(prefix) {
                guard trimmed.hasSuffix(")"), let inner = AttributeType(parsing: String(trimmed.dropFirst(prefix.count).dropLast()))
                else { return nil }
                self = make(inner)
                return
            }
            return nil
        }
    }

    /// The string form, or nil when the type holds a nested object.
    var textForm: String? {
        switch self {
        case .object: nil
        case .list(let element): element.textForm.map { "list(\($0))" }
        case .map(let element): element.textForm.map { "map(\($0))" }
        default: name
        }
    }

    private enum TypeKey: String, CodingKey {
        case list, map, object
    }
}

extension AttributeSchema: Codable {
    private enum CodingKeys: String, CodingKey {
        case type, required, computed, optional, forceNew = "force_new", sensitive, referenceType = "reference_type",
            description, allowed, namesResource = "names_resource"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            try c.decode(AttributeType.self, forKey: .type),
            required: try c.decodeIfPresent(Bool.self, forKey: .required) ?? false,
            computed: try c.decodeIfPresent(Bool.self, forKey: .computed) ?? false,
            optional: try c.decodeIfPresent(Bool.self, forKey: .optional) ?? false,
            forceNew: try c.decodeIfPresent(Bool.self, forKey: .forceNew) ?? false,
            sensitive: try c.decodeIfPresent(Bool.self, forKey: .sensitive) ?? false,
            referenceType: try c.decodeIfPresent(String.self, forKey: .referenceType),
            allowed: try c.decodeIfPresent([String].self, forKey: .allowed),
            namesResource: try c.decodeIfPresent(NameReference.self, forKey: .namesResource),
            description: try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        if required { try c.encode(true, forKey: .required) }
        if computed { try c.encode(true, forKey: .computed) }
        if optional { try c.encode(true, forKey: .optional) }
        if forceNew { try c.encode(true, forKey: .forceNew) }
        if sensitive { try c.encode(true, forKey: .sensitive) }
        try c.encodeIfPresent(referenceType, forKey: .referenceType)
        try c.encodeIfPresent(allowed, forKey: .allowed)
        try c.encodeIfPresent(namesResource, forKey: .namesResource)
        if !description.isEmpty { try c.encode(description, forKey: .description) }
    }
}

extension ResourceSchema: Codable {
    private enum CodingKeys: String, CodingKey {
        case version, description, attributes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            version: try c.decodeIfPresent(Int.self, forKey: .version) ?? 1,
            description: try c.decodeIfPresent(String.self, forKey: .description) ?? "",
            attributes: try c.decode([String: AttributeSchema].self, forKey: .attributes)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        if !description.isEmpty { try c.encode(description, forKey: .description) }
        try c.encode(attributes, forKey: .attributes)
    }
}

extension ProviderSchema: Codable {
    private enum CodingKeys: String, CodingKey {
        case name, version, config, resourceTypes = "resource_types", concurrencyLimit = "concurrency_limit"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            version: try c.decode(String.self, forKey: .version),
            config: try c.decodeIfPresent([String: AttributeSchema].self, forKey: .config) ?? [:],
            resourceTypes: try c.decode([String: ResourceSchema].self, forKey: .resourceTypes),
            concurrencyLimit: try c.decodeIfPresent(Int.self, forKey: .concurrencyLimit)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(version, forKey: .version)
        try c.encode(config, forKey: .config)
        try c.encode(resourceTypes, forKey: .resourceTypes)
        try c.encodeIfPresent(concurrencyLimit, forKey: .concurrencyLimit)
    }
}
