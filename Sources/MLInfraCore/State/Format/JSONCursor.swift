/// A strict JSON reader made for state files, over a byte buffer.
///
/// Foundation's `JSONSerialization` / `JSONDecoder` are several times too slow
/// for a 100,000-resource state and lose the int/number distinction this
/// format keeps. The cursor reads straight from the bytes, rejects what
/// RFC 8259 rejects (plus duplicate keys, which would silently lose data),
/// bounds nesting depth, and reports the byte offset of every error.
///
/// Two ways to use it: `readValue()` gives a whole `Value` tree; the pull calls
/// (`beginObject` / `nextKey`, `beginArray` / `nextElement`, `readString`, …)
/// let a reader of a known shape build its types directly, without an
/// intermediate dictionary per object, and point errors at the exact byte.
struct JSONCursor {
    /// What went wrong, and where (a byte offset into the buffer).
    struct Failure: Error {
        var message: String
        var offset: Int
    }

    /// Deep enough for any state, shallow enough that garbage cannot overflow the stack.
    static let maxDepth = 512

    /// Runs `body` with a cursor over `bytes`.
    static func with<T>(_ bytes: [UInt8], _ body: (inout JSONCursor) throws -> T) throws -> T {
        try bytes.withUnsafeBufferPointer { buffer in
            var cursor = JSONCursor(buffer)
            return try body(&cursor)
        }
    }

    /// Parses one JSON document that must fill `bytes` (whitespace aside); throws `Failure`.
    static func parse(_ bytes: [UInt8]) throws -> Value {
        try with(bytes) { c in
            let value = try c.readValue()
            try c.expectEnd()
            return value
        }
    }

    private let b: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    private(set) var i = 0
    /// The offset of the key `nextKey` returned last, for errors about that key.
    private(set) var keyOffset = 0

    private init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    func error(_ message: String, at offset: Int? = nil) -> Failure {
        Failure(message: message, offset: offset ?? i)
    }

    // MARK: pull API

    /// Reads any value as a `Value` tree.
    mutating func readValue() throws(Failure) -> Value { try parseValue(depth: 0) }

    /// Fails unless only whitespace is left.
    mutating func expectEnd() throws(Failure) {
        skipWhitespace()
        if i < b.count { throw error("unexpected \(describeCurrent()) after the end of the document") }
    }

    /// The offset of the next value, whitespace skipped: errors about that value point here.
    mutating func valueOffset() -> Int {
        skipWhitespace()
        return i
    }

    mutating func beginObject(_ what: @autoclosure () -> String) throws(Failure) {
        skipWhitespace()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { throw error("\(what()) must be an object, found \(describeValue())") }
        i += 1
    }

    /// The next key of the object being read (its colon consumed), or nil after the closing brace.
    /// `first` starts true for each object.
    mutating func nextKey(_ first: inout Bool) throws(Failure) -> String? {
        skipWhitespace()
        guard i < b.count else { throw error("unexpected end of file inside an object (the file may be truncated)") }
        if b[i] == UInt8(ascii: "}") {
            i += 1
            return nil
        }
        if !first {
            guard b[i] == UInt8(ascii: ",") else { throw error("unexpected \(describeCurrent()), expected ',' or '}'") }
            i += 1
            skipWhitespace()
            guard i < b.count else { throw error("unexpected end of file inside an object (the file may be truncated)") }
        }
        guard b[i] == UInt8(ascii: "\"") else { throw error("unexpected \(describeCurrent()), expected a quoted key") }
        keyOffset = i
        let key = try parseString()
        skipWhitespace()
        guard i < b.count else { throw error("unexpected end of file after a key (the file may be truncated)") }
        guard b[i] == UInt8(ascii: ":") else { throw error("unexpected \(describeCurrent()), expected ':' after key \"\(key)\"") }
        i += 1
        first = false
        return key
    }

    mutating func beginArray(_ what: @autoclosure () -> String) throws(Failure) {
        skipWhitespace()
        guard i < b.count, b[i] == UInt8(ascii: "[") else { throw error("\(what()) must be a list, found \(describeValue())") }
        i += 1
    }

    /// Whether the list being read has another element (its comma consumed); false after the closing bracket.
    mutating func nextElement(_ first: inout Bool) throws(Failure) -> Bool {
        skipWhitespace()
        guard i < b.count else { throw error("unexpected end of file inside a list (the file may be truncated)") }
        if b[i] == UInt8(ascii: "]") {
            i += 1
            return false
        }
        if !first {
            guard b[i] == UInt8(ascii: ",") else { throw error("unexpected \(describeCurrent()), expected ',' or ']'") }
            i += 1
        }
        first = false
        return true
    }

