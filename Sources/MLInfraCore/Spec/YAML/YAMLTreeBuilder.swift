/// Builds a `YAMLNode` tree from libyaml events on an explicit stack, enforcing `YAMLLimits`.
///
/// Every collection being read is a `Frame`; a finished node is attached to the
/// frame below it. Each node carries its subtree's size and height, so an alias
/// can be checked against the limits in O(1) before it is expanded.
struct YAMLTreeBuilder {
    enum Step { case more, finished }

    private struct Frame {
        var isMapping: Bool
        var isFlow: Bool
        var location: SourceLocation
        var tag: String?
        var anchor: String?
        var items: [YAMLNode] = []
        var pairs: [YAMLPair] = []
        /// A mapping's key whose value has not arrived yet.
        var pendingKey: YAMLNode?
        var pendingKeyIsMerge = false
        var pendingKeyIsInvalid = false
        /// Pairs brought in by `<<` merge keys, to be inserted at `position` in `pairs`.
        var merges: [(position: Int, pairs: [YAMLPair])] = []
        var count = 1
        var height = 1

        /// Small mappings are checked for duplicates as keys arrive; larger ones once, when they end,
        /// with a table sized up front (rehashing a growing table dominated the cost of big specs).
        static let linearScanLimit = 16

        /// The pairs with merged ones inserted: explicit keys win, then earlier merges over later ones.
        func mergedPairs() -> [YAMLPair] {
            guard !merges.isEmpty else { return pairs }
            var seen = Set(pairs.map(\.keyText))
            var result: [YAMLPair] = []
            var m = 0
            for i in 0...pairs.count {
                while m < merges.count, merges[m].position == i {
                    for pair in merges[m].pairs where seen.insert(pair.keyText).inserted { result.append(pair) }
                    m += 1
                }
                if i < pairs.count { result.append(pairs[i]) }
            }
            return result
        }
    }

    private enum Anchor {
        case open
        case done(node: YAMLNode, count: Int, height: Int)
    }

    let file: String
    let limits: YAMLLimits
    private(set) var diagnostics = Diagnostics()
    private var root: YAMLNode?
    private var failed = false
    private var documents = 0
    private var stack: [Frame] = []
    private var flowDepth = 0
    private var anchors: [String: Anchor] = [:]
    private var nodes = 0
    private var aliasNodes = 0
    private var recoverableErrors = 0

    init(file: String, limits: YAMLLimits) {
        self.file = file
        self.limits = limits
    }

    /// The root (nil after a fatal error) and every diagnostic.
    func result() -> (root: YAMLNode?, diagnostics: Diagnostics) {
        (failed ? nil : root, diagnostics)
    }

    /// Records a fatal error: nothing more is read and no root is returned.
    mutating func fail(_ diagnostic: Diagnostic) {
        diagnostics.append(diagnostic)
        failed = true
    }

