/// Bounds the loader enforces so that hostile or broken input is refused quickly.
///
/// Every limit is checked while the events stream in, before any work grows
/// past it: a file is never read beyond `maxBytes`, nesting never beyond
/// `maxDepth` (so code that recurses over a node tree stays shallow), and an
/// alias adds its whole expanded size to the counts in O(1), which is what
/// stops a "billion laughs" document after a few dozen events.
public struct YAMLLimits: Sendable, Hashable {
    /// Largest file accepted, in bytes.
    public var maxBytes: Int
    /// Deepest nesting of sequences and mappings (the root collection is depth 1).
    public var maxDepth: Int
    /// Deepest nesting of flow collections (`[…]`, `{…}`) inside each other. libyaml's scanner
    /// does work proportional to this depth for every token, so it is kept well below `maxDepth`.
    public var maxFlowDepth: Int
    /// Most nodes in a document, counting every node an alias expands to.
    public var maxNodes: Int
    /// Most nodes that aliases may add in total (each use of `*name` adds the anchored node's size).
    public var maxAliasExpansions: Int
    /// Most recoverable errors (duplicate keys, bad tags, …) reported before the loader stops.
    public var maxErrors: Int

    public init(
        maxBytes: Int = 64 << 20,
        maxDepth: Int = 256,
        maxFlowDepth: Int = 32,
        maxNodes: Int = 5_000_000,
        maxAliasExpansions: Int = 1_000_000,
        maxErrors: Int = 100
    ) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxFlowDepth = maxFlowDepth
        self.maxNodes = maxNodes
        self.maxAliasExpansions = maxAliasExpansions
        self.maxErrors = maxErrors
    }

    public static let `default` = YAMLLimits()
}
