import Foundation
import Synchronization
import Testing
@testable import MLInfraCore

@Suite struct DAGTests {
    func graph(_ edges: [(String, String)]) -> DAG<String> {
        var g = DAG<String>()
        for (a, b) in edges { g.connect(a, dependsOn: b) }
        return g
    }

    @Test func topologicalOrderPutsDependenciesFirst() throws {
        let g = graph([("app", "db"), ("app", "cache"), ("cache", "net"), ("db", "net")])
        let order = try #require(g.topologicalOrder())
        func pos(_ n: String) -> Int { order.firstIndex(of: n)! }
        #expect(pos("net") < pos("db"))
        #expect(pos("net") < pos("cache"))
        #expect(pos("db") < pos("app"))
        #expect(pos("cache") < pos("app"))
        #expect(g.cycle() == nil)
    }

    @Test func cycleIsReportedWhole() throws {
        let g = graph([("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")])
        let cycle = try #require(g.cycle())
        #expect(cycle.first == cycle.last)
        #expect(Set(cycle) == ["a", "b", "c"])
        #expect(cycle.count == 4)
        #expect(g.topologicalOrder() == nil)
    }

    @Test func selfLoopIsACycle() {
        #expect(graph([("a", "a")]).cycle() == ["a", "a"])
    }

    @Test func walkRespectsDependenciesAndParallelismBound() async {
        // 40 independent leaves under one root, each visit sleeps: at most 4 may run at once.
        var g = DAG<String>()
        for i in 0..<40 { g.connect("root", dependsOn: "leaf\(i)") }
        let running = Mutex(0), peak = Mutex(0), rootSawAll = Mutex(false), done = Mutex(0)
        let outcome = await g.walk(parallelism: 4) { node in
            if node == "root" {
                rootSawAll.withLock { $0 = done.withLock { $0 } == 40 }
                return true
            }
            let now = running.withLock { $0 += 1; return $0 }
            peak.withLock { $0 = max($0, now) }
            try? await Task.sleep(for: .milliseconds(5))
            running.withLock { $0 -= 1 }
            done.withLock { $0 += 1 }
            return true
        }
        #expect(peak.withLock { $0 } == 4)
        #expect(rootSawAll.withLock { $0 })
        #expect(outcome.values.allSatisfy { $0 == .succeeded })
    }

    @Test func nodeStartsAsSoonAsItsOwnDependenciesFinish() async {
        // slow ← a, fast ← b: `slow` waits (up to 10 s) for `b`, which must not wait for `slow`.
        let g = graph([("a", "slow"), ("b", "fast")])
        let order = Mutex<[String]>([])
        _ = await g.walk(parallelism: 4) { node in
            if node == "slow" {
                let deadline = ContinuousClock.now + .seconds(10)
                while !order.withLock({ $0.contains("b") }) && ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            order.withLock { $0.append(node) }
            return true
        }
        let seen = order.withLock { $0 }
        #expect(seen.firstIndex(of: "b")! < seen.firstIndex(of: "slow")!)
    }

    @Test func failureSkipsOnlyDependents() async {
        let g = graph([("a", "bad"), ("b", "good"), ("c", "a")])
        let outcome = await g.walk(parallelism: 2) { $0 != "bad" }
        #expect(outcome["bad"] == .failed)
        #expect(outcome["a"] == .skipped)
        #expect(outcome["c"] == .skipped)
        #expect(outcome["good"] == .succeeded)
        #expect(outcome["b"] == .succeeded)
    }

    @Test func stoppedWalkStartsNothingNew() async {
        var g = DAG<String>()
        for i in 0..<10 { g.connect("n\(i + 1)", dependsOn: "n\(i)") }
        let count = Mutex(0)
        let outcome = await g.walk(parallelism: 1, shouldContinue: { count.withLock { $0 } < 3 }) { _ in
            count.withLock { $0 += 1 }
            return true
        }
        #expect(count.withLock { $0 } == 3)
        #expect(outcome.values.filter { $0 == .skipped }.count == 8)
    }

    @Test func reversedGraphOrdersDestroys() throws {
        let g = graph([("app", "db")]).reversed()
        #expect(try #require(g.topologicalOrder()) == ["app", "db"])
    }
}
