import Foundation

/// An XGBoost gbtree model read from XGBoost's own JSON format (`Booster.save_model("m.json")`).
///
/// Inference follows XGBoost's rules exactly: at an internal node go left iff
/// `x < split_condition` (compared as `Float`), a missing value (NaN) follows the node's
/// `default_left`, leaf values are summed per output group in `Float` starting from the
/// base margin, then the objective's link turns margins into predictions.
///
/// All trees live in one flat array of 16-byte nodes, each tree's nodes contiguous in
/// XGBoost's own (breadth-first) order, so a walk touches few cache lines and no pointers.
public struct XGBoostModel: ModelRuntime {
    /// The objectives this runtime evaluates.
    public enum Objective: String, Sendable, CaseIterable {
        case binaryLogistic = "binary:logistic"
        case binaryLogitraw = "binary:logitraw"
        case regSquaredError = "reg:squarederror"
        case multiSoftprob = "multi:softprob"
        case multiSoftmax = "multi:softmax"
    }

    /// One tree node. A leaf has `feature == Node.leaf` and its value in `threshold`.
    @usableFromInline
    struct Node: Sendable {
        @usableFromInline var threshold: Float
        /// Bit 31: a missing value goes left. Bits 0–30: the feature index, or `leaf`.
        @usableFromInline var feature: UInt32
        @usableFromInline var left: Int32
        @usableFromInline var right: Int32

        @usableFromInline static let leaf: UInt32 = 0x7FFF_FFFF
        @usableFromInline static let defaultLeftBit: UInt32 = 0x8000_0000
    }

    @usableFromInline let nodes: [Node]
    /// The index in `nodes` of each tree's root.
    @usableFromInline let roots: [Int32]
    /// The output group (class) each tree adds to.
    @usableFromInline let groups: [Int32]
    /// The base margin per output group.
    public let baseMargin: [Float]
    public let objective: Objective
    public let featureNames: [String]
    /// `xgboost-json`, or `xgboost-ubj` for a model read from XGBoost's UBJSON.
    public let format: ModelFormat
    public var treeCount: Int { roots.count }
    /// The number of output groups the trees add to (classes for multi-class, else 1).
    public var groupCount: Int { baseMargin.count }

    public var outputNames: [String] {
        switch objective {
        case .binaryLogistic: ["probability"]
        case .binaryLogitraw, .regSquaredError: ["prediction"]
        case .multiSoftmax: ["class"]
        case .multiSoftprob: (0..<groupCount).map { "class_\($0)" }
        }
    }

    // MARK: Loading

    public init(json: Data, source: String) throws {
        try self.init(json: json, source: source, format: .xgboostJSON)
    }

    /// Reads XGBoost's UBJSON model (`Booster.save_model("model.ubj")`, MLflow's default), the same
    /// document as the JSON model in another encoding.
    public init(ubj: Data, source: String) throws {
        let json: Data
        do {
            json = try UBJSON.json(ubj)
        } catch {
            throw ModelLoadError(source: source, message: "not an XGBoost UBJSON model (\(error))",
                                 remedy: "save the model with Booster.save_model(\"model.ubj\") (XGBoost 1.6 or later)")
        }
        try self.init(json: json, source: source, format: .xgboostUBJ)
    }

    private init(json: Data, source: String, format: ModelFormat) throws {
        let doc: XGBoostDocument
        do {
            doc = try JSONDecoder().decode(XGBoostDocument.self, from: json)
        } catch {
            throw ModelLoadError(source: source, message: "not an XGBoost \(format == .xgboostUBJ ? "UBJSON" : "JSON") model (\(Self.describe(error)))",
                                 remedy: "save the model with Booster.save_model(\"model.\(format == .xgboostUBJ ? "ubj" : "json")\") (XGBoost 1.6 or later)")
        }
        try self.init(doc, source: source, format: format)
    }

