import Foundation
import Testing

@testable import DriftMonitor

/// Compares every statistic with SciPy / Evidently's answers, recorded by
/// `Fixtures/make_fixtures.py` into `Fixtures/drift_fixtures.json`.
struct Fixtures: Decodable {
    struct Numerical: Decodable {
        var name: String
        var reference: [Double]
        var current: [Double]
        var ks_statistic: Double
        var ks_pvalue: Double
        var ks_location: Double
        var ks_sign: Int
        var ks_method: String
        var wasserstein: Double
        var wasserstein_normed: Double
        var reference_std: Double
        var jensenshannon: Double
        var psi: Double
        var psi_edges: [Double]
        var default_method: String
    }
    struct Categorical: Decodable {
        var name: String
        var reference: [String]
        var current: [String]
        var default_method: String
        var chisquare_pvalue: Double?
        var z_pvalue: Double?
        var jensenshannon: Double
    }
    struct KSTwo: Decodable { var n: Int; var x: Double; var sf: Double; var smirnov: Double }
    struct Gamma: Decodable { var a: Double; var x: Double; var q: Double }
    var numerical: [Numerical]
    var categorical: [Categorical]
    var kstwo: [KSTwo]
    var gammaincc: [Gamma]

    static let shared: Fixtures = {
        let url = Bundle.module.url(forResource: "drift_fixtures", withExtension: "json")!
        return try! JSONDecoder().decode(Fixtures.self, from: Data(contentsOf: url))
    }()
}

func close(_ a: Double, _ b: Double, abs absTol: Double, rel relTol: Double = 0) -> Bool {
    if a == b { return true }
    if a.isNaN || b.isNaN { return false }
    return Swift.abs(a - b) <= max(absTol, relTol * Swift.abs(b))
}

@Suite struct ScipyParityTests {
    @Test func ksStatisticAndPValueMatchScipy() {
        for c in Fixtures.shared.numerical {
            let r = KolmogorovSmirnov.test(reference: c.reference, current: c.current)
            #expect(close(r.statistic, c.ks_statistic, abs: 1e-12), "\(c.name): D \(r.statistic) vs \(c.ks_statistic)")
            #expect(close(r.pValue, c.ks_pvalue, abs: 1e-9), "\(c.name): p \(r.pValue) vs \(c.ks_pvalue)")
            #expect(r.method.rawValue == c.ks_method, "\(c.name)")
            #expect(r.location == c.ks_location && r.sign == c.ks_sign, "\(c.name): location \(r.location) sign \(r.sign)")
        }
    }

    @Test func kstwoSurvivalAndSmirnovMatchScipyOnEveryBranch() {
        for g in Fixtures.shared.kstwo {
            let sf = KolmogorovSmirnov.kstwoSF(g.x, n: g.n)
            #expect(close(sf, g.sf, abs: 1e-12, rel: 1e-9), "kstwo.sf(\(g.x), \(g.n)) = \(sf) vs \(g.sf)")
            let sm = KolmogorovDistribution.smirnovSF(g.n, g.x)
            #expect(close(sm, g.smirnov, abs: 1e-12, rel: 1e-9), "smirnov(\(g.n), \(g.x)) = \(sm) vs \(g.smirnov)")
        }
    }

    @Test func incompleteGammaMatchesScipy() {
        for g in Fixtures.shared.gammaincc {
            let q = SpecialFunctions.regularizedGammaQ(g.a, g.x)
            #expect(close(q, g.q, abs: 1e-14, rel: 1e-11), "gammaincc(\(g.a), \(g.x)) = \(q) vs \(g.q)")
        }
    }

    @Test func wassersteinJensenShannonAndPSIMatch() {
        for c in Fixtures.shared.numerical {
            let ref = c.reference.sorted(), cur = c.current.sorted()
            ref.withUnsafeBufferPointer { a in
                cur.withUnsafeBufferPointer { b in
                    let w = DriftStatistics.wasserstein(sortedReference: a, sortedCurrent: b)
                    #expect(close(w, c.wasserstein, abs: 1e-14, rel: 1e-12), "\(c.name): W \(w) vs \(c.wasserstein)")
                    let std = c.reference.withUnsafeBufferPointer { NumericKernels.meanAndStd($0).std }
                    #expect(close(std, c.reference_std, abs: 1e-15, rel: 1e-13), "\(c.name): std")
                    let normed = w / max(std, 0.001)
                    #expect(close(normed, c.wasserstein_normed, abs: 1e-14, rel: 1e-12), "\(c.name): W normed")
                    let distinct = DriftStatistics.valueCounts(sorted: a).values.count
                    let bins = DriftStatistics.evidentlyBins(sortedReference: a, sortedCurrent: b, referenceDistinct: distinct)
                    let js = DriftStatistics.jensenShannon(bins.reference, bins.current)
                    #expect(close(js, c.jensenshannon, abs: 1e-14, rel: 1e-12), "\(c.name): JS \(js) vs \(c.jensenshannon)")
                    let edges = DriftStatistics.psiEdges(sortedReference: a)
                    #expect(edges == c.psi_edges, "\(c.name): PSI edges")
                    let psi = DriftStatistics.psi(sortedReference: a, sortedCurrent: b, innerEdges: edges).value
                    #expect(close(psi, c.psi, abs: 1e-14, rel: 1e-12), "\(c.name): PSI \(psi) vs \(c.psi)")
                }
            }
        }
    }
}

