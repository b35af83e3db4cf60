import Foundation
import MLInfraJSON

/// Universal Binary JSON (ubjson.org), as XGBoost writes its `.ubj` models (`Booster.save_model("m.ubj")`,
/// MLflow's default `model_format`), rewritten as JSON text so the one XGBoost JSON reader loads both.
///
/// Big-endian numbers; containers optionally typed (`[$d#L<n>` then n raw float32s, no closing
/// marker) or counted (`#<n>`); object keys are length-prefixed without the `S` marker. A float
/// is written in its shortest round-trip form, so a float32 reads back as the same float32.
enum UBJSON {
    struct Malformed: Error, CustomStringConvertible {
        var offset: Int
        var message: String
        var description: String { "UBJSON at byte \(offset): \(message)" }
    }

    /// The JSON text of a UBJSON document.
    static func json(_ data: Data) throws -> Data {
        var reader = Reader(bytes: [UInt8](data))
        var out: [UInt8] = []
        out.reserveCapacity(data.count * 2)
        let marker = try reader.byte()
        try reader.value(marker: marker, into: &out)
        guard reader.offset == reader.bytes.count else {
            throw Malformed(offset: reader.offset, message: "\(reader.bytes.count - reader.offset) bytes after the document")
        }
        return Data(out)
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0
        /// Nesting depth, bounded so a hostile file cannot exhaust the stack.
        var depth = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func byte() throws -> UInt8 {
            guard offset < bytes.count else { throw Malformed(offset: offset, message: "the document ends early") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func bigEndian<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard offset + size <= bytes.count else { throw Malformed(offset: offset, message: "the document ends inside a number") }
            var value: T = 0
            for i in 0..<size { value = value << 8 | T(truncatingIfNeeded: bytes[offset + i]) }
            offset += size
            return value
        }

        /// A length or count: an integer value with its own marker.
        mutating func length() throws -> Int {
            let at = offset
            let n: Int64
            switch try byte() {
            case UInt8(ascii: "i"): n = Int64(Int8(bitPattern: try byte()))
            case UInt8(ascii: "U"): n = Int64(try byte())
            case UInt8(ascii: "I"): n = Int64(Int16(bitPattern: try bigEndian(UInt16.self)))
            case UInt8(ascii: "l"): n = Int64(Int32(bitPattern: try bigEndian(UInt32.self)))
            case UInt8(ascii: "L"): n = Int64(bitPattern: try bigEndian(UInt64.self))
            default: throw Malformed(offset: at, message: "a length must be an integer")
            }
            guard n >= 0, n <= Int64(bytes.count - offset) else { throw Malformed(offset: at, message: "length \(n) is out of range") }
            return Int(n)
        }

        mutating func string(into out: inout [UInt8]) throws {
            let n = try length()
            guard offset + n <= bytes.count else { throw Malformed(offset: offset, message: "a string runs past the end") }
            var text = ""
            JSONValue.quote(String(decoding: bytes[offset..<(offset + n)], as: UTF8.self), into: &text)
            out.append(contentsOf: text.utf8)
            offset += n
        }

        func number<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T, at: Int, into out: inout [UInt8]) throws {
            guard value.isFinite else { throw Malformed(offset: at, message: "\(value) has no JSON form") }
            out.append(contentsOf: "\(value)".utf8)
        }

        mutating func value(marker: UInt8, into out: inout [UInt8]) throws {
            let at = offset - 1
            switch marker {
            case UInt8(ascii: "Z"): out.append(contentsOf: "null".utf8)
            case UInt8(ascii: "T"): out.append(contentsOf: "true".utf8)
            case UInt8(ascii: "F"): out.append(contentsOf: "false".utf8)
            case UInt8(ascii: "i"): out.append(contentsOf: String(Int8(bitPattern: try byte())).utf8)
            case UInt8(ascii: "U"): out.append(contentsOf: String(try byte()).utf8)
            case UInt8(ascii: "I"): out.append(contentsOf: String(Int16(bitPattern: try bigEndian(UInt16.self))).utf8)
            case UInt8(ascii: "l"): out.append(contentsOf: String(Int32(bitPattern: try bigEndian(UInt32.self))).utf8)
            case UInt8(ascii: "L"): out.append(contentsOf: String(Int64(bitPattern: try bigEndian(UInt64.self))).utf8)
            case UInt8(ascii: "d"): try number(Float(bitPattern: try bigEndian(UInt32.self)), at: at, into: &out)
            case UInt8(ascii: "D"): try number(Double(bitPattern: try bigEndian(UInt64.self)), at: at, into: &out)
            case UInt8(ascii: "S"), UInt8(ascii: "H"): try string(into: &out)
            case UInt8(ascii: "C"):
                var text = ""
                JSONValue.quote(String(UnicodeScalar(try byte())), into: &text)
                out.append(contentsOf: text.utf8)
            case UInt8(ascii: "["): try container(object: false, into: &out)
            case UInt8(ascii: "{"): try container(object: true, into: &out)
            case UInt8(ascii: "N"): throw Malformed(offset: at, message: "a no-op marker where a value belongs")
            default: throw Malformed(offset: at, message: "unknown marker 0x\(String(marker, radix: 16))")
            }
        }

        /// An array or object after its opening marker: `$type` and `#count` are optional.
        mutating func container(object: Bool, into out: inout [UInt8]) throws {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 64 else { throw Malformed(offset: offset, message: "containers nested deeper than 64") }
            var type: UInt8?
            var count: Int?
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "$") {
                offset += 1
                type = try byte()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "#") else {
                    throw Malformed(offset: offset, message: "a typed container without a count")
                }
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "#") {
                offset += 1
                count = try length()
            }
            out.append(object ? UInt8(ascii: "{") : UInt8(ascii: "["))
            var index = 0
            while true {
                if let count {
                    if index == count { break }
                } else {
                    var next = try byte()
                    while next == UInt8(ascii: "N") { next = try byte() }
                    if next == (object ? UInt8(ascii: "}") : UInt8(ascii: "]")) { break }
                    offset -= 1
                }
                if index > 0 { out.append(UInt8(ascii: ",")) }
                if object {
                    try string(into: &out)
                    out.append(UInt8(ascii: ":"))
                }
                let marker = if let type { type } else { try byte() }
                try value(marker: marker, into: &out)
                index += 1
            }
            out.append(object ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }
}
