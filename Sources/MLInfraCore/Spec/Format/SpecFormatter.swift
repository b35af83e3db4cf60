import Foundation

/// `mlinfra fmt`: the canonical layout of spec YAML, keeping every comment.
///
/// The formatter works on lines, as `terraform fmt` does on tokens, so comments, quoting and
/// key order stay exactly as written. What it changes:
/// - nesting is indented by two spaces per level, a sequence under its key included;
/// - `key:   value` becomes `key: value`, and a one-line flow mapping is spaced `{ a: 1, b: 2 }`,
///   a flow sequence `[a, b]`;
/// - trailing whitespace goes (not inside block scalars, where it is content), runs of blank
///   lines become one, and the file ends with one newline;
/// - a comment line takes the indentation of the line it precedes.
///
/// The result is parsed and compared with the original, node by node (`sameMeaning`); when they
/// differ, or either does not parse, the file is left as it is and the caller says why.
public enum SpecFormatter {
    public enum Outcome: Sendable, Equatable {
        /// The canonical text (equal to the input when it was already canonical).
        case formatted(String)
        /// Formatting would change what the file means (a construct the formatter does not know), or it does not parse.
        case refused(String)
    }

    /// The canonical text of `text`, checked to mean what `text` means; `file` names it in messages.
    public static func format(_ text: String, file: String) -> Outcome {
        let original = YAMLLoader.load(Array(text.utf8), file: file)
        guard let before = original.root, !original.diagnostics.hasErrors else {
            let first = original.diagnostics.items.first { $0.severity == .error }
            return .refused("\(first.map { "\($0.location.map { "\($0): " } ?? "")\($0.summary)" } ?? "it is not YAML"); fix it, then run fmt again")
        }
        let formatted = layout(text)
        let after = YAMLLoader.load(Array(formatted.utf8), file: file)
        guard let root = after.root, !after.diagnostics.hasErrors, sameMeaning(before, root) else {
            return .refused("formatting would change what the file means (a layout fmt does not know); it was left as it is")
        }
        return .formatted(formatted)
    }

    /// Whether two documents hold the same nodes: contents, scalar styles and tags, in order (not their places).
    static func sameMeaning(_ a: YAMLNode, _ b: YAMLNode) -> Bool {
        guard a.tag == b.tag else { return false }
        switch (a.content, b.content) {
        case (.scalar(let x, let sx), .scalar(let y, let sy)): return x == y && sx == sy
        case (.sequence(let xs), .sequence(let ys)): return xs.count == ys.count && zip(xs, ys).allSatisfy { sameMeaning($0, $1) }
        case (.mapping(let xs), .mapping(let ys)):
            return xs.count == ys.count && zip(xs, ys).allSatisfy { sameMeaning($0.key, $1.key) && sameMeaning($0.value, $1.value) }
        default: return false
        }
    }

    // MARK: layout

    private struct Level {
        var old: Int
        var new: Int
        /// A sequence written at its key's own indentation (`key:\n- a`): only `- ` lines stay in it.
        var indentlessSequence = false
    }

    private struct BlockScalar {
        var parentOld: Int
        var parentNew: Int
        var contentIndent: Int?
        /// `|+` / `>+`: its trailing blank lines are part of its value.
        var keepsTrailingLines = false
    }