    private func location(_ mark: LibYAMLMark) -> SourceLocation {
        SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1)
    }

    mutating func consume(_ event: LibYAMLEvent, at mark: LibYAMLMark) -> Step {
        switch event {
        case .streamStart, .documentEnd:
            return .more
        case .streamEnd:
            return .finished
        case .documentStart:
            documents += 1
            if documents > 1 {
                fail(.error(
                    "a spec file holds one YAML document; this is a second one",
                    detail: "Remove the `---` line and merge the documents, or move the second document into its own file in the spec directory.",
                    at: location(mark)))
                return .finished
            }
            return .more
        case .scalar(let text, let anchor, let tag, let style):
            let at = location(mark)
            guard countNodes(1, at: at) else { return .finished }
            let shortTag = tag.map(YAMLScalarResolver.shortTag)
            // A key counts by its text, so only values are checked for what their text resolves to.
            let isKeyPosition = expectsKey
            if let shortTag, !["!", "!!str", "!!int", "!!float", "!!bool", "!!null"].contains(shortTag) {
                guard reportUnsupportedTag(shortTag, allowed: "`!!str`, `!!int`, `!!float`, `!!bool` or `!!null`", at: at)
                else { return .finished }
            } else if (style == .plain || shortTag != nil) && !isKeyPosition {
                if let problem = YAMLScalarResolver.resolve(text, style: style, tag: shortTag).problem {
                    guard recoverable(.error(problem.summary, detail: problem.detail, at: at)) else { return .finished }
                }
            }
            let node = YAMLNode(.scalar(text, style), location: at, tag: shortTag)
            if let anchor { anchors[anchor] = .done(node: node, count: 1, height: 0) }
            return attach(node, count: 1, height: 0)
        case .alias(let name):
            let at = location(mark)
            switch anchors[name] {
            case .done(var node, let count, let height):
                if aliasNodes + count > limits.maxAliasExpansions {
                    fail(.error(
                        "alias `*\(YAMLSyntaxMessages.excerpt(name))` expands the document beyond \(limits.maxAliasExpansions) values; refusing a possible alias bomb",
                        detail: "Each use of an alias copies the anchored value and nested aliases multiply; use fewer aliases, or write the values out.",
                        at: at))
                    return .finished
                }
                aliasNodes += count
                guard countNodes(count, at: at) else { return .finished }
                if stack.count + height > limits.maxDepth {
                    fail(depthError(at: at, via: name))
                    return .finished
                }
                node.location = at
                return attach(node, count: count, height: height)
            case .open:
                guard recoverable(.error(
                    "alias `*\(YAMLSyntaxMessages.excerpt(name))` refers to a value that contains it",
                    detail: "A value cannot include itself; copy the part you need instead of aliasing its own anchor.",
                    at: at))
                else { return .finished }
            case nil:
                guard recoverable(.error(
                    "alias `*\(YAMLSyntaxMessages.excerpt(name))` refers to no anchor",
                    detail: "Define the anchor first with `&\(name)` on the value to reuse (anchors must come before their aliases).",
                    at: at))
                else { return .finished }
            }
            return attach(YAMLNode(.scalar("", .plain), location: at), count: 0, height: 0)
        case .sequenceStart(let anchor, let tag, let flow), .mappingStart(let anchor, let tag, let flow):
            let at = location(mark)
            let isMapping = if case .mappingStart = event { true } else { false }
            if stack.count + 1 > limits.maxDepth {
                fail(depthError(at: at, via: nil))
                return .finished
            }
            if flow {
                flowDepth += 1
                if flowDepth > limits.maxFlowDepth {
                    fail(.error(
                        "brackets `[…]` / `{…}` are nested deeper than \(limits.maxFlowDepth) levels",
                        detail: "Write the inner levels as indented block lists and mappings instead of nesting brackets this deep.",
                        at: at))
                    return .finished
                }
            }
            guard countNodes(1, at: at) else { return .finished }
            let shortTag = tag.map(YAMLScalarResolver.shortTag)
            if let shortTag, shortTag != "!", shortTag != (isMapping ? "!!map" : "!!seq") {
                guard reportUnsupportedTag(shortTag, allowed: isMapping ? "`!!map`" : "`!!seq`", at: at)
                else { return .finished }
            }
            if let anchor { anchors[anchor] = .open }
            stack.append(Frame(isMapping: isMapping, isFlow: flow, location: at, tag: shortTag, anchor: anchor))
            return .more
        case .sequenceEnd, .mappingEnd:
            guard var frame = stack.popLast() else { return .more }
            if frame.isFlow { flowDepth -= 1 }
            let content: YAMLNode.Content
            if frame.isMapping {
                guard let pairs = finishedPairs(&frame) else { return .finished }
                content = .mapping(pairs)
            } else {
                content = .sequence(frame.items)
            }
            let node = YAMLNode(content, location: frame.location, tag: frame.tag)
            if let anchor = frame.anchor { anchors[anchor] = .done(node: node, count: frame.count, height: frame.height) }
            return attach(node, count: frame.count, height: frame.height)
        }
    }

    /// True when the next node is a mapping key (read through the subscript, so no frame is copied).
    private var expectsKey: Bool {
        guard let top = stack.indices.last else { return false }
        return stack[top].isMapping && stack[top].pendingKey == nil
    }

    private mutating func attach(_ node: YAMLNode, count: Int, height: Int) -> Step {
        guard !stack.isEmpty else {
            root = node
            return .more
        }
        let top = stack.count - 1
        stack[top].count += count
        stack[top].height = max(stack[top].height, height + 1)
        guard stack[top].isMapping else {
            stack[top].items.append(node)
            return .more
        }
        guard let key = stack[top].pendingKey.take() else {
            stack[top].pendingKey = node
            guard case .scalar(let text, let style) = node.content else {
                stack[top].pendingKeyIsInvalid = true
                return recoverable(.error(
                    "a mapping key must be a single value such as a name, not \(article(node.kindName))",
                    detail: "Use a plain name as the key; put the \(node.kindName) under it as the value.",
                    at: node.location)) ? .more : .finished
            }
            stack[top].pendingKeyIsMerge = text == "<<" && style == .plain && node.tag == nil
            return .more
        }
        let isMerge = stack[top].pendingKeyIsMerge
        let isInvalid = stack[top].pendingKeyIsInvalid
        stack[top].pendingKeyIsMerge = false
        stack[top].pendingKeyIsInvalid = false
        if isInvalid { return .more }
        if isMerge { return merge(node, into: top) }
        if stack[top].pairs.count < Frame.linearScanLimit {
            let text = key.scalarText ?? ""
            if let existing = stack[top].pairs.first(where: { $0.keyText == text }) {
                return duplicate(key, first: existing.key) ? .more : .finished
            }
        }
        stack[top].pairs.append(YAMLPair(key: key, value: node))
        return .more
    }

    private mutating func duplicate(_ key: YAMLNode, first: YAMLNode) -> Bool {
        recoverable(.error(
            "`\(YAMLSyntaxMessages.excerpt(key.scalarText ?? ""))` is already defined at \(first.location)",
            detail: "A key may appear once in a mapping; remove one of the two entries or combine them.",
            at: key.location))
    }

    /// A finished mapping's pairs: later duplicates of a key dropped (and reported), merges applied.
    private mutating func finishedPairs(_ frame: inout Frame) -> [YAMLPair]? {
        if frame.pairs.count > Frame.linearScanLimit {
            var firstIndex: [String: Int] = Dictionary(minimumCapacity: frame.pairs.count)
            var duplicates: [Int] = []
            // Indexing (not iterating copies of the pairs) keeps this loop free of reference counting.
            for i in frame.pairs.indices {
                let text = frame.pairs[i].keyText
                if let first = firstIndex.updateValue(i, forKey: text) {
                    firstIndex[text] = first
                    guard duplicate(frame.pairs[i].key, first: frame.pairs[first].key) else { return nil }
                    duplicates.append(i)
                }
            }
            if !duplicates.isEmpty {
                let dropped = Set(duplicates)
                frame.pairs = frame.pairs.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
                for m in frame.merges.indices {
                    frame.merges[m].position -= duplicates.count { $0 < frame.merges[m].position }
                }
            }
        }
        return frame.mergedPairs()
    }

    /// Handles `<<: *defaults` and `<<: [*a, *b]`: the pairs are inserted where the merge key stands.
    private mutating func merge(_ value: YAMLNode, into top: Int) -> Step {
        let position = stack[top].pairs.count
        switch value.content {
        case .mapping(let pairs):
            stack[top].merges.append((position, pairs))
            return .more
        case .sequence(let items):
            for item in items {
                guard case .mapping(let pairs) = item.content else {
                    return mergeError(item)
                }
                stack[top].merges.append((position, pairs))
            }
            return .more
        case .scalar:
            return mergeError(value)
        }
    }

    private mutating func mergeError(_ node: YAMLNode) -> Step {
        recoverable(.error(
            "a merge key `<<` takes a mapping or a list of mappings, not \(article(node.kindName))",
            detail: "Write `<<: *defaults` where `&defaults` names a mapping, or `<<: [*a, *b]`; quote \"<<\" if it is meant as an ordinary key.",
            at: node.location)) ? .more : .finished
    }

    private func article(_ kind: String) -> String {
        (kind.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + kind
    }

    private mutating func countNodes(_ n: Int, at: SourceLocation) -> Bool {
        nodes += n
        if nodes > limits.maxNodes {
            fail(.error(
                "the document has more than \(limits.maxNodes) values",
                detail: "Split the spec into several files, or reduce its size; every use of an alias counts its whole value.",
                at: at))
            return false
        }
        return true
    }

    private func depthError(at: SourceLocation, via alias: String?) -> Diagnostic {
        let through = alias.map { " (through alias `*\(YAMLSyntaxMessages.excerpt($0))`)" } ?? ""
        return .error(
            "the document is nested deeper than \(limits.maxDepth) levels\(through)",
            detail: "mlinfra refuses deeper nesting to stay safe on hostile input; a spec needs only a few levels, so flatten this structure.",
            at: at)
    }

    private mutating func reportUnsupportedTag(_ tag: String, allowed: String, at: SourceLocation) -> Bool {
        recoverable(.error(
            "unsupported tag `\(YAMLSyntaxMessages.excerpt(tag))`",
            detail: "mlinfra specs use only the YAML core tags; here that is \(allowed). Remove the tag.",
            at: at))
    }

    /// Records an error that does not stop reading, until there are too many of them.
    private mutating func recoverable(_ diagnostic: Diagnostic) -> Bool {
        diagnostics.append(diagnostic)
        recoverableErrors += 1
        if recoverableErrors >= limits.maxErrors {
            fail(.error(
                "too many errors (\(recoverableErrors)); stopped reading",
                detail: "Fix the errors above and run again.", at: diagnostic.location))
            return false
        }
        return true
    }
}
