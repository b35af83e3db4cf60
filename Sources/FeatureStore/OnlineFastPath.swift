import Foundation
import MLInfraJSON
import Synchronization

/// The feature server's path for the common request: the body is scanned in place, the compiled
/// plan is found by the request's own bytes, and the answer is written with the plan's names
/// already encoded — no JSON values, no `view:feature` parsing, no string hashing per request.
///
/// Anything the scanner does not take (escapes in strings, unknown or repeated fields, numbers
/// that are not integers, a malformed body) and any error is left to the full parser
/// (`OnlineJSON.parseRequest`), which answers exactly as before and names the field at fault; so
/// the fast path only ever answers requests the full path would answer the same way
/// (`OnlineFastPathTests` holds the two to the same bytes).
struct ScannedRequest {
    /// Bytes of the `features` list, `[` to `]`, when given.
    var features: Range<Int>?
    /// Bytes inside the quotes of `feature_service`, when given.
    var service: Range<Int>?
    var fullFeatureNames = false
    var entities: EntityKeys

    /// Scans `body`; nil when it is not in the common shape.
    static func scan(_ body: UnsafeRawBufferPointer) -> ScannedRequest? {
        var s = ByteScanner(body)
        var features: Range<Int>?
        var service: Range<Int>?
        var full: Bool?
        var entities: EntityKeys?
        var versionMetadata = false
        guard s.take(0x7B) else { return nil }
        repeat {
            guard let key = s.plainString() else { return nil }
            guard s.take(0x3A) else { return nil }
            switch s.bytes(key) {
            case "features" where features == nil:
                guard let list = s.stringList() else { return nil }
                features = list
            case "feature_service" where service == nil:
                guard let name = s.plainString() else { return nil }
                service = name
            case "full_feature_names" where full == nil:
                if s.literal("true") { full = true } else if s.literal("false") { full = false } else { return nil }
            case "entities" where entities == nil:
                guard let keys = s.entities() else { return nil }
                entities = keys
            case "include_feature_view_version_metadata" where !versionMetadata:
                // Feast's SDK sends `false` with every request; `true` goes to the full parser, which refuses it.
                guard s.literal("false") else { return nil }
                versionMetadata = true
            default:
                return nil
            }
        } while s.take(0x2C)
        guard s.take(0x7D), s.atEnd, let entities, (features == nil) != (service == nil) else { return nil }
        return ScannedRequest(features: features, service: service, fullFeatureNames: full ?? false, entities: entities)
    }
}

/// A cursor over request bytes for `ScannedRequest.scan`: every method skips leading white space
/// and returns nil (or false) without consuming meaning when the next token is not what it takes.
private struct ByteScanner {
    let p: UnsafeRawBufferPointer
    var i = 0

