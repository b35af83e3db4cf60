import Dispatch
import Foundation

/// The point-in-time rule, as a sort-merge join.
///
/// For each entity row (key, t) the winner is the feature row with the same key and the
/// largest (event_ts, created_ts) such that `t - ttl <= event_ts <= t` (both ends inclusive;
/// no lower bound when ttl is 0). A full tie goes to the row that comes last in the source,
/// which is what a stable sort followed by "take the last" gives. Rows are partitioned by a
/// hash of the key so that buckets sort and merge on all cores; memory is a few arrays the
/// size of the inputs, never entity × feature products.
enum PointInTimeJoin {
    struct FeatureRow {
        var key: Int64
        var ts: Int64
        var cts: Int64
        var index: Int32
    }

    struct EntityRow {
        var key: Int64
        var ts: Int64
        var index: Int32
    }

    @inline(__always)
    static func featureLess(_ a: FeatureRow, _ b: FeatureRow) -> Bool {
        if a.key != b.key { return a.key < b.key }
        if a.ts != b.ts { return a.ts < b.ts }
        if a.cts != b.cts { return a.cts < b.cts }
        return a.index < b.index
    }

    @inline(__always)
    static func entityLess(_ a: EntityRow, _ b: EntityRow) -> Bool {
        if a.key != b.key { return a.key < b.key }
        if a.ts != b.ts { return a.ts < b.ts }
        return a.index < b.index
    }

    @inline(__always)
    static func bucket(_ key: Int64, _ shift: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
    }

    /// For every entity row, the index of the winning feature row, or -1.
    /// Entity keys equal to `KeySpace.noMatch` match nothing.
    ///
    /// Both sides are partitioned by a hash of the key, twice: into up to 256 buckets on all
    /// cores (each thread counts and places its own slice of the input), then each bucket, while
    /// it is in cache, into groups of about 16 feature rows. Groups are sorted — by insertion
    /// when small, by the standard sort when one key has many rows — and merged. Time stays
    /// O(n log n) however the keys are skewed; memory is a few arrays the size of the inputs.
    static func winners(
        featureKeys: [Int64], featureTimes: [Int64], createdTimes: [Int64],
        entityKeys: [Int64], entityTimes: [Int64], ttlMicros: Int64
    ) -> [Int32] {
        let large = featureKeys.count + entityKeys.count > 100_000
        let bits = large ? 8 : 0
        let buckets = 1 << bits
        let threads = large ? max(1, ProcessInfo.processInfo.activeProcessorCount) : 1

        let (features, fStarts) = featureKeys.withUnsafeBufferPointer { keys in
            featureTimes.withUnsafeBufferPointer { ts in
                createdTimes.withUnsafeBufferPointer { cts in
                    partition(FeatureSource(keys: keys, ts: ts, cts: cts), bits: bits, threads: threads)
                }
            }
        }
        let (entities, eStarts) = entityKeys.withUnsafeBufferPointer { keys in
            entityTimes.withUnsafeBufferPointer { ts in
                partition(EntitySource(keys: keys, ts: ts), bits: bits, threads: threads)
            }
        }
        var fRows = features
        var eRows = entities
        var result = [Int32](repeating: -1, count: entityKeys.count)
        fRows.withUnsafeMutableBufferPointer { fBuf in
            eRows.withUnsafeMutableBufferPointer { eBuf in
                result.withUnsafeMutableBufferPointer { rBuf in
                    let f = UnsafeSendable(fBuf)
                    let e = UnsafeSendable(eBuf)
                    let r = UnsafeSendable(rBuf)
                    // A few runs of buckets per thread, each with scratch space of its own.
                    let parts = min(buckets, threads * 4)
                    let work: @Sendable (Int) -> Void = { part in
                        var scratch = Scratch()
                        for b in (buckets * part / parts)..<(buckets * (part + 1) / parts) {
                            let es = UnsafeMutableBufferPointer(rebasing: e.value[eStarts[b]..<eStarts[b + 1]])
                            guard !es.isEmpty else { continue }
                            let fs = UnsafeMutableBufferPointer(rebasing: f.value[fStarts[b]..<fStarts[b + 1]])
                            joinBucket(fs, es, skip: bits, ttlMicros: ttlMicros, scratch: &scratch, into: r.value)
                        }
                    }
                    if threads == 1 {
                        for part in 0..<parts { work(part) }
                    } else {
                        DispatchQueue.concurrentPerform(iterations: parts, execute: work)
                    }
                }
            }
        }
        return result
    }

