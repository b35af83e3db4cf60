/// The spec's `moved:`, `import:` and `removed:` blocks with their addresses evaluated: changes to
/// what state records that a reviewer sees in the plan, instead of a hand-run `state mv`,
/// `import` or `state rm`.
public struct StateBlocks: Sendable {
    public struct Move: Sendable, Hashable {
        /// A resource (every instance moves, keeping its key) or one instance.
        public var from: ResourceAddress
        public var to: ResourceAddress
        public var location: SourceLocation
    }

    public struct Import: Sendable, Hashable {
        public var to: ResourceAddress
        public var id: String
        public var location: SourceLocation
    }

    public struct Removal: Sendable, Hashable {
        public var from: ResourceAddress
        public var location: SourceLocation
    }

    public var moves: [Move] = []
    public var imports: [Import] = []
    public var removals: [Removal] = []

    public init() {}

    public var isEmpty: Bool { moves.isEmpty && imports.isEmpty && removals.isEmpty }

    /// Evaluates the blocks (once per `for_each` item) and checks them against the spec's instances.
    static func resolve(
        _ blocks: [StateBlock], evaluator base: Evaluator, instances: [String: [String]], byAddress: [String: Int],
        diagnostics: inout Diagnostics
    ) -> StateBlocks {
        var out = StateBlocks()
        for block in blocks {
            var items: [(String, Value)?] = [nil]
            if let forEach = block.forEach {
                var evaluator = base
                let value = evaluator.evaluate(forEach, diagnostics: &diagnostics)
                items = ForEachItems.items(of: value.value, at: forEach.location, diagnostics: &diagnostics)
            }
            for item in items {
                var evaluator = base
                evaluator.each = item.map { (key: $0.0, value: $0.1) }
                func address(_ expr: SpecExpr?, _ role: String) -> ResourceAddress? {
                    guard let expr else { return nil }
                    let value = evaluator.evaluate(expr, diagnostics: &diagnostics).value
                    guard let text = value.stringValue,
                        let parsed = ResourceAddress(parsing: (block.module.map { $0 + "." } ?? "") + text)
                    else {
                        diagnostics.append(.error(
                            "`\(role)` of a `\(block.kind.rawValue)` entry must be a resource address, not \(value.rendered)",
                            detail: "Write TYPE.NAME or TYPE.NAME[\"KEY\"], optionally behind module.NAME.; in YAML, quote an address with `[\"…\"]` in single quotes.",
                            at: expr.location))
                        return nil
                    }
                    return parsed
                }
                switch block.kind {
                case .moved:
                    guard let from = address(block.from, "from"), let to = address(block.to, "to") else { continue }
                    if from == to {
                        diagnostics.append(.error("a `moved` entry moves `\(from)` to itself", detail: "Remove it, or fix `to`.", at: block.location))
                    } else if from.type != to.type {
                        diagnostics.append(.error(
                            "`moved` cannot turn a `\(from.type)` into a `\(to.type)`",
                            detail: "A move keeps the resource type; to change the type, remove the old resource and create the new one.",
                            at: block.location))
                    } else {
                        out.moves.append(Move(from: from, to: to, location: block.location))
                    }
                case .import:
                    guard let to = address(block.to, "to"), let idExpr = block.id else { continue }
                    let id = evaluator.evaluate(idExpr, diagnostics: &diagnostics).value
                    guard let text = id.interpolated, !text.isEmpty else {
                        diagnostics.append(.error(
                            "`id` of an `import` entry must be text, not \(id.rendered)", detail: "Write the provider's id of the object.",
                            at: idExpr.location))
                        continue
                    }
                    guard byAddress[to.description] != nil else {
                        diagnostics.append(.error(
                            "`import` names `\(to)`, which is not an instance in the spec",
                            detail: "Declare the resource first; an import brings an existing object under an address the spec has."
                                + Suggestions.didYouMean(to.description, in: byAddress.keys),
                            at: block.to?.location ?? block.location))
                        continue
                    }
                    out.imports.append(Import(to: to, id: text, location: block.location))
                case .removed:
                    guard let from = address(block.from, "from") else { continue }
                    if byAddress[from.description] != nil || (from.key == nil && instances[from.resource] != nil) {
                        diagnostics.append(.error(
                            "`removed` names `\(from)`, which is still in the spec",
                            detail: "Take it out of `resources:` too: a removed block forgets what the spec no longer declares.",
                            at: block.location))
                        continue
                    }
                    out.removals.append(Removal(from: from, location: block.location))
                }
            }
        }
        return out
    }
}

/// The items of a `for_each` value: a list of strings (each its own key) or a map (sorted by key).
enum ForEachItems {
    static func items(of value: Value, at location: SourceLocation, address: String? = nil, diagnostics: inout Diagnostics) -> [(String, Value)] {
        switch value {
        case .list(let list):
            var items: [(String, Value)] = []
            for item in list {
                guard let key = item.interpolated else {
                    diagnostics.append(.error("`for_each` list items must be strings", at: location, address: address))
                    continue
                }
                items.append((key, item))
            }
            return items
        case .map(let map):
            return map.keys.sorted().map { ($0, map[$0]!) }
        default:
            diagnostics.append(.error("`for_each` must be a list or a map, not \(value.kindName)", at: location, address: address))
            return []
        }
    }
}
