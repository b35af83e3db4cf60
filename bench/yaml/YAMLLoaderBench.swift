import Foundation
import MLInfraCore

/// Times `YAMLLoader.load` on generated specs; run in release:
/// `swift run -c release YAMLLoaderBench [DIR]` (writes the generated specs to DIR, default /tmp/yaml-bench),
/// or `YAMLLoaderBench --file PATH` to time one existing file (for profiling).
@main
struct YAMLLoaderBench {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--file", arguments.count == 2 {
            for _ in 0..<3 {
                let (wall, cpu) = (ContinuousClock.now, cpuSeconds())
                let (root, diagnostics) = YAMLLoader.load(path: arguments[1])
                print("wall \(ContinuousClock.now - wall), cpu \(cpuSeconds() - cpu) s: root \(root != nil), \(diagnostics.count) diagnostic(s)")
            }
            return
        }
        let dir = arguments.first ?? "/tmp/yaml-bench"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let cases: [(name: String, text: String)] = [
            ("100k-resources", resources(100_000, rich: false)),
            ("10mb", resources(60_000, rich: true)),
            ("billion-laughs", billionLaughs()),
            ("deep-10000", String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)),
        ]
        for (name, text) in cases {
            let path = dir + "/" + name + ".yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            var times: [Double] = []
            var cpuTimes: [Double] = []
            var summary = ""
            for _ in 0..<5 {
                let (start, cpu) = (ContinuousClock.now, cpuSeconds())
                let (root, diagnostics) = YAMLLoader.load(path: path)
                let elapsed = ContinuousClock.now - start
                cpuTimes.append(cpuSeconds() - cpu)
                times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                let pairs = root?["resources"]?.mappingPairs?.count ?? 0
                summary = "root: \(root == nil ? "none" : "yes"), resources: \(pairs), diagnostics: \(diagnostics.count)"
                    + (diagnostics.errors.first.map { " (\($0.summary))" } ?? "")
            }
            times.sort()
            cpuTimes.sort()
            let bytes = text.utf8.count
            print(String(format: "%@ %9d bytes  wall median %8.1f ms (min %8.1f)  cpu median %8.1f ms  %@",
                         name.padding(toLength: 16, withPad: " ", startingAt: 0) as NSString, bytes, times[2] * 1000, times[0] * 1000, cpuTimes[2] * 1000, summary as NSString))
        }
    }

    /// CPU time of this process: on a shared machine it says more than wall time.
    static func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func resources(_ count: Int, rich: Bool) -> String {
        var text = "mlinfra: 1\nproject: bench\nresources:\n  registry.main: {}\n"
        text.reserveCapacity(count * (rich ? 180 : 45))
        for i in 0..<count {
            if rich {
                text += """
                      model_version.m\(i):
                        model: ${model.m\(i % 100)}
                        artifact: "models/m\(i).json"
                        format: xgboost-json
                        tags: { dataset: fraud_2024_q1, index: \(i), score: 0.\(i % 97) }

                    """
            } else {
                text += "  model.m\(i):\n    registry: ${registry.main}\n"
            }
        }
        return text
    }

    static func billionLaughs() -> String {
        var text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        for (previous, name) in zip(names, names.dropFirst()) {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
        }
        return text
    }
}
