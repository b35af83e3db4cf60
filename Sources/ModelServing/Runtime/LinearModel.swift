import Foundation

/// A linear model: `link(intercept + Σ weights[i] × x[i])`.
///
/// The `linear-json` artifact format (version 1):
/// ```json
/// {
///   "format": "linear-json",
///   "version": 1,
///   "feature_names": ["age", "income"],   // optional; defaults to f0, f1, …
///   "weights": [0.25, -1.5],              // one per feature, required
///   "intercept": 0.1,                     // optional, default 0
///   "link": "logistic"                    // "identity" (default) or "logistic"
/// }
/// ```
/// A missing input value (`null`) contributes nothing to the sum, as if it were 0.
/// The sum is computed in double precision; the output is rounded to `Float`.
public struct LinearModel: ModelRuntime {
    public enum Link: String, Sendable, Codable {
        case identity
        case logistic
    }

    public let weights: [Double]
    public let intercept: Double
    public let link: Link
    public let featureNames: [String]
    public var format: ModelFormat { .linearJSON }
    public var outputNames: [String] { link == .logistic ? ["probability"] : ["prediction"] }

    public init(weights: [Double], intercept: Double, link: Link, featureNames: [String]? = nil) {
        self.weights = weights
        self.intercept = intercept
        self.link = link
        self.featureNames = featureNames ?? weights.indices.map { "f\($0)" }
    }

    private struct Document: Decodable {
        var format: String?
        var version: Int?
        var feature_names: [String]?
        var weights: [Double]?
        var intercept: Double?
        var link: String?
    }

    public init(json: Data, source: String) throws {
        let doc: Document
        do {
            doc = try JSONDecoder().decode(Document.self, from: json)
        } catch {
            throw ModelLoadError(source: source, message: "not a linear-json document (\(error))",
                                 remedy: #"write {"format": "linear-json", "version": 1, "weights": [...], "intercept": 0, "link": "identity"}"#)
        }
        if let format = doc.format, format != ModelFormat.linearJSON.rawValue {
            throw ModelLoadError(source: source, message: "format is \"\(format)\", expected \"linear-json\"",
                                 remedy: "set \"format\": \"linear-json\" or declare the artifact's real format")
        }
        if let version = doc.version, version != 1 {
            throw ModelLoadError(source: source, message: "linear-json version \(version) is not supported",
                                 remedy: "write version 1")
        }
        guard let weights = doc.weights, !weights.isEmpty else {
            throw ModelLoadError(source: source, message: "field \"weights\" is missing or empty",
                                 remedy: "give one weight per input feature")
        }
        if let names = doc.feature_names, names.count != weights.count {
            throw ModelLoadError(source: source, message: "\"feature_names\" has \(names.count) names for \(weights.count) weights",
                                 remedy: "give one name per weight")
        }
        let linkName = doc.link ?? "identity"
        guard let link = Link(rawValue: linkName) else {
            throw ModelLoadError(source: source, message: "link \"\(linkName)\" is not supported",
                                 remedy: "use \"identity\" or \"logistic\"")
        }
        self.init(weights: weights, intercept: doc.intercept ?? 0, link: link, featureNames: doc.feature_names)
    }

    public func predict(_ input: FeatureMatrix) -> Predictions {
        precondition(input.columns == weights.count, "LinearModel: \(input.columns) columns for \(weights.count) weights")
        var out = [Float](repeating: 0, count: input.rows)
        input.values.withUnsafeBufferPointer { x in
            for r in 0..<input.rows {
                var sum = intercept
                let base = r * input.columns
                for c in 0..<weights.count {
                    let v = x[base + c]
                    if !v.isNaN { sum += weights[c] * Double(v) }
                }
                out[r] = Float(link == .logistic ? 1 / (1 + exp(-sum)) : sum)
            }
        }
        return Predictions(rows: input.rows, width: 1, values: out)
    }
}
