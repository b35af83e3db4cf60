import Foundation
import CaptureStorage

/// Reads an endpoint's captured requests over a time window from the capture store the serving
/// engine writes (one record per instance, `inputs` a JSON object feature → value), into columns.
/// A null, NaN or absent feature value is a missing value: counted in `DataTable.missing`.
public enum CaptureReader {
    public static func read(store: any CaptureStore, endpoint: String, from start: Date, to end: Date, features: Set<String>?) throws -> DataTable {
        try table(try records(store: store, endpoint: endpoint, from: start, to: end), endpoint: endpoint, features: features)
    }

    /// The endpoint's captured records in the window `(start, end]`.
    public static func records(store: any CaptureStore, endpoint: String, from start: Date, to end: Date) throws -> [CaptureRecord] {
        do {
            return try store.records(endpoint: endpoint, after: start.timeIntervalSince1970, through: end.timeIntervalSince1970, limit: nil)
        } catch let error as CaptureStoreError {
            throw DriftError(error)
        }
    }

    /// The records' inputs as columns.
    public static func table(_ records: [CaptureRecord], endpoint: String, features: Set<String>?) throws -> DataTable {
        let rows = records.map { ($0.id ?? 0, $0.inputs) }
        var numbers = [String: [Double]]()
        var labels = [String: [String]]()
        var missing = [String: Int]()
        var names: Set<String>? = features
        for (id, inputs) in rows {
            guard let object = try? JSONSerialization.jsonObject(with: Data(inputs.utf8)) as? [String: Any] else {
                throw DriftError.badData("capture row \(id) of endpoint \(endpoint) has inputs that are not a JSON object",
                                         remedy: "the serving engine must store one JSON object per instance")
            }
            if names == nil { names = Set(object.keys) }
            for name in names! {
                // An unknown entity's features come back null: a missing value, counted, not an error.
                guard let value = object[name], !(value is NSNull) else {
                    missing[name, default: 0] += 1
                    continue
                }
                if let s = value as? String {
                    labels[name, default: []].append(s)
                } else if let b = value as? Bool, type(of: value) == Bool.self {
                    labels[name, default: []].append(b ? "true" : "false")
                } else if let n = value as? NSNumber {
                    let d = n.doubleValue
                    if d.isNaN {
                        missing[name, default: 0] += 1
                    } else if d.isFinite {
                        numbers[name, default: []].append(d)
                    } else {
                        throw DriftError.badData("capture row \(id) of endpoint \(endpoint) has an infinite \"\(name)\"",
                                                 remedy: "drift statistics need finite numbers")
                    }
                } else {
                    throw DriftError.badData("capture row \(id) of endpoint \(endpoint): \"\(name)\" is neither a number nor a string",
                                             remedy: "monitor scalar features only")
                }
            }
        }
        var columns = [String: ColumnValues]()
        for name in names ?? [] {
            let n = numbers[name] ?? [], l = labels[name] ?? []
            if !l.isEmpty && !n.isEmpty {
                throw DriftError.badData("feature \"\(name)\" of endpoint \(endpoint) mixes numbers and strings in the window",
                                         remedy: "send one type per feature")
            }
            columns[name] = l.isEmpty ? .numerical(n) : .categorical(l)
        }
        return DataTable(columns: columns, rowCount: rows.count, missing: missing)
    }
}

extension DriftError {
    /// A capture store failure, told as the monitor's own.
    init(_ error: CaptureStoreError) {
        self.init(error.code == .notFound ? .notFound : .io, error.message, remedy: error.remedy)
    }
}
