import MLInfraCore

/// Provider schemas for people (`mlinfra providers`), machines (`--format json`) and the
/// reference pages (`docs/resources/TYPE.md`, written by `mlinfra providers --docs DIR`):
/// every attribute, nested blocks included, with its type, whether the spec must, may or
/// cannot set it, what changing it does, and its allowed values.
enum SchemaViews {
    /// How a spec treats the attribute, in words.
    static func role(_ a: AttributeSchema) -> String {
        if a.required { return "required" }
        if a.computed && !a.optional { return "read-only" }
        if a.computed { return "optional, the provider's default when left out" }
        return "optional"
    }

    static func flags(_ a: AttributeSchema) -> [String] {
        var out = [role(a)]
        if a.forceNew { out.append("forces replacement") }
        if a.sensitive { out.append("sensitive") }
        if let allowed = a.allowed { out.append("one of " + allowed.joined(separator: ", ")) }
        if let naming = a.namesResource { out.append("names \(article(naming.type))") }
        if let type = a.referenceType { out.append("refers to \(article(type))") }
        return out
    }

    static func article(_ word: String) -> String { ("aeiou".contains(word.first ?? "x") ? "an " : "a ") + word }

    /// The nested attributes of an object, or of a list or map of objects.
    static func nested(_ type: AttributeType) -> [String: AttributeSchema]? {
        switch type {
        case .object(let attributes): attributes
        case .list(let element), .map(let element): nested(element)
        default: nil
        }
    }

    // MARK: Human

    static func human(_ schema: ProviderSchema, bold: (String) -> String) -> String {
        var text = bold(schema.name) + " \(schema.version)\n"
        for type in schema.resourceTypes.keys.sorted() {
            let r = schema.resourceTypes[type]!
            text += "  \(type)" + (r.description.isEmpty ? "" : " — \(r.description)") + "\n"
            text += lines(r.attributes, indent: "      ")
        }
        return text
    }

    static func lines(_ attributes: [String: AttributeSchema], indent: String) -> String {
        var text = ""
        for (name, a) in attributes.sorted(by: { $0.key < $1.key }) {
            text += "\(indent)\(name): \(a.type.name) (\(flags(a).joined(separator: ", ")))"
                + (a.description.isEmpty ? "" : " — \(a.description)") + "\n"
            if let inner = nested(a.type) { text += lines(inner, indent: indent + "    ") }
        }
        return text
    }

    // MARK: JSON

    static func json(_ schema: ProviderSchema) -> Value {
        .map([
            "name": .string(schema.name),
            "version": .string(schema.version),
            "resource_types": .map(schema.resourceTypes.mapValues { r in
                .map([
                    "version": .int(r.version),
                    "description": .string(r.description),
                    "attributes": .map(r.attributes.mapValues(attribute)),
                ])
            }),
        ])
    }

    static func attribute(_ a: AttributeSchema) -> Value {
        var m: [String: Value] = [
            "type": .string(a.type.name), "required": .bool(a.required), "computed": .bool(a.computed),
            "optional": .bool(a.optional), "force_new": .bool(a.forceNew), "sensitive": .bool(a.sensitive),
            "description": .string(a.description),
        ]
        if let allowed = a.allowed { m["allowed"] = .list(allowed.map(Value.string)) }
        if let type = a.referenceType { m["reference_type"] = .string(type) }
        if let naming = a.namesResource { m["names_resource"] = .string(naming.type) }
        if let inner = nested(a.type) { m["attributes"] = .map(inner.mapValues(attribute)) }
        return .map(m)
    }

    // MARK: Reference pages

    /// `docs/resources/TYPE.md`: one page per resource type.
    static func page(type: String, _ r: ResourceSchema, provider: String) -> String {
        var text = "# `\(type)`\n\n"
        text += "<!-- Written by `mlinfra providers --docs docs/resources` from the \(provider) provider's schema; a test keeps it in sync. -->\n\n"
        if !r.description.isEmpty { text += r.description + "\n\n" }
        let settable = r.attributes.filter { $0.value.settable }
        let computed = r.attributes.filter { !$0.value.settable }
        text += "## Attributes the spec sets\n\n" + table(settable, prefix: "")
        text += "\n## Attributes the provider sets\n\nRead them with `${\(type).NAME.ATTRIBUTE}`.\n\n" + table(computed, prefix: "")
        text += "\n## Example\n\nThe required attributes; the resources it refers to are declared beside it (see `specs/` for whole specs).\n\n"
        text += "<!-- example: not a spec (a fragment that names resources declared elsewhere) -->\n```yaml\nresources:\n  \(type).example:\n"
        for (name, a) in settable.sorted(by: { $0.key < $1.key }) where a.required {
            text += "    \(name): \(placeholder(a))\n"
        }
        text += "```\n"
        return text
    }

    static func table(_ attributes: [String: AttributeSchema], prefix: String) -> String {
        guard !attributes.isEmpty else { return "None.\n" }
        var text = "| attribute | type | | description |\n|---|---|---|---|\n"
        func rows(_ attributes: [String: AttributeSchema], prefix: String) {
            for (name, a) in attributes.sorted(by: { $0.key < $1.key }) {
                let description = a.description.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
                text += "| `\(prefix)\(name)` | \(a.type.name) | \(flags(a).joined(separator: ", ")) | \(description) |\n"
                if let inner = nested(a.type) {
                    let isList: Bool
                    if case .list = a.type { isList = true } else { isList = false }
                    rows(inner, prefix: prefix + name + (isList ? "[].": "."))
                }
            }
        }
        rows(attributes, prefix: prefix)
        return text
    }

    /// What an example writes for a required attribute.
    static func placeholder(_ a: AttributeSchema) -> String {
        if let type = a.referenceType {
            if case .list = a.type { return "[\"${\(type).NAME}\"]" }
            return "${\(type).NAME}"
        }
        switch a.type {
        case .int: return "1"
        case .number: return "0.5"
        case .bool: return "true"
        case .duration: return "30s"
        case .list: return "[]"
        case .map, .object: return "{}"
        default: return a.allowed?.first ?? "\"…\""
        }
    }
}
