import Crypto
import Foundation

/// Keeps secret values out of state: a sensitive value is stored as a salted HMAC, enough to
/// tell whether it changed and useless for reading it back.
public enum Secrets {
    public static let markerKey = "$sensitive"

    /// The stored form of a secret value. Unknown and null values stay as they are.
    public static func redact(_ value: Value, salt: String) -> Value {
        switch value {
        case .unknown, .null: return value
        case .map(let m) where m.count == 1 && m[markerKey] != nil: return value
        default:
            let key = SymmetricKey(data: Data(("mlinfra-secret:" + salt).utf8))
            let mac = HMAC<SHA256>.authenticationCode(for: Data(canonicalText(value).utf8), using: key)
            return .map([markerKey: .string("hmac-sha256:" + mac.map { String(format: "%02x", $0) }.joined())])
        }
    }

    public static func isRedacted(_ value: Value) -> Bool {
        if case .map(let m) = value, m.count == 1, m[markerKey] != nil { return true }
        return false
    }

    /// A map with the values under `keys` redacted.
    public static func redact(_ attributes: [String: Value], keys: Set<String>, salt: String) -> [String: Value] {
        guard !keys.isEmpty else { return attributes }
        var out = attributes
        for key in keys where out[key] != nil { out[key] = redact(out[key]!, salt: salt) }
        return out
    }

    /// A stable text of a value, for hashing (map keys sorted).
    public static func canonicalText(_ value: Value) -> String {
        switch value {
        case .map(let m): "{" + m.keys.sorted().map { Value.quote($0) + ":" + canonicalText(m[$0]!) }.joined(separator: ",") + "}"
        case .list(let l): "[" + l.map(canonicalText).joined(separator: ",") + "]"
        default: value.rendered
        }
    }
}
