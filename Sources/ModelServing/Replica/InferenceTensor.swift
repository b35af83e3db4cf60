import Foundation

/// A tensor datatype of the Open Inference Protocol, and how its elements read from the binary
/// tensor extension's little-endian bytes into the model's 32-bit floats.
public enum TensorDatatype: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case uint8 = "UINT8", uint16 = "UINT16", uint32 = "UINT32", uint64 = "UINT64"
    case int8 = "INT8", int16 = "INT16", int32 = "INT32", int64 = "INT64"
    case fp16 = "FP16", fp32 = "FP32", fp64 = "FP64"
    case bytes = "BYTES"

    /// Bytes per element in the binary extension; nil for BYTES (length-prefixed strings).
    public var elementSize: Int? {
        switch self {
        case .bool, .uint8, .int8: 1
        case .uint16, .int16, .fp16: 2
        case .uint32, .int32, .fp32: 4
        case .uint64, .int64, .fp64: 8
        case .bytes: nil
        }
    }

    /// The smallest and largest value of an integer datatype (as Double, for JSON numbers); nil for the others.
    var integerRange: ClosedRange<Double>? {
        switch self {
        case .uint8: 0...255
        case .uint16: 0...65_535
        case .uint32: 0...4_294_967_295
        case .uint64: 0...18_446_744_073_709_551_615
        case .int8: -128...127
        case .int16: -32_768...32_767
        case .int32: -2_147_483_648...2_147_483_647
        case .int64: -9_223_372_036_854_775_808...9_223_372_036_854_775_807
        case .bool, .fp16, .fp32, .fp64, .bytes: nil
        }
    }

    /// The numeric datatypes, for messages.
    static let numericList = allCases.filter { $0 != .bytes }.map(\.rawValue).joined(separator: ", ")

    /// Reads `count` elements of this datatype from `bytes` (little-endian, as the binary extension sends them).
    /// A value past Float's range is refused naming `field` and the element.
    func floats(_ bytes: UnsafeRawBufferPointer, count: Int, field: String) throws(RequestError) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        func each<T: FixedWidthInteger>(_: T.Type, _ convert: (T) -> Float) {
            for i in 0..<count { out[i] = convert(bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
        }
        switch self {
        case .bool: each(UInt8.self) { $0 == 0 ? 0 : 1 }
        case .uint8: each(UInt8.self) { Float($0) }
        case .uint16: each(UInt16.self) { Float(UInt16(littleEndian: $0)) }
        case .uint32: each(UInt32.self) { Float(UInt32(littleEndian: $0)) }
        case .uint64: each(UInt64.self) { Float(UInt64(littleEndian: $0)) }
        case .int8: each(Int8.self) { Float($0) }
        case .int16: each(Int16.self) { Float(Int16(littleEndian: $0)) }
        case .int32: each(Int32.self) { Float(Int32(littleEndian: $0)) }
        case .int64: each(Int64.self) { Float(Int64(littleEndian: $0)) }
        case .fp16: each(UInt16.self) { Float(Float16(bitPattern: UInt16(littleEndian: $0))) }
        case .fp32: each(UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
        case .fp64:
            for i in 0..<count {
                let v = Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
                // As in JSON: a finite value past Float's range would reach the model as infinity.
                guard !v.isFinite || abs(v) <= Double(Float.greatestFiniteMagnitude) else {
                    throw RequestError(field: "\(field)[\(i)]", message: "is \(v), outside the range of the model's 32-bit floats (±3.4e38)")
                }
                out[i] = Float(v)
            }
        case .bytes:
            throw RequestError(field: field, message: "BYTES cannot be read as numbers")
        }
        return out
    }
}

/// An Open Inference Protocol inference request, read: its one input tensor as the model's rows,
/// and how the answer is wanted.
public struct InferRequest: Sendable, Equatable {
    public var id: String?
    public var input: FeatureMatrix
    /// The output the client named, if any.
    public var outputName: String?
    /// The answer's tensor goes as raw bytes after the JSON header (`binary_data` on the output, or
    /// `binary_data_output` on the request).
    public var binaryOutput: Bool
}

/// The binary tensor extension's framing: a JSON header of `Inference-Header-Content-Length`
/// bytes, then the tensors' raw bytes in the order the header lists them.
public enum InferenceBinary {
    /// The header that gives the JSON header's length.
    public static let headerName = "Inference-Header-Content-Length"

    /// Reads the header's value, refusing what is not a length within the body.
    public static func headerLength(_ value: String?, bodySize: Int) throws(RequestError) -> Int? {
        guard let value else { return nil }
        guard let length = Int(value.trimmingCharacters(in: .whitespaces)), length >= 0, length <= bodySize else {
            throw RequestError(field: headerName, message: "\"\(value)\" is not a length within the \(bodySize)-byte body; "
                + "send the size in bytes of the JSON header that starts the body")
        }
        return length
    }

    /// The values of a little-endian FP32 tensor (the replica's answers), as numbers; nil when the size is not a multiple of 4.
    static func floats(_ bytes: Data) -> [Any]? {
        guard bytes.count % 4 == 0 else { return nil }
        var values: [Any] = []
        bytes.withUnsafeBytes { raw in
            for i in 0..<(bytes.count / 4) {
                values.append(Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))))
            }
        }
        return values
    }

    /// The bytes of a little-endian FP32 tensor.
    static func bytes(_ values: [Float]) -> Data {
        var data = Data(count: values.count * 4)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
        }
        return data
    }
}