@Suite struct EvidentlyParityTests {
    @Test func fixtureCoversTheEdgeCases() {
        let names = Fixtures.shared.numerical.map(\.name)
        #expect(names.count >= 90)
        for prefix in ["small_", "medium_", "large_", "ties_", "constant_", "tiny_", "disjoint"] {
            #expect(names.contains { $0.hasPrefix(prefix) }, "no \(prefix) case")
        }
        #expect(Fixtures.shared.numerical.contains { $0.ks_method == "asymptotic" })
        #expect(Fixtures.shared.numerical.contains { $0.ks_method == "exact" && $0.reference.count != $0.current.count })
    }

    @Test func defaultMethodFollowsEvidently() {
        for c in Fixtures.shared.numerical {
            let a = c.reference.sorted(), b = c.current.sorted()
            let distinct = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { DriftStatistics.distinctCount(sorted: pa, $0, limit: 5) } }
            let m = DriftMethod.defaultMethod(kind: .numerical, referenceCount: a.count, distinctValues: distinct)
            #expect(m.rawValue == c.default_method, "\(c.name): \(m) vs \(c.default_method)")
        }
        for c in Fixtures.shared.categorical {
            let m = DriftMethod.defaultMethod(kind: .categorical, referenceCount: c.reference.count,
                                              distinctValues: Set(c.reference + c.current).count)
            #expect(m.rawValue == c.default_method, "\(c.name)")
        }
    }

    @Test func categoricalTestsMatchEvidently() throws {
        for c in Fixtures.shared.categorical {
            let table = DataTable(columns: ["x": .categorical(c.reference)], rowCount: c.reference.count)
            let profile = try ReferenceProfile.build(from: table, source: "ref", sha256: "")
            let current = DataTable(columns: ["x": .categorical(c.current)], rowCount: c.current.count)
            if let p = c.chisquare_pvalue {
                let r = try DriftEvaluator.evaluate(monitor: "m", profile: profile, current: current, currentSource: "cur",
                                                    checks: [DriftCheck(feature: "x", method: .chisquare)])
                #expect(close(r.features[0].value, p, abs: 1e-12, rel: 1e-9), "\(c.name): chi2 p \(r.features[0].value) vs \(p)")
            }
            if let p = c.z_pvalue {
                let r = try DriftEvaluator.evaluate(monitor: "m", profile: profile, current: current, currentSource: "cur",
                                                    checks: [DriftCheck(feature: "x", method: .z)])
                #expect(close(r.features[0].value, p, abs: 1e-12, rel: 1e-9), "\(c.name): z p \(r.features[0].value) vs \(p)")
            }
            let js = try DriftEvaluator.evaluate(monitor: "m", profile: profile, current: current, currentSource: "cur",
                                                 checks: [DriftCheck(feature: "x", method: .jensenshannon)])
            #expect(close(js.features[0].value, c.jensenshannon, abs: 1e-14, rel: 1e-12), "\(c.name): JS")
        }
    }

    @Test func evaluatorOnNumericalColumnsMatchesTheFixture() throws {
        for c in Fixtures.shared.numerical.prefix(40) {
            let profile = try ReferenceProfile.build(from: DataTable(columns: ["x": .numerical(c.reference)], rowCount: c.reference.count),
                                                     source: "ref", sha256: "")
            let current = DataTable(columns: ["x": .numerical(c.current)], rowCount: c.current.count)
            let report = try DriftEvaluator.evaluate(
                monitor: "m", profile: profile, current: current, currentSource: "cur",
                checks: [DriftCheck(feature: "x", method: .ks)])
            #expect(close(report.features[0].value, c.ks_pvalue, abs: 1e-9), "\(c.name)")
            #expect(report.features[0].drifted == (c.ks_pvalue <= 0.05), "\(c.name): Evidently's KS verdict is p <= threshold")
            let w = try DriftEvaluator.evaluate(monitor: "m", profile: profile, current: current, currentSource: "cur",
                                                checks: [DriftCheck(feature: "x", method: .wasserstein, threshold: 0.2)])
            #expect(close(w.features[0].value, c.wasserstein_normed, abs: 1e-14, rel: 1e-12))
            #expect(w.features[0].threshold == 0.2 && w.features[0].drifted == (c.wasserstein_normed >= 0.2))
        }
    }
}