    private init(_ doc: XGBoostDocument, source: String, format: ModelFormat) throws {
        self.format = format
        let learner = doc.learner
        guard let objective = Objective(rawValue: learner.objective.name) else {
            throw ModelLoadError(source: source, message: "objective \"\(learner.objective.name)\" is not supported",
                                 remedy: "serve a model trained with one of: \(Objective.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard learner.gradient_booster.name == "gbtree", let model = learner.gradient_booster.model else {
            throw ModelLoadError(source: source, message: "booster \"\(learner.gradient_booster.name)\" is not supported",
                                 remedy: "train with booster=\"gbtree\"")
        }
        let params = learner.learner_model_param
        guard let featureCount = Int(params.num_feature), featureCount > 0 else {
            throw ModelLoadError(source: source, message: "learner_model_param.num_feature \"\(params.num_feature)\" is not a positive integer",
                                 remedy: "re-save the model with XGBoost")
        }
        let numClass = Int(params.num_class ?? "0") ?? 0
        let groupCount = max(1, numClass)
        if (objective == .multiSoftprob || objective == .multiSoftmax) && numClass < 2 {
            throw ModelLoadError(source: source, message: "objective \(objective.rawValue) with num_class \(numClass)",
                                 remedy: "re-save the model with XGBoost; a multi-class model has num_class ≥ 2")
        }
        let scores = try Self.parseBaseScore(params.base_score, source: source)
        guard scores.count == 1 || scores.count == groupCount else {
            throw ModelLoadError(source: source, message: "base_score has \(scores.count) values for \(groupCount) output groups",
                                 remedy: "re-save the model with XGBoost")
        }
        let perGroup = scores.count == 1 ? [Float](repeating: scores[0], count: groupCount) : scores
        switch objective {
        case .binaryLogistic:
            // XGBoost stores base_score in probability space for logistic objectives.
            baseMargin = perGroup.map { -logf(1 / $0 - 1) }
        case .binaryLogitraw, .regSquaredError, .multiSoftprob, .multiSoftmax:
            baseMargin = perGroup
        }
        if let names = learner.feature_names, !names.isEmpty {
            guard names.count == featureCount else {
                throw ModelLoadError(source: source, message: "\(names.count) feature_names for num_feature \(featureCount)",
                                     remedy: "re-save the model with XGBoost")
            }
            featureNames = names
        } else {
            featureNames = (0..<featureCount).map { "f\($0)" }
        }
        guard model.tree_info.count == model.trees.count else {
            throw ModelLoadError(source: source, message: "tree_info has \(model.tree_info.count) entries for \(model.trees.count) trees",
                                 remedy: "re-save the model with XGBoost")
        }

        var nodes: [Node] = []
        nodes.reserveCapacity(model.trees.reduce(0) { $0 + $1.left_children.count })
        var roots: [Int32] = []
        var groups: [Int32] = []
        for (t, tree) in model.trees.enumerated() {
            let n = tree.left_children.count
            guard n > 0, tree.right_children.count == n, tree.split_indices.count == n,
                  tree.split_conditions.count == n, tree.default_left.count == n
            else {
                throw ModelLoadError(source: source, message: "tree \(t) has arrays of different lengths",
                                     remedy: "re-save the model with XGBoost")
            }
            if let types = tree.split_type, types.contains(where: { $0 != 0 }) {
                throw ModelLoadError(source: source, message: "tree \(t) has categorical splits, which this runtime does not evaluate",
                                     remedy: "train without enable_categorical, or one-hot encode the categories")
            }
            let group = model.tree_info[t]
            guard group >= 0, group < groupCount else {
                throw ModelLoadError(source: source, message: "tree \(t) adds to output group \(group), the model has \(groupCount)",
                                     remedy: "re-save the model with XGBoost")
            }
            let offset = Int32(nodes.count)
            roots.append(offset)
            groups.append(Int32(group))
            for i in 0..<n {
                let left = tree.left_children[i]
                if left == -1 {
                    nodes.append(Node(threshold: tree.split_conditions[i], feature: Node.leaf, left: -1, right: -1))
                    continue
                }
                let right = tree.right_children[i]
                let feature = tree.split_indices[i]
                guard left > 0, left < n, right > 0, right < n else {
                    throw ModelLoadError(source: source, message: "tree \(t) node \(i) has a child outside the tree",
                                         remedy: "re-save the model with XGBoost")
                }
                guard feature >= 0, feature < featureCount else {
                    throw ModelLoadError(source: source, message: "tree \(t) node \(i) splits on feature \(feature), the model has \(featureCount)",
                                         remedy: "re-save the model with XGBoost")
                }
                var packed = UInt32(feature)
                if tree.default_left[i] { packed |= Node.defaultLeftBit }
                nodes.append(Node(threshold: tree.split_conditions[i], feature: packed,
                                  left: offset + Int32(left), right: offset + Int32(right)))
            }
        }
        self.nodes = nodes
        self.roots = roots
        self.groups = groups
        self.objective = objective
    }

    /// Parses `base_score` as XGBoost writes it: `"[4.756E-1]"`, `"[a,b,c]"` (one per class), or `"5E-1"`.
    static func parseBaseScore(_ text: String, source: String) throws -> [Float] {
        var body = Substring(text.trimmingCharacters(in: .whitespaces))
        if body.hasPrefix("[") && body.hasSuffix("]") { body = body.dropFirst().dropLast() }
        let parts = body.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap(Float.init)
        guard !parts.isEmpty, values.count == parts.count else {
            throw ModelLoadError(source: source, message: "base_score \"\(text)\" is not a number or a list of numbers",
                                 remedy: "re-save the model with XGBoost")
        }
        return values
    }

    private static func describe(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        switch decoding {
        case .keyNotFound(let key, let context):
            return "missing field \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "field \(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    // MARK: Inference

    /// The raw margins (sum of leaves plus base margin), `groupCount` per row.
    public func margins(_ input: FeatureMatrix) -> Predictions {
        precondition(input.columns == featureNames.count, "XGBoostModel: \(input.columns) columns for \(featureNames.count) features")
        let width = groupCount
        var out = [Float](repeating: 0, count: input.rows * width)
        nodes.withUnsafeBufferPointer { nodes in
            roots.withUnsafeBufferPointer { roots in
                groups.withUnsafeBufferPointer { groups in
                    input.values.withUnsafeBufferPointer { x in
                        out.withUnsafeMutableBufferPointer { out in
                            for r in 0..<input.rows {
                                let row = UnsafeBufferPointer(rebasing: x[(r * input.columns)..<((r + 1) * input.columns)])
                                let o = r * width
                                for g in 0..<width { out[o + g] = baseMargin[g] }
                                for t in 0..<roots.count {
                                    out[o + Int(groups[t])] += Self.leafValue(nodes, root: Int(roots[t]), row: row)
                                }
                            }
                        }
                    }
                }
            }
        }
        return Predictions(rows: input.rows, width: width, values: out)
    }

    @inline(__always)
    static func leafValue(_ nodes: UnsafeBufferPointer<Node>, root: Int, row: UnsafeBufferPointer<Float>) -> Float {
        var i = root
        while true {
            let node = nodes[i]
            let feature = node.feature & Node.leaf
            if feature == Node.leaf { return node.threshold }
            let v = row[Int(feature)]
            if v.isNaN {
                i = Int(node.feature & Node.defaultLeftBit != 0 ? node.left : node.right)
            } else {
                i = Int(v < node.threshold ? node.left : node.right)
            }
        }
    }

    public func predict(_ input: FeatureMatrix) -> Predictions {
        var result = margins(input)
        switch objective {
        case .binaryLogitraw, .regSquaredError:
            break
        case .binaryLogistic:
            for i in result.values.indices { result.values[i] = Self.sigmoid(result.values[i]) }
        case .multiSoftprob:
            for r in 0..<result.rows { Self.softmax(&result.values, from: r * result.width, count: result.width) }
        case .multiSoftmax:
            var classes = [Float](repeating: 0, count: result.rows)
            for r in 0..<result.rows {
                let row = result.row(r)
                classes[r] = Float(row.indices.max { row[$0] < row[$1] }! - row.startIndex)
            }
            result = Predictions(rows: result.rows, width: 1, values: classes)
        }
        return result
    }

    /// XGBoost's `common::Sigmoid`, in `Float`.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        1 / (expf(min(-x, 88.7)) + 1)
    }

    /// XGBoost's `common::Softmax`, in `Float`.
    static func softmax(_ values: inout [Float], from start: Int, count: Int) {
        var top = values[start]
        for i in start..<(start + count) { top = max(top, values[i]) }
        var sum: Float = 0
        for i in start..<(start + count) {
            values[i] = expf(values[i] - top)
            sum += values[i]
        }
        for i in start..<(start + count) { values[i] /= sum }
    }
}

/// The parts of XGBoost's JSON model schema that inference needs.
private struct XGBoostDocument: Decodable {
    var learner: Learner

    struct Learner: Decodable {
        var feature_names: [String]?
        var learner_model_param: Params
        var objective: ObjectiveDoc
        var gradient_booster: Booster
    }

    struct Params: Decodable {
        var base_score: String
        var num_class: String?
        var num_feature: String
    }

    struct ObjectiveDoc: Decodable {
        var name: String
    }

    struct Booster: Decodable {
        var name: String
        var model: Model?
    }

    struct Model: Decodable {
        var trees: [Tree]
        var tree_info: [Int]
    }

    struct Tree: Decodable {
        var left_children: [Int]
        var right_children: [Int]
        var split_indices: [Int]
        var split_conditions: [Float]
        var default_left: [Bool]
        var split_type: [Int]?

        enum CodingKeys: String, CodingKey {
            case left_children, right_children, split_indices, split_conditions, default_left, split_type
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            left_children = try c.decode([Int].self, forKey: .left_children)
            right_children = try c.decode([Int].self, forKey: .right_children)
            split_indices = try c.decode([Int].self, forKey: .split_indices)
            split_conditions = try c.decode([Float].self, forKey: .split_conditions)
            split_type = try c.decodeIfPresent([Int].self, forKey: .split_type)
            // XGBoost writes default_left as 0/1 integers (older versions: booleans).
            if let ints = try? c.decode([Int].self, forKey: .default_left) {
                default_left = ints.map { $0 != 0 }
            } else {
                default_left = try c.decode([Bool].self, forKey: .default_left)
            }
        }
    }
}