    /// Joins one bucket: groups its rows by the next bits of the key's hash (after the `skip`
    /// bits that chose the bucket), sorts each group and merges group by group.
    /// Buffers a thread reuses from bucket to bucket.
    private struct Scratch {
        var features: [FeatureRow] = []
        var entities: [EntityRow] = []
        var starts: [Int] = []
        var next: [Int] = []
    }

    private static func joinBucket(
        _ fs: UnsafeMutableBufferPointer<FeatureRow>, _ es: UnsafeMutableBufferPointer<EntityRow>, skip: Int, ttlMicros: Int64,
        scratch: inout Scratch, into result: UnsafeMutableBufferPointer<Int32>
    ) {
        let wanted = max(1, fs.count / 16)
        let bits = min(16, Int.bitWidth - (wanted - 1).leadingZeroBitCount)
        guard bits > 0 else {
            var fs = fs
            var es = es
            sortSmall(&fs, by: featureLess)
            sortSmall(&es, by: entityLess)
            merge(fs, es, ttlMicros: ttlMicros, into: result)
            return
        }
        let groups = 1 << bits
        @inline(__always) func group(_ key: Int64) -> Int {
            Int(truncatingIfNeeded: ((UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) << UInt64(skip)) >> UInt64(64 - bits))
        }
        let fStarts = regroup(fs, groups: groups, copy: &scratch.features, starts: &scratch.starts, next: &scratch.next) { group($0.key) }
        let eStarts = regroup(es, groups: groups, copy: &scratch.entities, starts: &scratch.starts, next: &scratch.next) { group($0.key) }
        for g in 0..<groups where eStarts[g] < eStarts[g + 1] {
            var gf = UnsafeMutableBufferPointer(rebasing: fs[fStarts[g]..<fStarts[g + 1]])
            var ge = UnsafeMutableBufferPointer(rebasing: es[eStarts[g]..<eStarts[g + 1]])
            sortSmall(&gf, by: featureLess)
            sortSmall(&ge, by: entityLess)
            merge(gf, ge, ttlMicros: ttlMicros, into: result)
        }
    }

    /// Reorders `rows` in place so that rows of each group are together (counting sort through
    /// `copy`); returns where each group starts, plus the end. `starts` and `next` are scratch.
    @inline(__always)
    private static func regroup<Row>(
        _ rows: UnsafeMutableBufferPointer<Row>, groups: Int, copy: inout [Row], starts: inout [Int], next: inout [Int],
        _ groupOf: (Row) -> Int
    ) -> [Int] {
        starts.removeAll(keepingCapacity: true)
        starts.append(contentsOf: repeatElement(0, count: groups + 1))
        for row in rows { starts[groupOf(row) + 1] += 1 }
        for g in 0..<groups { starts[g + 1] += starts[g] }
        copy.removeAll(keepingCapacity: true)
        copy.append(contentsOf: rows)
        next.removeAll(keepingCapacity: true)
        next.append(contentsOf: starts)
        for row in copy {
            let g = groupOf(row)
            rows[next[g]] = row
            next[g] += 1
        }
        return starts
    }

    /// Rows to partition: a key per row (`KeySpace.noMatch` leaves the row out) and the row itself.
    private protocol RowSource {
        associatedtype Row
        var count: Int { get }
        func key(_ i: Int) -> Int64
        func row(_ i: Int) -> Row
    }

    private struct FeatureSource: RowSource {
        let keys: UnsafeBufferPointer<Int64>
        let ts: UnsafeBufferPointer<Int64>
        let cts: UnsafeBufferPointer<Int64>
        var count: Int { keys.count }
        @inline(__always) func key(_ i: Int) -> Int64 { keys[i] }
        @inline(__always) func row(_ i: Int) -> FeatureRow { FeatureRow(key: keys[i], ts: ts[i], cts: cts[i], index: Int32(i)) }
    }

