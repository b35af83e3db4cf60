import DriftMonitor
import Foundation

// Times mlinfra's classification metrics over labelled predictions read from two float64 files
// (labels 0/1, scores), as `run.py` writes them: ROC AUC and F1 on their own, then every
// metric a performance monitor reports. Prints one JSON line per measure (median of REPS).
//
// usage: metrics-bench LABELS.f64 SCORES.f64 [REPS]

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: metrics-bench LABELS.f64 SCORES.f64 [REPS]\n".utf8))
    exit(2)
}
let reps = args.count > 3 ? Int(args[3]) ?? 5 : 5

func doubles(_ path: String) throws -> [Double] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

func timed<T>(_ body: () -> T) -> (T, Double) {
    var times = [Double](), value: T?
    for _ in 0..<reps {
        let start = DispatchTime.now().uptimeNanoseconds
        value = body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return (value!, median(times))
}

do {
    let labels = try doubles(args[1]), scores = try doubles(args[2])
    let (auc, aucSeconds) = timed { ClassificationMetrics.rocAUC(labels: labels, scores: scores) ?? .nan }
    let (f1, f1Seconds) = timed { ClassificationMetrics.f1(labels: labels, scores: scores) }
    let (all, allSeconds) = timed { ClassificationMetrics(labels: labels, scores: scores)! }
    func line(_ fields: [String: Any]) {
        print(String(decoding: try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self))
    }
    line(["tool": "mlinfra", "measure": "roc_auc", "rows": labels.count, "seconds": aucSeconds, "value": auc])
    line(["tool": "mlinfra", "measure": "f1", "rows": labels.count, "seconds": f1Seconds, "value": f1])
    line(["tool": "mlinfra", "measure": "all six metrics", "rows": labels.count, "seconds": allSeconds,
          "value": ["accuracy": all.accuracy, "precision": all.precision, "recall": all.recall, "f1": all.f1,
                    "roc_auc": all.rocAUC ?? .nan, "log_loss": all.logLoss]])
} catch {
    FileHandle.standardError.write(Data("metrics-bench: \(error)\n".utf8))
    exit(1)
}