    /// The canonical layout, unchecked.
    static func layout(_ text: String) -> String {
        var out: [String] = []
        var levels = [Level(old: 0, new: 0)]
        var opened: Level?  // the level whose children the previous line announced (`key:`, `-`)
        var openedByKey = false
        var lastDelta = 0
        var block: BlockScalar?
        var pendingComments: [(indent: Int, text: Substring)] = []
        var blankPending = false

        func emitBlank() {
            if blankPending, !out.isEmpty, out.last != "" { out.append("") }
            blankPending = false
        }

        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if text.hasSuffix("\n") { lines.removeLast() }  // the empty piece after the final newline
        for raw in lines {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let indent = line.prefix { $0 == " " }.count
            let body = line.dropFirst(indent)

            if let b = block {
                let blank = body.allSatisfy { $0 == " " || $0 == "\t" }
                if blank || indent > b.parentOld {
                    if blank {
                        let keep = b.contentIndent.map { line.count > $0 } ?? false
                        out.append(keep ? String(repeating: " ", count: b.parentNew - b.parentOld + line.count) : "")
                    } else {
                        if block!.contentIndent == nil { block!.contentIndent = indent }
                        out.append(String(repeating: " ", count: max(0, indent + b.parentNew - b.parentOld)) + body)
                    }
                    continue
                }
                block = nil
                // A block scalar's trailing blank lines are kept above as its own; the next line starts fresh.
            }

            let trimmed = body.trimmingTrailingWhitespace()
            if trimmed.isEmpty {
                blankPending = true
                continue
            }
            if trimmed.hasPrefix("#") {
                if pendingComments.isEmpty { emitBlank() } else if blankPending { pendingComments.append((0, "")); blankPending = false }
                pendingComments.append((indent, trimmed))
                continue
            }
            if indent == 0, trimmed == "---" || trimmed == "..." || trimmed.hasPrefix("--- ") || trimmed.hasPrefix("%") {
                flushComments(&pendingComments, at: 0, into: &out)
                emitBlank()
                out.append(String(trimmed))
                levels = [Level(old: 0, new: 0)]
                opened = nil
                continue
            }

            let isItem = trimmed == "-" || trimmed.hasPrefix("- ")
            var newIndent: Int
            if let parent = opened, indent > parent.old {
                newIndent = parent.new + 2
                levels.append(Level(old: indent, new: newIndent))
            } else if let parent = opened, indent == parent.old, isItem, openedByKey {
                newIndent = parent.new + 2
                levels.append(Level(old: indent, new: newIndent, indentlessSequence: true))
            } else {
                while levels.count > 1, levels.last!.old > indent || (levels.last!.indentlessSequence && levels.last!.old == indent && !isItem) {
                    levels.removeLast()
                }
                if levels.last!.old == indent {
                    newIndent = levels.last!.new
                } else {
                    newIndent = max(0, indent + lastDelta)  // a continuation line: keeps its place relative to the line above
                }
            }
            opened = nil
            openedByKey = false
            lastDelta = newIndent - indent

            // What this line announces: a nested block, a block scalar, or (for `- key: v`) a mapping inside the item.
            var rest = trimmed
            var restOld = indent
            var restNew = newIndent
            var rendered = ""
            while rest == "-" || rest.hasPrefix("- ") {
                rendered += "- "
                rest = rest.dropFirst(1).drop { $0 == " " }
                if rest.isEmpty {
                    opened = Level(old: restOld, new: restNew)
                    break
                }
                let column = trimmed.count - rest.count
                restOld = indent + column
                restNew = newIndent + rendered.count
                if !(rest == "-" || rest.hasPrefix("- ")) { levels.append(Level(old: restOld, new: restNew)) }
            }
            if !rest.isEmpty {
                if let (key, value) = splitKey(rest) {
                    let spacedValue = value.isEmpty ? "" : " " + spaceFlow(value)
                    rendered += key + ":" + spacedValue
                    let announced = stripComment(value)
                    if announced.isEmpty || isNodeProperties(announced) {
                        opened = Level(old: restOld, new: restNew)
                        openedByKey = true
                    } else if isBlockScalarHeader(announced) {
                        block = BlockScalar(parentOld: restOld, parentNew: restNew, keepsTrailingLines: announced.contains("+"))
                    }
                } else {
                    let header = stripComment(rest)
                    if isBlockScalarHeader(header) { block = BlockScalar(parentOld: restOld, parentNew: restNew, keepsTrailingLines: header.contains("+")) }
                    rendered += spaceFlow(rest)
                }
            } else if rendered.hasSuffix(" ") {
                rendered.removeLast()
            }
            flushComments(&pendingComments, at: newIndent, into: &out)
            emitBlank()
            out.append(String(repeating: " ", count: newIndent) + rendered)
        }
        flushComments(&pendingComments, at: 0, into: &out)
        if block?.keepsTrailingLines != true { while out.last == "" { out.removeLast() } }
        while out.first == "" { out.removeFirst() }
        return out.isEmpty ? "" : out.joined(separator: "\n") + "\n"
    }

    /// Comment lines go at the indentation of the line they precede; those at column 0 stay there.
    private static func flushComments(_ comments: inout [(indent: Int, text: Substring)], at indent: Int, into out: inout [String]) {
        for c in comments {
            if c.text.isEmpty {
                if out.last != "" { out.append("") }
            } else {
                out.append(String(repeating: " ", count: c.indent == 0 ? 0 : indent) + c.text)
            }
        }
        comments = []
    }

    /// `key` and what follows `key:` (trimmed), when `text` starts a mapping entry; nil otherwise.
    static func splitKey(_ text: Substring) -> (key: Substring, value: Substring)? {
        guard let first = text.first, !"[{&*!|>'\"%@`#".contains(first) || first == "'" || first == "\"" else { return nil }
        var i = text.startIndex
        if first == "'" || first == "\"" {
            guard let end = closingQuote(text, from: i) else { return nil }
            i = text.index(after: end)
            guard i < text.endIndex, text[i] == ":" else { return nil }
        } else {
            while i < text.endIndex {
                let c = text[i]
                if c == ":" {
                    let next = text.index(after: i)
                    if next == text.endIndex || text[next] == " " { break }
                }
                if c == "#", i > text.startIndex, text[text.index(before: i)] == " " { return nil }
                i = text.index(after: i)
            }
            guard i < text.endIndex else { return nil }
        }
        let key = text[text.startIndex..<i].trimmingTrailingWhitespace()
        let value = text[text.index(after: i)...].drop { $0 == " " }
        return (key, value)
    }

