/// Turns what libyaml and the byte check report into diagnostics in plain words.
enum YAMLSyntaxMessages {
    static let tabSummary = "tabs are not allowed for indentation in YAML; use spaces"
    static let tabDetail =
        "Replace the tab characters at the start of this line with spaces (most editors can convert tabs to spaces); indent nested keys by two spaces."

    static func diagnostic(for problem: YAMLSourceText.Problem, in source: YAMLSourceText, file: String) -> Diagnostic {
        func at(_ offset: Int) -> SourceLocation {
            let (line, column) = source.position(ofByte: offset)
            return SourceLocation(file: file, line: line, column: column)
        }
        switch problem {
        case .utf16:
            return .error(
                "the file is UTF-16 encoded; YAML specs must be UTF-8",
                detail: "Save the file as UTF-8 (for example `iconv -f UTF-16 -t UTF-8`).",
                at: SourceLocation(file: file, line: 1, column: 1))
        case .invalidUTF8(let offset, let byte):
            return .error(
                "the file is not valid UTF-8 text (byte 0x\(hex(UInt32(byte), width: 2)))",
                detail: "Specs must be UTF-8 YAML text. If this is a binary file, it does not belong in the spec directory; otherwise re-save it as UTF-8.",
                at: at(offset))
        case .nul(let offset):
            return .error(
                "the file contains a NUL byte; it looks like a binary file, not YAML text",
                detail: "Specs must be UTF-8 YAML text. Remove the file from the spec directory or re-save it as plain text.",
                at: at(offset))
        case .controlCharacter(let offset, let scalar):
            return .error(
                "control character U+\(hex(scalar, width: 4)) is not allowed in YAML",
                detail: "Delete the invisible character; to put one in a value, write it as an escape inside double quotes (\"\\u\(hex(scalar, width: 4))\").",
                at: at(offset))
        }
    }

    static func diagnostic(for error: LibYAMLParseError, in source: YAMLSourceText, file: String) -> Diagnostic {
        func location(_ mark: LibYAMLMark) -> SourceLocation {
            SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1)
        }
        guard let mark = error.problemMark else {
            let (line, column) = source.position(ofByte: error.problemOffset)
            let summary = error.kind == .memory ? "out of memory while reading YAML" : "cannot read the file as YAML text: \(error.problem)"
            return .error(
                summary, detail: "Make sure the file is UTF-8 YAML text.",
                at: SourceLocation(file: file, line: line, column: column))
        }
        let here = location(mark)
        let contextAt = error.contextMark.map(location)
        let offset = source.byteOffset(of: mark)
        let character = offset.flatMap { $0 < source.bytes.count ? source.bytes[$0] : nil }

        if error.problem.contains("tab character") || character == 0x09
            || leadingWhitespaceHasTab(source.line(of: mark))
        {
            let tabAt = tabLocation(on: mark, in: source, file: file) ?? here
            return .error(tabSummary, detail: tabDetail, at: tabAt)
        }

        if let quoted = unquotedInterpolationInFlow(source, lines: (contextAt?.line ?? here.line)...here.line, file: file) {
            return quoted
        }