    init(_ p: UnsafeRawBufferPointer) { self.p = p }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return i == p.count
        }
    }

    @inline(__always) mutating func skipSpace() {
        while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard i < p.count, p[i] == byte else { return false }
        i += 1
        return true
    }

    mutating func literal(_ text: StaticString) -> Bool {
        skipSpace()
        let n = text.utf8CodeUnitCount
        guard i + n <= p.count, memcmp(p.baseAddress! + i, text.utf8Start, n) == 0 else { return false }
        i += n
        return true
    }

    /// The bytes of `range` compared with a field name.
    func bytes(_ range: Range<Int>) -> FieldName { FieldName(p: UnsafeRawBufferPointer(rebasing: p[range])) }

    /// A string without escapes or control characters: the range of its contents.
    mutating func plainString() -> Range<Int>? {
        guard take(0x22) else { return nil }
        let start = i
        while i < p.count, p[i] != 0x22 {
            guard p[i] != 0x5C, p[i] >= 0x20 else { return nil }
            i += 1
        }
        guard i < p.count else { return nil }
        i += 1
        return start..<(i - 1)
    }

    /// A non-empty list of plain strings: the range from `[` to `]`.
    mutating func stringList() -> Range<Int>? {
        skipSpace()
        let start = i
        guard take(0x5B) else { return nil }
        repeat {
            guard plainString() != nil else { return nil }
        } while take(0x2C)
        guard take(0x5D) else { return nil }
        return start..<i
    }

    /// An integer that fits 64 bits, written as JSON writes one (no leading zeros, fraction or exponent).
    mutating func integer() -> Int64? {
        skipSpace()
        var k = i
        let negative = k < p.count && p[k] == 0x2D
        if negative { k += 1 }
        let first = k
        var magnitude: UInt64 = 0
        while k < p.count, p[k] >= 0x30, p[k] <= 0x39 {
            guard k - first < 18 else { return nil }  // 18 digits always fit; longer ones go to the full parser
            magnitude = magnitude * 10 + UInt64(p[k] - 0x30)
            k += 1
        }
        guard k > first, !(p[first] == 0x30 && k - first > 1) else { return nil }
        if k < p.count, p[k] == 0x2E || p[k] == 0x65 || p[k] == 0x45 { return nil }
        i = k
        return negative ? -Int64(magnitude) : Int64(magnitude)
    }

    /// `{"key": [values…], …}` with integer or plain-string values; keys sorted as the full parser sorts them.
    mutating func entities() -> EntityKeys? {
        guard take(0x7B) else { return nil }
        var names: [String] = []
        var columns: [String: [FeatureValue]] = [:]
        repeat {
            guard let key = plainString(), take(0x3A), take(0x5B) else { return nil }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: p[key]), as: UTF8.self)
            var values: [FeatureValue] = []
            if !take(0x5D) {
                repeat {
                    skipSpace()
                    if i < p.count, p[i] == 0x22 {
                        guard let text = plainString() else { return nil }
                        values.append(.string(String(decoding: UnsafeRawBufferPointer(rebasing: p[text]), as: UTF8.self)))
                    } else {
                        guard let v = integer() else { return nil }
                        values.append(.int(v))
                    }
                } while take(0x2C)
                guard take(0x5D) else { return nil }
            }
            guard columns.updateValue(values, forKey: name) == nil else { return nil }
            names.append(name)
        } while take(0x2C)
        guard take(0x7D) else { return nil }
        names.sort()
        return EntityKeys(names: names, columns: columns)
    }
}

/// Field-name bytes, matched against string literals in a `switch`.
private struct FieldName {
    let p: UnsafeRawBufferPointer

    static func ~= (pattern: StaticString, name: FieldName) -> Bool {
        let n = pattern.utf8CodeUnitCount
        return name.p.count == n && memcmp(name.p.baseAddress!, pattern.utf8Start, n) == 0
    }
}

/// A request shape by its bytes: which list or service, and the naming.
struct RawPlanKey: Hashable, Sendable {
    let bytes: [UInt8]
    let isService: Bool
    let fullFeatureNames: Bool

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        hasher.combine(isService)
        hasher.combine(fullFeatureNames)
    }
}

extension LocalFeatureStore {
    /// Answers a scanned request with the response body's bytes.
    func onlineJSON(_ request: ScannedRequest, body: UnsafeRawBufferPointer) throws -> [UInt8] {
        let range = request.features ?? request.service!
        let key = RawPlanKey(
            bytes: Array(UnsafeRawBufferPointer(rebasing: body[range])), isService: request.features == nil,
            fullFeatureNames: request.fullFeatureNames)
        var used: OnlinePlan?
        let response = try onlineFeatures(entities: request.entities) { conn in
            let plan = try self.plan(key, conn)
            used = plan
            return plan
        }
        var out: [UInt8] = []
        OnlineJSON.encode(response, planNames: used?.encodedNames, into: &out)
        return out
    }

    /// The plan for a request shape given by its bytes; on a miss the names are parsed in full.
    func plan(_ key: RawPlanKey, _ conn: ReaderConnection) throws -> OnlinePlan {
        let generation = try conn.generation()
        if let hit = rawPlans.withLock({ $0[key] }), hit.generation == generation { return hit }
        let parsed: OnlinePlanKey
        if key.isService {
            parsed = OnlinePlanKey(features: nil, service: String(decoding: key.bytes, as: UTF8.self), fullFeatureNames: key.fullFeatureNames)
        } else {
            let names: [String] = try key.bytes.withUnsafeBytes { bytes in
                var reader = JSONReader(bytes)
                guard case .array(let items)? = reader.document() else {
                    throw FeatureStoreError.badRequest(field: "features", message: "expected a list of \"view:feature\" strings")
                }
                return items.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
            parsed = OnlinePlanKey(features: try FeatureReference.parseList(names), service: nil, fullFeatureNames: key.fullFeatureNames)
        }
        let plan = try self.plan(parsed, conn)
        rawPlans.withLock { plans in
            if plans.count >= 256 { plans.removeAll(keepingCapacity: true) }
            plans[key] = plan
        }
        return plan
    }
}
