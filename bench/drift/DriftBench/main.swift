import DriftMonitor
import Foundation

// Times mlinfra's drift check the way a monitor runs it: the reference profile is
// stored once (timed separately), then each check reads the current CSV, loads the
// stored profile and evaluates every column with Evidently's default methods.
//
// usage: drift-bench REFERENCE.csv CURRENT.csv DATA_DIR [REPS]

let args = CommandLine.arguments
guard args.count >= 4 else {
    FileHandle.standardError.write(Data("usage: drift-bench REFERENCE.csv CURRENT.csv DATA_DIR [REPS]\n".utf8))
    exit(2)
}
let (reference, current, dataDir) = (args[1], args[2], args[3])
let reps = args.count > 4 ? Int(args[4]) ?? 5 : 5
try? FileManager.default.removeItem(atPath: dataDir)

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// CPU seconds used by the whole process (all threads): on a shared machine this is
/// steadier than wall time.
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

do {
    let engine = try DriftMonitorEngine(dataDirectory: dataDir)
    let definition = MonitorDefinition(name: "bench", source: .dataset(current), reference: reference)
    let profileSeconds = try seconds { try engine.apply(definition) }
    var checkTimes = [Double](), readTimes = [Double](), checkCPU = [Double]()
    var report: DriftReport?
    for _ in 0..<reps {
        let cpu0 = cpuSeconds()
        checkTimes.append(try seconds { report = try engine.evaluate(definition, at: Date()) })
        checkCPU.append(cpuSeconds() - cpu0)
        readTimes.append(try seconds { _ = try CSVReader.read(path: current) })
    }
    let values = Dictionary(uniqueKeysWithValues: report!.features.map { ($0.feature, $0.value) })
    let methods = Set(report!.features.map(\.method.rawValue)).sorted()
    let out: [String: Any] = [
        "tool": "mlinfra", "rows": report!.currentRows, "columns": report!.features.count,
        "threads": ProcessInfo.processInfo.activeProcessorCount,
        "profile_s": (profileSeconds * 1000).rounded() / 1000,
        "check_s_median": (median(checkTimes) * 1000).rounded() / 1000,
        "check_s_all": checkTimes.map { ($0 * 1000).rounded() / 1000 },
        "check_cpu_s_median": (median(checkCPU) * 1000).rounded() / 1000,
        "current_csv_read_s_median": (median(readTimes) * 1000).rounded() / 1000,
        "methods": methods, "drifted": report!.driftedCount, "dataset_drift": report!.datasetDrift, "values": values,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self))
} catch {
    FileHandle.standardError.write(Data("drift-bench: \(error)\n".utf8))
    exit(1)
}