    mutating func readString(_ what: @autoclosure () -> String) throws(Failure) -> String {
        skipWhitespace()
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw error("\(what()) must be a string, found \(describeValue())") }
        return try parseString()
    }

    mutating func readInt(_ what: @autoclosure () -> String) throws(Failure) -> Int {
        let at = valueOffset()
        guard i < b.count, b[i] == UInt8(ascii: "-") || isDigit(b[i]) else {
            throw error("\(what()) must be a whole number, found \(describeValue())")
        }
        guard case .int(let n) = try parseNumber() else { throw error("\(what()) must be a whole number", at: at) }
        return n
    }

    mutating func readBool(_ what: @autoclosure () -> String) throws(Failure) -> Bool {
        skipWhitespace()
        guard i < b.count else { throw error("unexpected end of file (the file may be truncated)") }
        switch b[i] {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        default: throw error("\(what()) must be true or false, found \(describeValue())")
        }
    }

    mutating func readMap(_ what: @autoclosure () -> String) throws(Failure) -> [String: Value] {
        let at = valueOffset()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { throw error("\(what()) must be an object, found \(describeValue())") }
        guard case .map(let m) = try parseObject(depth: 1) else { throw error("\(what()) must be an object, found an unknown-value marker", at: at) }
        return m
    }

    mutating func readStrings(_ what: @autoclosure () -> String) throws(Failure) -> [String] {
        try beginArray(what())
        var out: [String] = []
        var first = true
        while try nextElement(&first) { out.append(try readString("\(what())[\(out.count)]")) }
        return out
    }

    /// The kind of the value at the cursor, for "must be a string, found a list" messages.
    private func describeValue() -> String {
        guard i < b.count else { return "the end of the file (the file may be truncated)" }
        switch b[i] {
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "a list"
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a bool"
        case UInt8(ascii: "n"): return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "a number"
        default: return describeCurrent()
        }
    }

    private func describeCurrent() -> String {
        guard i < b.count else { return "end of file" }
        let c = b[i]
        if c >= 0x20 && c < 0x7F { return "character '\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x" + String(c, radix: 16)
    }

    private mutating func skipWhitespace() {
        let n = b.count
        while i < n {
            switch b[i] {
            case 0x20, 0x0A, 0x0D, 0x09:
                i += 1
                // Indentation comes in long runs of spaces: skip them eight at a time.
                while i &+ 8 <= n,
                    UnsafeRawPointer(b.baseAddress! + i).loadUnaligned(as: UInt64.self) == 0x2020_2020_2020_2020
                {
                    i &+= 8
                }
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(Failure) -> Value {
        skipWhitespace()
        guard i < b.count else { throw error("unexpected end of file, expected a value (the file may be truncated)") }
        switch b[i] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected \(describeCurrent()), expected a value")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        let start = i
        guard b.count - i >= n else { throw error("unexpected end of file in '\(word)' (the file may be truncated)") }
        let w = word.utf8Start
        for k in 0..<n where b[i + k] != w[k] {
            throw error("invalid literal, expected '\(word)'", at: start)
        }
        i += n
    }

    /// Collects an object's members before building its dictionary at its final size
    /// (growing a dictionary one insert at a time rehashes it several times).
    /// One buffer per depth, reused across objects.
    private var scratch: [[(key: String, value: Value, offset: Int)]] = []

    private mutating func parseObject(depth: Int) throws(Failure) -> Value {
        guard depth <= JSONCursor.maxDepth else { throw error("nesting deeper than \(JSONCursor.maxDepth) levels") }
        i += 1
        skipWhitespace()
        if i < b.count && b[i] == UInt8(ascii: "}") {
            i += 1
            return .map([:])
        }
        while scratch.count <= depth { scratch.append([]) }
        var members = scratch[depth]
        scratch[depth] = []
        members.removeAll(keepingCapacity: true)
        while true {
            skipWhitespace()
            guard i < b.count else { throw error("unexpected end of file inside an object (the file may be truncated)") }
            guard b[i] == UInt8(ascii: "\"") else { throw error("unexpected \(describeCurrent()), expected a quoted key") }
            let keyOffset = i
            let key = try parseString()
            skipWhitespace()
            guard i < b.count else { throw error("unexpected end of file after a key (the file may be truncated)") }
            guard b[i] == UInt8(ascii: ":") else { throw error("unexpected \(describeCurrent()), expected ':' after key \"\(key)\"") }
            i += 1
            members.append((key, try parseValue(depth: depth), keyOffset))
            skipWhitespace()
            guard i < b.count else { throw error("unexpected end of file inside an object (the file may be truncated)") }
            switch b[i] {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "}"):
                i += 1
                var dict = [String: Value](minimumCapacity: members.count)
                for m in members where dict.updateValue(m.value, forKey: m.key) != nil {
                    throw error("duplicate key \"\(m.key)\" in one object", at: m.offset)
                }
                members.removeAll(keepingCapacity: true)
                scratch[depth] = members
                if dict.count == 1, case .bool(true) = dict[Value.unknownMarker] { return .unknown }
                return .map(dict)
            default: throw error("unexpected \(describeCurrent()), expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(Failure) -> Value {
        guard depth <= JSONCursor.maxDepth else { throw error("nesting deeper than \(JSONCursor.maxDepth) levels") }
        i += 1
        var items: [Value] = []
        skipWhitespace()
        if i < b.count && b[i] == UInt8(ascii: "]") {
            i += 1
            return .list(items)
        }
        while true {
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard i < b.count else { throw error("unexpected end of file inside a list (the file may be truncated)") }
            switch b[i] {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "]"):
                i += 1
                return .list(items)
            default: throw error("unexpected \(describeCurrent()), expected ',' or ']'")
            }
        }
    }

    private mutating func parseString() throws(Failure) -> String {
        let open = i
        i += 1
        let start = i
        var high: UInt8 = 0
        let n = b.count
        let base = UnsafeRawPointer(b.baseAddress!)
        while true {
            // Eight plain ASCII bytes at a time, then byte by byte past whatever stopped that.
            while i &+ 8 <= n, !SWAR.hasQuoteBackslashControlOrHigh(base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                i &+= 8
            }
            let stop = min(i &+ 8, n)
            while i < stop {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    let bytes = UnsafeBufferPointer(rebasing: b[start..<i])
                    i += 1
                    if high < 0x80 { return String(decoding: bytes, as: UTF8.self) }
                    guard let s = String(validating: bytes, as: UTF8.self) else {
                        throw error("string is not valid UTF-8", at: open)
                    }
                    return s
                }
                if c == UInt8(ascii: "\\") { return try parseEscapedString(open: open, from: start) }
                if c < 0x20 { throw error("control character 0x\(String(c, radix: 16)) inside a string must be escaped") }
                high |= c
                i += 1
            }
            if i >= n { break }
        }
        throw error("unterminated string (the file may be truncated)", at: open)
    }

    /// The slow path, for strings with backslash escapes.
    private mutating func parseEscapedString(open: Int, from start: Int) throws(Failure) -> String {
        var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: b[start..<i]))
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw error("string is not valid UTF-8", at: open)
                }
                return s
            }
            if c < 0x20 { throw error("control character 0x\(String(c, radix: 16)) inside a string must be escaped") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < b.count else { break }
            let e = b[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired UTF-16 surrogate in \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired UTF-16 surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("unpaired UTF-16 surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                out.append(contentsOf: UTF8.encode(u)!)
            default:
                throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'", at: i - 2)
            }
        }
        throw error("unterminated string (the file may be truncated)", at: open)
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard b.count - i >= 4 else { throw error("unexpected end of file in a \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// Whole numbers without fraction or exponent become `.int` (when they fit), others `.number`.
    private mutating func parseNumber() throws(Failure) -> Value {
        let start = i
        var negative = false
        if b[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        guard i < b.count, isDigit(b[i]) else { throw error("invalid number: a digit must follow '-'", at: start) }
        if b[i] == UInt8(ascii: "0"), i + 1 < b.count, isDigit(b[i + 1]) {
            throw error("invalid number: leading zeros are not allowed", at: start)
        }
        var magnitude: UInt64 = 0
        var overflow = false
        while i < b.count, isDigit(b[i]) {
            let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (m2, o2) = m1.addingReportingOverflow(UInt64(b[i] - UInt8(ascii: "0")))
            magnitude = m2
            overflow = overflow || o1 || o2
            i += 1
        }
        var isInteger = true
        if i < b.count, b[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < b.count, isDigit(b[i]) else { throw error("invalid number: a digit must follow '.'", at: start) }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, isDigit(b[i]) else { throw error("invalid number: a digit must follow the exponent", at: start) }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if isInteger && !overflow {
            if !negative && magnitude <= UInt64(Int.max) { return .int(Int(magnitude)) }
            if negative && magnitude <= UInt64(Int.max) + 1 { return .int(magnitude == UInt64(Int.max) + 1 ? Int.min : -Int(magnitude)) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else { throw error("number \(text) is out of range", at: start) }
        return .number(d)
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}

/// Tests on eight bytes at once (SIMD within a register), to skip plain runs of text quickly.
enum SWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Whether any byte is zero.
    @inline(__always) static func hasZeroByte(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }

    /// Whether any byte is `"`, `\`, below 0x20: the bytes a JSON string writer must escape.
    @inline(__always) static func hasQuoteBackslashOrControl(_ v: UInt64) -> Bool {
        hasZeroByte(v ^ (ones &* 0x22)) || hasZeroByte(v ^ (ones &* 0x5C)) || (v &- ones &* 0x20) & ~v & highs != 0
    }

    /// The same, or any byte that is not ASCII: the bytes a reader must look at.
    @inline(__always) static func hasQuoteBackslashControlOrHigh(_ v: UInt64) -> Bool {
        v & highs != 0 || hasQuoteBackslashOrControl(v)
    }
}
