/// A directed acyclic graph of hashable nodes; an edge `a → b` means `a` depends on `b`.
///
/// It knows nothing of resources, plans or state.
public struct DAG<Node: Hashable & Sendable>: Sendable {
    public private(set) var nodes: [Node] = []
    private var index: [Node: Int] = [:]
    private var dependencies: [[Int]] = []
    private var dependents: [[Int]] = []

    public init() {}

    public var count: Int { nodes.count }

    public func contains(_ node: Node) -> Bool { index[node] != nil }

    public mutating func add(_ node: Node) {
        guard index[node] == nil else { return }
        index[node] = nodes.count
        nodes.append(node)
        dependencies.append([])
        dependents.append([])
    }

    /// Records that `node` depends on `dependency`; both are added if missing.
    public mutating func connect(_ node: Node, dependsOn dependency: Node) {
        add(node)
        add(dependency)
        let a = index[node]!, b = index[dependency]!
        guard !dependencies[a].contains(b) else { return }
        dependencies[a].append(b)
        dependents[b].append(a)
    }

    public func dependencies(of node: Node) -> [Node] {
        guard let i = index[node] else { return [] }
        return dependencies[i].map { nodes[$0] }
    }

    public func dependents(of node: Node) -> [Node] {
        guard let i = index[node] else { return [] }
        return dependents[i].map { nodes[$0] }
    }

    /// Everything `node` depends on, directly or not.
    public func ancestors(of start: [Node]) -> Set<Node> { reachable(from: start, along: dependencies) }

    /// Everything that depends on `node`, directly or not.
    public func descendants(of start: [Node]) -> Set<Node> { reachable(from: start, along: dependents) }

    /// The nodes reached from `start` by one or more steps along `edges`.
    private func reachable(from start: [Node], along edges: [[Int]]) -> Set<Node> {
        var seen = Set<Int>()
        var stack = start.compactMap { index[$0] }
        while let i = stack.popLast() {
            for d in edges[i] where seen.insert(d).inserted { stack.append(d) }
        }
        return Set(seen.map { nodes[$0] })
    }

    /// The graph with every edge turned around (for destroys).
    public func reversed() -> DAG {
        var copy = self
        swap(&copy.dependencies, &copy.dependents)
        return copy
    }

    /// The first cycle found, as a path that starts and ends at the same node; nil when acyclic.
    public func cycle() -> [Node]? {
        // Iterative three-colour depth-first search.
        var colour = [UInt8](repeating: 0, count: nodes.count)  // 0 white, 1 grey, 2 black
        var parent = [Int](repeating: -1, count: nodes.count)
        for start in nodes.indices where colour[start] == 0 {
            var stack: [(Int, Int)] = [(start, 0)]
            colour[start] = 1
            while !stack.isEmpty {
                let (n, next) = stack[stack.count - 1]
                if next < dependencies[n].count {
                    stack[stack.count - 1].1 += 1
                    let d = dependencies[n][next]
                    if colour[d] == 0 {
                        colour[d] = 1
                        parent[d] = n
                        stack.append((d, 0))
                    } else if colour[d] == 1 {
                        var path = [d]
                        var walk = n
                        while walk != d {
                            path.append(walk)
                            walk = parent[walk]
                        }
                        path.append(d)
                        return path.reversed().map { nodes[$0] }
                    }
                } else {
                    colour[n] = 2
                    stack.removeLast()
                }
            }
        }
        return nil
    }

    /// Nodes ordered so that every node comes after its dependencies (stable: ties keep insertion order).
    /// Nil when there is a cycle.
    public func topologicalOrder() -> [Node]? {
        var remaining = dependencies.map(\.count)
        var ready = remaining.indices.filter { remaining[$0] == 0 }
        var order: [Node] = []
        order.reserveCapacity(nodes.count)
        var head = 0
        while head < ready.count {
            let n = ready[head]
            head += 1
            order.append(nodes[n])
            for d in dependents[n] {
                remaining[d] -= 1
                if remaining[d] == 0 { ready.append(d) }
            }
        }
        return order.count == nodes.count ? order : nil
    }

    /// What happened to a node during a walk.
    public enum Outcome: Sendable, Equatable {
        case succeeded
        case failed
        /// Not run: a dependency failed or was skipped, or the walk was stopped.
        case skipped
    }

    /// Visits every node once its dependencies have succeeded, at most `parallelism` at a time.
    ///
    /// A node whose visit returns false (failed) makes its dependents `skipped`. When
    /// `shouldContinue` answers false, no new visit starts; running ones finish.
    public func walk(
        parallelism: Int,
        shouldContinue: @escaping @Sendable () -> Bool = { true },
        visit: @escaping @Sendable (Node) async -> Bool
    ) async -> [Node: Outcome] {
        precondition(parallelism >= 1, "parallelism must be at least 1")
        var remaining = dependencies.map(\.count)
        var blocked = [Bool](repeating: false, count: nodes.count)
        var outcome = [Outcome?](repeating: nil, count: nodes.count)
        var ready = remaining.indices.filter { remaining[$0] == 0 }.reversed() as [Int]
        var running = 0
        var stopped = false

        func settle(_ n: Int, _ result: Outcome, into ready: inout [Int]) {
            outcome[n] = result
            for d in dependents[n] {
                if result != .succeeded { blocked[d] = true }
                remaining[d] -= 1
                if remaining[d] == 0 { ready.append(d) }
            }
        }

        await withTaskGroup(of: (Int, Bool).self) { group in
            while true {
                while running < parallelism, let n = ready.popLast() {
                    if blocked[n] || stopped {
                        settle(n, .skipped, into: &ready)
                        continue
                    }
                    if !shouldContinue() {
                        stopped = true
                        settle(n, .skipped, into: &ready)
                        continue
                    }
                    running += 1
                    let node = nodes[n]
                    group.addTask { (n, await visit(node)) }
                }
                guard running > 0, let (n, ok) = await group.next() else { break }
                running -= 1
                settle(n, ok ? .succeeded : .failed, into: &ready)
            }
        }
        var result: [Node: Outcome] = [:]
        for (i, node) in nodes.enumerated() { result[node] = outcome[i] ?? .skipped }
        return result
    }
}
