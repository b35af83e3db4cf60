/// Durations as specs write them: a whole number and a unit (`500ms`, `30s`, `5m`, `2h`, `90d`, `1w`),
/// or several joined (`1h30m`).
public enum DurationText {
    /// The duration in seconds, or nil when the text is not a duration.
    public static func seconds(_ text: String) -> Double? {
        var total = 0.0
        var digits = ""
        var unit = ""
        var sawPart = false
        func flush() -> Bool {
            guard !digits.isEmpty, let n = Double(digits) else { return false }
            let factor: Double
            switch unit {
            case "ms": factor = 0.001
            case "s": factor = 1
            case "m": factor = 60
            case "h": factor = 3600
            case "d": factor = 86400
            case "w": factor = 604800
            default: return false
            }
            total += n * factor
            digits = ""
            unit = ""
            sawPart = true
            return true
        }
        for ch in text {
            if ch.isASCII && (ch.isNumber || ch == ".") {
                if !unit.isEmpty { guard flush() else { return nil } }
                digits.append(ch)
            } else if ch.isASCII && ch.isLetter {
                guard !digits.isEmpty else { return nil }
                unit.append(ch)
            } else {
                return nil
            }
        }
        guard flush(), sawPart else { return nil }
        return total
    }

    /// A duration in seconds written back in the largest unit that divides it.
    public static func format(seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        let s = Int(seconds.rounded())
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60)] where s % size == 0 {
            return "\(s / size)\(unit)"
        }
        return "\(s)s"
    }
}
