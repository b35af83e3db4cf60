import Foundation
import GRDB

/// Reads an endpoint's captured requests (`<data_dir>/serving/capture.sqlite`, table
/// `capture`, one row per instance with `inputs` a JSON object feature → value) over a
/// time window, into columns.
public enum CaptureReader {
    public static func read(dataDirectory: String, endpoint: String, from start: Date, to end: Date, features: Set<String>?) throws -> DataTable {
        let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent("serving/capture.sqlite").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw DriftError.notFound("no capture store at \(path)",
                                      fix: "enable capture on endpoint \(endpoint) (capture: { sample_percent: N }) and send it traffic")
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        let rows: [(Int64, String)]
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            rows = try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT id, inputs FROM capture WHERE endpoint = ? AND time > ? AND time <= ? ORDER BY time, id",
                                 arguments: [endpoint, start.timeIntervalSince1970, end.timeIntervalSince1970])
                    .map { ($0["id"], $0["inputs"]) }
            }
        } catch {
            throw DriftError.io("cannot read the capture store \(path): \(error)", fix: "check that the serving engine created it")
        }
        var numbers = [String: [Double]]()
        var labels = [String: [String]]()
        var names: Set<String>? = features
        for (id, inputs) in rows {
            guard let object = try? JSONSerialization.jsonObject(with: Data(inputs.utf8)) as? [String: Any] else {
                throw DriftError.badData("capture row \(id) of endpoint \(endpoint) has inputs that are not a JSON object",
                                         fix: "the serving engine must store one JSON object per instance")
            }
            if names == nil { names = Set(object.keys) }
            for name in names! {
                guard let value = object[name], !(value is NSNull) else {
                    throw DriftError.badData("capture row \(id) of endpoint \(endpoint) has no value for \"\(name)\"",
                                             fix: "drift statistics refuse missing values; check what the endpoint receives")
                }
                if let s = value as? String {
                    labels[name, default: []].append(s)
                } else if let b = value as? Bool, type(of: value) == Bool.self {
                    labels[name, default: []].append(b ? "true" : "false")
                } else if let n = value as? NSNumber {
                    let d = n.doubleValue
                    guard d.isFinite else {
                        throw DriftError.badData("capture row \(id) of endpoint \(endpoint) has a NaN or infinite \"\(name)\"",
                                                 fix: "drift statistics refuse NaN")
                    }
                    numbers[name, default: []].append(d)
                } else {
                    throw DriftError.badData("capture row \(id) of endpoint \(endpoint): \"\(name)\" is neither a number nor a string",
                                             fix: "monitor scalar features only")
                }
            }
        }
        var columns = [String: ColumnValues]()
        for name in names ?? [] {
            let n = numbers[name] ?? [], l = labels[name] ?? []
            if !l.isEmpty && !n.isEmpty {
                throw DriftError.badData("feature \"\(name)\" of endpoint \(endpoint) mixes numbers and strings in the window",
                                         fix: "send one type per feature")
            }
            columns[name] = l.isEmpty ? .numerical(n) : .categorical(l)
        }
        return DataTable(columns: columns, rowCount: rows.count)
    }
}