        let context = error.context ?? ""
        switch error.problem {
        case "found unexpected end of stream" where context.contains("quoted scalar"),
            "found unexpected document indicator" where context.contains("quoted scalar"):
            let opening = contextAt ?? here
            let quote = error.contextMark.flatMap(source.byteOffset(of:)).map { source.bytes[$0] == 0x27 ? "'" : "\"" } ?? "\""
            return .error(
                "unclosed quote: the string that starts here has no closing \(quote)",
                detail: "Add the closing \(quote) at the end of the value (the file ended, or a new document began, at \(here) while still inside the string).",
                at: opening)
        case "found character that cannot start any token":
            let shown = excerpt(offset.map(source.character(at:)) ?? "")
            if shown == "@" || shown == "`" {
                return .error(
                    "`\(shown)` cannot start a plain value; it is reserved in YAML",
                    detail: "Quote the value, e.g. \"\(shown)value\".", at: here)
            }
            return .error(
                "unexpected character `\(shown)`",
                detail: "This character cannot start a YAML token here; quote the value if it is text, or check the indentation.",
                at: here)
        case "mapping values are not allowed in this context":
            return .error(
                "unexpected `:` here",
                detail: "A value that contains \": \" must be quoted (a: \"b: c\"). Otherwise check this line's indentation, and whether a line above is missing its `:`.",
                at: here)
        case "block sequence entries are not allowed in this context":
            return .error(
                "a list item `- ` is not allowed here",
                detail: "Start the list on a new line under its key, indented further than the key, or check the indentation of this line.",
                at: here)
        case "did not find expected key":
            if let line = source.line(of: mark), mark.column > firstNonSpaceColumn(line) {
                return .error(
                    "unexpected text after a value",
                    detail: "A value ended before this text; quote the whole value if it is meant to include it, or put it on its own line.",
                    at: here)
            }
            let mappingAt = contextAt.map { " that starts at \($0)" } ?? ""
            return .error(
                "bad indentation: this line does not line up with the keys of the mapping\(mappingAt)",
                detail: "Indent each key of a mapping by the same number of spaces; a nested value must be indented further than its key.",
                at: here)
        case "did not find expected '-' indicator":
            let listAt = contextAt.map { " that starts at \($0)" } ?? ""
            return .error(
                "bad indentation: expected a list item `- ` lined up with the list\(listAt)",
                detail: "Indent every `- ` of a list by the same number of spaces; a key under a list item lines up with the text after `- `.",
                at: here)
        case "did not find expected ',' or ']'":
            let listAt = contextAt.map { " that starts at \($0)" } ?? ""
            return .error(
                "unclosed `[`: the list\(listAt) is missing a `]` or a `,`",
                detail: "Close the flow list with `]` and separate its items with commas.", at: here)
        case "did not find expected ',' or '}'":
            let mapAt = contextAt.map { " that starts at \($0)" } ?? ""
            return .error(
                "unclosed `{`: the mapping\(mapAt) is missing a `}` or a `,`",
                detail: "Close the flow mapping with `}` and separate its entries with commas.", at: here)
        case "did not find expected <document start>":
            return .error(
                "unexpected text after the end of the document",
                detail: "Look for an extra closing bracket, or a line at the wrong indentation.", at: here)
        case "did not find expected node content":
            return .error(
                "a value is missing here",
                detail: "Write a value, or quote the text if it starts with a YAML indicator such as `]`, `}`, `,` or `|`.",
                at: here)
        case "could not find expected ':'":
            return .error(
                "missing `:` after a key",
                detail: "A key must be followed by `:` on the same line (and be at most 1024 characters); quote the text if it is not a key.",
                at: contextAt ?? here)
        case "found unknown escape character":
            return .error(
                "unknown escape sequence in a double-quoted string",
                detail: "Inside double quotes write `\\\\` for a backslash, or use single quotes, where backslashes have no meaning.",
                at: here)
        case "found undefined tag handle":
            return .error(
                "unknown tag handle",
                detail: "mlinfra specs use only the core tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!seq`, `!!map`); remove the tag.",
                at: here)
        case "did not find expected alphabetic or numeric character" where context.contains("alias") || context.contains("anchor"):
            return .error(
                "an anchor or alias needs a name",
                detail: "Write the name right after the sign, e.g. `&defaults` and `*defaults`; quote the value if `&` or `*` is meant as text.",
                at: here)
        default:
            let words = context.isEmpty ? error.problem : "\(error.problem) \(context)"
            return .error(
                "YAML syntax error: \(words)",
                detail: "Check the syntax at this position\(contextAt.map { " (the construct started at \($0))" } ?? "").",
                at: here)
        }
    }

    private static func leadingWhitespaceHasTab(_ line: ArraySlice<UInt8>?) -> Bool {
        guard let line else { return false }
        for b in line {
            if b == 0x09 { return true }
            if b != 0x20 { return false }
        }
        return false
    }

    /// `[${a.b}]` and `{ k: .x/${var.env} }`: in YAML `{` and `}` are flow brackets, so an
    /// unquoted `${…}` inside `[ ]` or `{ }` breaks the collection. When a syntax error's lines
    /// hold one, say so and show the quoted form.
    static func unquotedInterpolationInFlow(_ source: YAMLSourceText, lines: ClosedRange<Int>, file: String) -> Diagnostic? {
        let text = String(decoding: source.bytes, as: UTF8.self)
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            guard lines.contains(lineNumber), line.contains("${") else { continue }
            var depth = 0, quote: Character? = nil, column = 0
            var index = line.startIndex
            while index < line.endIndex {
                let c = line[index]
                column += 1
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == "\"" || c == "'" {
                    quote = c
                } else if c == "#" && (index == line.startIndex || line[line.index(before: index)] == " ") {
                    break
                } else if c == "[" || c == "{" {
                    if c == "{", index > line.startIndex, line[line.index(before: index)] == "$", depth > 0 {
                        let start = line.index(before: index)
                        let end = line[index...].firstIndex(of: "}").map { line.index(after: $0) } ?? line.endIndex
                        let expression = String(line[start..<end])
                        return .error(
                            "`\(expression)` inside a flow collection (`[ ]` or `{ }`) must be quoted",
                            detail: "In YAML, `{` and `}` are the brackets of a flow mapping, so an unquoted `${…}` inside `[…]` or `{…}` "
                                + "breaks the collection. Quote the value: \"\(expression)\" (for example `[\"\(expression)\"]`), or write the list or mapping in block style.",
                            at: SourceLocation(file: file, line: lineNumber, column: column - 1))
                    }
                    depth += 1
                } else if c == "]" || c == "}" {
                    depth = max(0, depth - 1)
                }
                index = line.index(after: index)
            }
        }
        return nil
    }

    private static func firstNonSpaceColumn(_ line: ArraySlice<UInt8>) -> Int {
        line.firstIndex { $0 != 0x20 }.map { $0 - line.startIndex } ?? line.count
    }

    /// Where the first tab of the problem line's indentation is (or the problem mark itself when it is a tab).
    private static func tabLocation(on mark: LibYAMLMark, in source: YAMLSourceText, file: String) -> SourceLocation? {
        guard let line = source.line(of: mark) else { return nil }
        var column = 1
        for b in line {
            if b == 0x09 { return SourceLocation(file: file, line: mark.line + 1, column: column) }
            if b != 0x20 { break }
            column += 1
        }
        return nil
    }

    /// User text made fit for a one-line summary: control characters escaped, long text cut with "…".
    static func excerpt(_ text: String, limit: Int = 60) -> String {
        var out = ""
        var length = 0
        for scalar in text.unicodeScalars {
            if length >= limit {
                out += "…"
                break
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    out += "\\u{\(hex(scalar.value, width: 4))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
            length += 1
        }
        return out
    }

    static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