    private struct EntitySource: RowSource {
        let keys: UnsafeBufferPointer<Int64>
        let ts: UnsafeBufferPointer<Int64>
        var count: Int { keys.count }
        @inline(__always) func key(_ i: Int) -> Int64 { keys[i] }
        @inline(__always) func row(_ i: Int) -> EntityRow { EntityRow(key: keys[i], ts: ts[i], index: Int32(i)) }
    }

    /// The rows of `source` grouped by bucket (the top `bits` of the key's hash), each thread
    /// counting and then placing its own slice; and where each bucket starts, plus the end.
    private static func partition<Source: RowSource>(_ source: Source, bits: Int, threads: Int) -> ([Source.Row], [Int]) {
        let buckets = 1 << bits
        let count = source.count
        let input = UnsafeSendable(source)
        @Sendable @inline(__always) func bucketOf(_ i: Int) -> Int {
            let k = input.value.key(i)
            if k == KeySpace.noMatch { return -1 }
            return bits == 0 ? 0 : bucket(k, 64 - bits)
        }
        let slice: @Sendable (Int) -> Range<Int> = { t in (count * t / threads)..<(count * (t + 1) / threads) }
        var counts = [Int](repeating: 0, count: threads * buckets)  // [thread * buckets + bucket]
        counts.withUnsafeMutableBufferPointer { c in
            let c = UnsafeSendable(c)
            let countSlice: @Sendable (Int) -> Void = { t in
                for i in slice(t) {
                    let b = bucketOf(i)
                    if b >= 0 { c.value[t * buckets + b] += 1 }
                }
            }
            if threads == 1 { countSlice(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: countSlice) }
        }
        // Bucket starts, and where each thread's rows of each bucket go.
        var starts = [Int](repeating: 0, count: buckets + 1)
        var position = 0
        for b in 0..<buckets {
            starts[b] = position
            for t in 0..<threads {
                let n = counts[t * buckets + b]
                counts[t * buckets + b] = position
                position += n
            }
        }
        starts[buckets] = position
        // Placed straight into uninitialized memory: every slot is written exactly once.
        let rows = [Source.Row](unsafeUninitializedCapacity: position) { out, initialized in
            counts.withUnsafeMutableBufferPointer { next in
                let out = UnsafeSendable(out)
                let next = UnsafeSendable(next)
                let place: @Sendable (Int) -> Void = { t in
                    for i in slice(t) {
                        let b = bucketOf(i)
                        guard b >= 0 else { continue }
                        (out.value.baseAddress! + next.value[t * buckets + b]).initialize(to: input.value.row(i))
                        next.value[t * buckets + b] += 1
                    }
                }
                if threads == 1 { place(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: place) }
            }
            initialized = position
        }
        return (rows, starts)
    }

    /// Sorts a bucket: insertion sort when it is small (the common case: about 16 rows), else the
    /// standard library's sort.
    @inline(__always)
    private static func sortSmall<T>(_ rows: inout UnsafeMutableBufferPointer<T>, by less: (T, T) -> Bool) {
        guard rows.count > 1 else { return }
        guard rows.count <= 48 else {
            rows.sort(by: less)
            return
        }
        for i in 1..<rows.count {
            let x = rows[i]
            var j = i
            while j > 0, less(x, rows[j - 1]) {
                rows[j] = rows[j - 1]
                j -= 1
            }
            rows[j] = x
        }
    }

    /// Walks sorted feature rows and sorted entity rows of one bucket together.
    @inline(__always)
    static func merge(
        _ fs: UnsafeMutableBufferPointer<FeatureRow>, _ es: UnsafeMutableBufferPointer<EntityRow>, ttlMicros: Int64,
        into result: UnsafeMutableBufferPointer<Int32>
    ) {
        var fp = 0
        let nf = fs.count
        var currentKey = Int64.min
        var last = -1
        var first = true
        for e in es {
            if first || e.key != currentKey {
                first = false
                currentKey = e.key
                last = -1
                while fp < nf, fs[fp].key < e.key { fp += 1 }
            }
            while fp < nf, fs[fp].key == e.key, fs[fp].ts <= e.ts {
                last = fp
                fp += 1
            }
            if last >= 0 {
                let w = fs[last]
                if ttlMicros <= 0 || w.ts >= e.ts &- ttlMicros {
                    result[Int(e.index)] = w.index
                }
            }
        }
    }
}
