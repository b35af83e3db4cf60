import CYAML

/// A position as libyaml reports it: 0-based line and column (columns count characters).
struct LibYAMLMark: Sendable, Equatable {
    var line: Int
    var column: Int
}

/// One libyaml parse event, copied out into Swift values.
enum LibYAMLEvent {
    case streamStart
    case streamEnd
    case documentStart
    case documentEnd
    case alias(anchor: String)
    case scalar(value: String, anchor: String?, tag: String?, style: ScalarStyle)
    /// `flow` is true for `[…]`, false for a block list of `- ` items.
    case sequenceStart(anchor: String?, tag: String?, flow: Bool)
    case sequenceEnd
    /// `flow` is true for `{…}`, false for a block mapping.
    case mappingStart(anchor: String?, tag: String?, flow: Bool)
    case mappingEnd
}

/// What libyaml said when it gave up, with its problem and context marks.
struct LibYAMLParseError: Error {
    enum Kind { case reader, scanner, parser, memory }
    var kind: Kind
    var problem: String
    var problemMark: LibYAMLMark?
    var context: String?
    var contextMark: LibYAMLMark?
    /// For reader errors: the byte offset and the offending value.
    var problemOffset: Int
    var problemValue: Int
}

/// The only place that touches libyaml's C pointers: an event reader over a copy of the input.
///
/// The reader owns both the `yaml_parser_t` and the input buffer it points into,
/// so neither can be freed while libyaml still reads them.
final class LibYAMLEventReader {
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private let input: UnsafeMutableBufferPointer<UInt8>
    private var initialized = false

    init(bytes: [UInt8]) {
        parser = .allocate(capacity: 1)
        input = .allocate(capacity: max(bytes.count, 1))
        _ = input.initialize(from: bytes)
        if yaml_parser_initialize(parser) != 0 {
            initialized = true
            yaml_parser_set_input_string(parser, input.baseAddress, bytes.count)
        }
    }

    deinit {
        if initialized { yaml_parser_delete(parser) }
        parser.deallocate()
        input.deallocate()
    }

    /// The next event and the mark where it starts.
    func next() throws(LibYAMLParseError) -> (event: LibYAMLEvent, mark: LibYAMLMark) {
        guard initialized else {
            throw LibYAMLParseError(
                kind: .memory, problem: "cannot allocate the YAML parser", problemMark: nil,
                context: nil, contextMark: nil, problemOffset: 0, problemValue: -1)
        }
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) != 0 else { throw currentError() }
        defer { yaml_event_delete(&event) }
        let mark = LibYAMLMark(line: Int(event.start_mark.line), column: Int(event.start_mark.column))
        switch event.type {
        case YAML_STREAM_START_EVENT:
            return (.streamStart, mark)
        case YAML_STREAM_END_EVENT, YAML_NO_EVENT:
            return (.streamEnd, mark)
        case YAML_DOCUMENT_START_EVENT:
            return (.documentStart, mark)
        case YAML_DOCUMENT_END_EVENT:
            return (.documentEnd, mark)
        case YAML_ALIAS_EVENT:
            return (.alias(anchor: Self.string(event.data.alias.anchor) ?? ""), mark)
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            let value =
                data.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: data.length), as: UTF8.self) }
                ?? ""
            let style: ScalarStyle =
                switch data.style {
                case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
                case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
                case YAML_LITERAL_SCALAR_STYLE: .literal
                case YAML_FOLDED_SCALAR_STYLE: .folded
                default: .plain
                }
            return (.scalar(value: value, anchor: Self.string(data.anchor), tag: Self.string(data.tag), style: style), mark)
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            let flow = data.style == YAML_FLOW_SEQUENCE_STYLE
            return (.sequenceStart(anchor: Self.string(data.anchor), tag: Self.string(data.tag), flow: flow), mark)
        case YAML_SEQUENCE_END_EVENT:
            return (.sequenceEnd, mark)
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            let flow = data.style == YAML_FLOW_MAPPING_STYLE
            return (.mappingStart(anchor: Self.string(data.anchor), tag: Self.string(data.tag), flow: flow), mark)
        case YAML_MAPPING_END_EVENT:
            return (.mappingEnd, mark)
        default:
            return (.streamEnd, mark)
        }
    }

    private func currentError() -> LibYAMLParseError {
        let p = parser.pointee
        let kind: LibYAMLParseError.Kind =
            switch p.error {
            case YAML_READER_ERROR: .reader
            case YAML_SCANNER_ERROR: .scanner
            case YAML_MEMORY_ERROR: .memory
            default: .parser
            }
        let hasMarks = kind == .scanner || kind == .parser
        return LibYAMLParseError(
            kind: kind,
            problem: p.problem.map { String(cString: $0) } ?? "unknown problem",
            problemMark: hasMarks ? LibYAMLMark(line: Int(p.problem_mark.line), column: Int(p.problem_mark.column)) : nil,
            context: p.context.map { String(cString: $0) },
            contextMark: hasMarks && p.context != nil
                ? LibYAMLMark(line: Int(p.context_mark.line), column: Int(p.context_mark.column)) : nil,
            problemOffset: Int(p.problem_offset),
            problemValue: Int(p.problem_value))
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }
}
