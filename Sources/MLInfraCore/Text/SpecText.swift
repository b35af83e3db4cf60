/// Byte-level tests on spec text for the loader's hot path: every scalar of a spec passes
/// through them, and Foundation's `contains` / `Character.isLetter` cost a bridge or a Unicode
/// table lookup per call (docs/benchmarks.md, "plan, nothing to change").
enum SpecText {
    /// Whether `text` holds `${`, the start of an expression.
    static func holdsExpression(_ text: some StringProtocol) -> Bool {
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "{") && previous == UInt8(ascii: "$") { return true }
            previous = byte
        }
        return false
    }

    /// An ASCII letter, digit, `_` or `-`: what names and reference segments are made of.
    @inline(__always)
    static func isNameByte(_ byte: UInt8) -> Bool {
        isLetterByte(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    @inline(__always)
    static func isLetterByte(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }
}