    /// The index of the quote that closes the one at `start` (`''` inside single quotes, `\"` inside double).
    private static func closingQuote(_ text: Substring, from start: Substring.Index) -> Substring.Index? {
        let quote = text[start]
        var i = text.index(after: start)
        while i < text.endIndex {
            let c = text[i]
            if quote == "\"", c == "\\" {
                i = text.index(after: i)
                if i < text.endIndex { i = text.index(after: i) }
                continue
            }
            if c == quote {
                let next = text.index(after: i)
                if quote == "'", next < text.endIndex, text[next] == "'" {
                    i = text.index(after: next)
                    continue
                }
                return i
            }
            i = text.index(after: i)
        }
        return nil
    }

    /// `value` without a trailing ` # comment` (outside quotes).
    static func stripComment(_ value: Substring) -> Substring {
        var i = value.startIndex
        while i < value.endIndex {
            let c = value[i]
            if c == "'" || c == "\"", i == value.startIndex || " [{,".contains(value[value.index(before: i)]) {
                guard let end = closingQuote(value, from: i) else { return value }
                i = value.index(after: end)
                continue
            }
            if c == "#", i == value.startIndex || value[value.index(before: i)] == " " {
                return value[value.startIndex..<i].trimmingTrailingWhitespace()
            }
            i = value.index(after: i)
        }
        return value
    }

    /// `|`, `>-`, `|2+` …: the header of a literal or folded block scalar.
    static func isBlockScalarHeader(_ text: Substring) -> Bool {
        let words = text.split(separator: " ").filter { !$0.hasPrefix("!") && !$0.hasPrefix("&") }
        guard let header = words.first, words.count == 1, let first = header.first, first == "|" || first == ">" else { return false }
        return header.dropFirst().allSatisfy { "+-123456789".contains($0) }
    }

    /// Only an anchor and/or a tag (`&base`, `!!map`): the node itself follows on the next lines.
    static func isNodeProperties(_ text: Substring) -> Bool {
        text.split(separator: " ").allSatisfy { $0.hasPrefix("&") || $0.hasPrefix("!") }
    }

    /// A value that is a one-line flow collection, spaced canonically (`{ a: 1, b: [x, y] }`); anything else as it is.
    static func spaceFlow(_ value: Substring) -> String {
        guard let first = value.first, first == "{" || first == "[" else { return String(value) }
        var out = ""
        var stack: [Character] = []
        var i = value.startIndex
        func dropSpaces() { while out.last == " " { out.removeLast() } }
        while i < value.endIndex {
            let c = value[i]
            if c == "'" || c == "\"" {
                guard let end = closingQuote(value, from: i) else { return String(value) }
                out += value[i...end]
                i = value.index(after: end)
                continue
            }
            switch c {
            case "{", "[":
                stack.append(c)
                out.append(c)
                if c == "{" { out.append(" ") }
            case "}", "]":
                guard let open = stack.popLast(), (open == "{") == (c == "}") else { return String(value) }
                dropSpaces()
                if c == "}", out.last != "{" { out.append(" ") }
                out.append(c)
                if stack.isEmpty {
                    // The collection ends here; a comment may follow.
                    let tail = value[value.index(after: i)...]
                    return out + (tail.isEmpty ? "" : (tail.first == " " ? "" : " ") + tail)
                }
            case ",":
                dropSpaces()
                out += ", "
            case " ":
                if out.last != " " { out.append(" ") }
            case ":":
                out.append(":")
                let next = value.index(after: i)
                if next < value.endIndex, value[next] == " " { out.append(" ") }
            default:
                out.append(c)
            }
            if c == " " || c == "," || c == "{" || c == "[" || (c == ":" && out.last == " ") {
                // Skip the spaces that follow; one was written.
                var j = value.index(after: i)
                while j < value.endIndex, value[j] == " " { j = value.index(after: j) }
                i = j
                continue
            }
            i = value.index(after: i)
        }
        return String(value)  // not closed on this line: a multi-line flow collection, left as written
    }
}

extension Substring {
    func trimmingTrailingWhitespace() -> Substring {
        var s = self
        while let last = s.last, last == " " || last == "\t" { s.removeLast() }
        return s
    }
}
