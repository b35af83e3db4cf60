/// Writes canonical JSON: object keys sorted (see `sortedKeys`), and either
/// two-space indentation (state files, so a git diff is line-stable) or no
/// whitespace at all (journal lines).
///
/// Objects of known shape are written field by field by the caller (in sorted
/// order), maps of `Value`s are sorted here. Floating-point numbers are written
/// in Swift's shortest round-trip form with a `.0` or exponent, so they read
/// back as numbers, not ints; a non-finite number, which JSON cannot carry, is
/// written as `null`.
struct CanonicalJSONWriter {
    private(set) var bytes: [UInt8] = []
    let pretty: Bool
    private var depth = 0
    private var first = true

    init(pretty: Bool, capacity: Int = 0) {
        self.pretty = pretty
        bytes.reserveCapacity(capacity)
    }

    // MARK: containers

    mutating func openObject() {
        bytes.append(UInt8(ascii: "{"))
        depth += 1
        first = true
    }

    mutating func closeObject() { close(UInt8(ascii: "}")) }

    mutating func openArray() {
        bytes.append(UInt8(ascii: "["))
        depth += 1
        first = true
    }

    mutating func closeArray() { close(UInt8(ascii: "]")) }

    /// Starts a member of the current object: separator, indentation, key and colon.
    mutating func key(_ k: String) {
        separator()
        string(k)
        bytes.append(UInt8(ascii: ":"))
        if pretty { bytes.append(0x20) }
    }

    /// Starts an element of the current array.
    mutating func element() { separator() }

    private mutating func separator() {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        newline()
    }

    private mutating func close(_ c: UInt8) {
        depth -= 1
        if !first { newline() }
        first = false
        bytes.append(c)
    }

    private mutating func newline() {
        guard pretty else { return }
        bytes.append(0x0A)
        for _ in 0..<depth { bytes.append(0x20); bytes.append(0x20) }
    }

    // MARK: scalars and values

    mutating func int(_ v: Int) {
        if v >= 0 && v < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(v))
        } else {
            bytes.append(contentsOf: String(v).utf8)
        }
    }

    mutating func bool(_ v: Bool) { bytes.append(contentsOf: v ? "true".utf8 : "false".utf8) }

    mutating func null() { bytes.append(contentsOf: "null".utf8) }

    mutating func number(_ d: Double) {
        guard d.isFinite else { return null() }
        bytes.append(contentsOf: d.description.utf8)
    }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            let n = utf8.count
            var runStart = 0
            var k = 0
            while k < n {
                if k &+ 8 <= n,
                    !SWAR.hasQuoteBackslashOrControl(UnsafeRawPointer(utf8.baseAddress! + k).loadUnaligned(as: UInt64.self))
                {
                    k &+= 8
                    continue
                }
                let c = utf8[k]
                k &+= 1
                guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
                if runStart < k - 1 { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<(k - 1)])) }
                runStart = k
                switch c {
                case 0x22: bytes.append(contentsOf: "\\\"".utf8)
                case 0x5C: bytes.append(contentsOf: "\\\\".utf8)
                case 0x0A: bytes.append(contentsOf: "\\n".utf8)
                case 0x0D: bytes.append(contentsOf: "\\r".utf8)
                case 0x09: bytes.append(contentsOf: "\\t".utf8)
                case 0x08: bytes.append(contentsOf: "\\b".utf8)
                case 0x0C: bytes.append(contentsOf: "\\f".utf8)
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: "\\u00".utf8)
                    bytes.append(hex[Int(c >> 4)])
                    bytes.append(hex[Int(c & 0xF)])
                }
            }
            if runStart < n { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    mutating func strings(_ list: [String]) {
        openArray()
        for s in list {
            element()
            string(s)
        }
        closeArray()
    }

    mutating func value(_ v: Value) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .int(let i): int(i)
        case .number(let d): number(d)
        case .string(let s): string(s)
        case .list(let items):
            openArray()
            for item in items {
                element()
                value(item)
            }
            closeArray()
        case .map(let m): map(m)
        case .unknown:
            openObject()
            key(Value.unknownMarker)
            bool(true)
            closeObject()
        }
    }

    mutating func map(_ m: [String: Value]) {
        openObject()
        for (k, v) in m.sorted(by: { $0.key < $1.key }) {
            key(k)
            value(v)
        }
        closeObject()
    }

    /// Keys in Swift string order: Unicode code points of the NFC form (byte order for ASCII), never locale-dependent.
    static func sortedKeys<V>(_ m: [String: V]) -> [String] {
        m.keys.sorted()
    }
}
