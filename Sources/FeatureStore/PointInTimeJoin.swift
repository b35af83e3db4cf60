import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The point-in-time rule, as a sort-merge join.
///
/// For each entity row (key, t) the winner is the feature row with the same key and the
/// largest (event_ts, created_ts) such that `t - ttl <= event_ts <= t` (both ends inclusive;
/// no lower bound when ttl is 0). A full tie goes to the row that comes last in the source,
/// which is the one with the largest row id (ids follow the source's order). Rows are
/// partitioned by a hash of the key so that buckets sort and merge on all cores; memory is a
/// few arrays the size of the inputs, never entity × feature products.
enum PointInTimeJoin {
    struct FeatureRow: BitwiseCopyable {
        var key: Int64
        var ts: Int64
        var cts: Int64
        /// Where the row is in its source: a byte offset in a CSV file, an index in a table's rows.
        var id: Int
    }

    struct EntityRow {
        var key: Int64
        var ts: Int64
        var index: Int32
    }

    /// Buckets for `count` feature rows: 256 on all cores when there are many, else one.
    static func bucketBits(forRows count: Int) -> Int { count > 50_000 ? 8 : 0 }

    /// Feature rows sorted into the join's buckets (the top `bits` of the key's hash) as they
    /// are read, one row buffer per bucket; a file read in chunks has a writer per chunk.
    /// Copies share the buffers, which are freed with the last copy.
    struct BucketWriter: @unchecked Sendable {
        // @unchecked Sendable: a writer is filled by one thread, then only read.
        private final class Table {
            let buffers: UnsafeMutablePointer<RowBuffer<FeatureRow>>
            let count: Int
            /// One mapping that every bucket starts in, faulted in by the kernel in one call
            /// rather than page by page as rows arrive (thousands of faults for a large source).
            private let arena: UnsafeMutableRawPointer?
            private let arenaBytes: Int

            init(count: Int, reserving perBucket: Int) {
                self.count = count
                buffers = .allocate(capacity: count)
                arenaBytes = count * perBucket * MemoryLayout<FeatureRow>.stride
                #if os(Linux)
                    let populate = MAP_POPULATE
                #else
                    let populate: Int32 = 0
                #endif
                let mapped = mmap(nil, arenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0)
                arena = mapped == MAP_FAILED ? nil : mapped
                for b in 0..<count {
                    if let arena {
                        let start = arena.assumingMemoryBound(to: FeatureRow.self) + b * perBucket
                        (buffers + b).initialize(to: RowBuffer(in: start, capacity: perBucket))
                    } else {
                        (buffers + b).initialize(to: RowBuffer(reserving: perBucket))
                    }
                }
            }

            deinit {
                buffers.deinitialize(count: count)
                buffers.deallocate()
                if let arena { munmap(arena, arenaBytes) }
            }
        }

        let bits: Int
        private let table: Table
        private let buffers: UnsafeMutablePointer<RowBuffer<FeatureRow>>

        /// A writer for about `expectedRows` rows (buffers grow past it).
        init(bits: Int, expectedRows: Int) {
            self.bits = bits
            table = Table(count: 1 << bits, reserving: (expectedRows >> bits) * 5 / 4 + 16)
            buffers = table.buffers
        }

        @inline(__always)
        func append(_ row: FeatureRow) {
            buffers[bits == 0 ? 0 : bucket(row.key, 64 - bits)].append(row)
        }

        func rows(inBucket b: Int) -> UnsafeBufferPointer<FeatureRow> { buffers[b].rows }

        var count: Int { (0..<(1 << bits)).reduce(0) { $0 + buffers[$1].count } }
    }

    /// A source's feature rows in the join's buckets: bucket `b` is the rows of bucket `b` of
    /// every writer. Built once per load, so a join only partitions its entity rows.
    struct Buckets: Sendable {
        let bits: Int
        let count: Int
        private let writers: [BucketWriter]

        /// Writers that all use the same `bits`.
        init(writers: [BucketWriter]) {
            precondition(Set(writers.map(\.bits)).count <= 1, "writers of one source share their buckets")
            self.writers = writers
            bits = writers.first?.bits ?? 0
            count = writers.reduce(0) { $0 + $1.count }
        }

        /// From row arrays: row `i` has key `keys[i]`, times `ts[i]` and `cts[i]`, and id `i`.
        init(keys: [Int64], ts: [Int64], cts: [Int64]) {
            let writer = BucketWriter(bits: bucketBits(forRows: keys.count), expectedRows: keys.count)
            for i in keys.indices { writer.append(FeatureRow(key: keys[i], ts: ts[i], cts: cts[i], id: i)) }
            self.init(writers: [writer])
        }

        /// The rows of bucket `b`, one run per writer.
        func runs(ofBucket b: Int) -> [UnsafeBufferPointer<FeatureRow>] { writers.map { $0.rows(inBucket: b) } }

        /// Every row, bucket by bucket.
        func forEach(_ body: (FeatureRow) throws -> Void) rethrows {
            for b in 0..<(1 << bits) {
                for run in runs(ofBucket: b) {
                    for row in run { try body(row) }
                }
            }
        }
    }

    @inline(__always)
    static func featureLess(_ a: FeatureRow, _ b: FeatureRow) -> Bool {
        if a.key != b.key { return a.key < b.key }
        if a.ts != b.ts { return a.ts < b.ts }
        if a.cts != b.cts { return a.cts < b.cts }
        return a.id < b.id
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

    /// For every entity row, the id of the winning feature row, or -1.
    /// Entity keys equal to `KeySpace.noMatch` match nothing.
    ///
    /// The entity rows are partitioned like the feature rows (into up to 256 buckets on all
    /// cores); then each bucket, while it is in cache, into groups of about 16 feature rows.
    /// Groups are sorted — by insertion when small, by the standard sort when one key has many
    /// rows — and merged. Time stays O(n log n) however the keys are skewed; memory is a few
    /// arrays the size of the inputs.
    static func winners(features: Buckets, entityKeys: [Int64], entityTimes: [Int64], ttlMicros: Int64) -> [Int] {
        let bits = features.bits
        let buckets = 1 << bits
        let threads = bits == 0 ? 1 : max(1, ProcessInfo.processInfo.activeProcessorCount)
        let (entities, eStarts) = entityKeys.withUnsafeBufferPointer { keys in
            entityTimes.withUnsafeBufferPointer { ts in
                partition(keys: keys, ts: ts, bits: bits, threads: threads)
            }
        }
        var result = [Int](repeating: -1, count: entityKeys.count)
        withExtendedLifetime(features) {
            entities.withUnsafeBufferPointer { eBuf in
                result.withUnsafeMutableBufferPointer { rBuf in
                    let e = UnsafeSendable(eBuf)
                    let r = UnsafeSendable(rBuf)
                    // A few runs of buckets per thread, each with scratch space of its own.
                    let parts = min(buckets, threads * 4)
                    let work: @Sendable (Int) -> Void = { part in
                        var scratch = Scratch()
                        for b in (buckets * part / parts)..<(buckets * (part + 1) / parts) {
                            let es = UnsafeBufferPointer(rebasing: e.value[eStarts[b]..<eStarts[b + 1]])
                            guard !es.isEmpty else { continue }
                            joinBucket(features.runs(ofBucket: b), es, skip: bits, ttlMicros: ttlMicros, scratch: &scratch, into: r.value)
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

    /// Buffers a thread reuses from bucket to bucket.
    private struct Scratch {
        var features: [FeatureRow] = []
        var entities: [EntityRow] = []
        var starts: [Int] = []
        var next: [Int] = []
    }

    /// Joins one bucket: groups its rows by the next bits of the key's hash (after the `skip`
    /// bits that chose the bucket) into the scratch buffers, sorts each group and merges group
    /// by group.
    private static func joinBucket(
        _ fs: [UnsafeBufferPointer<FeatureRow>], _ es: UnsafeBufferPointer<EntityRow>, skip: Int, ttlMicros: Int64,
        scratch: inout Scratch, into result: UnsafeMutableBufferPointer<Int>
    ) {
        let wanted = max(1, fs.reduce(0) { $0 + $1.count } / 16)
        let bits = min(16, Int.bitWidth - (wanted - 1).leadingZeroBitCount)
        let groups = 1 << bits
        @inline(__always) func group(_ key: Int64) -> Int {
            bits == 0 ? 0 : Int(truncatingIfNeeded: ((UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) << UInt64(skip)) >> UInt64(64 - bits))
        }
        let fStarts = regroup(fs, groups: groups, into: &scratch.features, starts: &scratch.starts, next: &scratch.next) { group($0.key) }
        let eStarts = regroup([es], groups: groups, into: &scratch.entities, starts: &scratch.starts, next: &scratch.next) { group($0.key) }
        scratch.features.withUnsafeMutableBufferPointer { fAll in
            scratch.entities.withUnsafeMutableBufferPointer { eAll in
                for g in 0..<groups where eStarts[g] < eStarts[g + 1] {
                    var gf = UnsafeMutableBufferPointer(rebasing: fAll[fStarts[g]..<fStarts[g + 1]])
                    var ge = UnsafeMutableBufferPointer(rebasing: eAll[eStarts[g]..<eStarts[g + 1]])
                    sortSmall(&gf, by: featureLess)
                    sortSmall(&ge, by: entityLess)
                    merge(gf, ge, ttlMicros: ttlMicros, into: result)
                }
            }
        }
    }

    /// The rows of `runs` put into `grouped` so that rows of each group are together (a
    /// counting sort; the input stays as it is); returns where each group starts, plus the end.
    /// `starts` and `next` are scratch.
    @inline(__always)
    private static func regroup<Row>(
        _ runs: [UnsafeBufferPointer<Row>], groups: Int, into grouped: inout [Row], starts: inout [Int], next: inout [Int],
        _ groupOf: (Row) -> Int
    ) -> [Int] {
        starts.removeAll(keepingCapacity: true)
        starts.append(contentsOf: repeatElement(0, count: groups + 1))
        grouped.removeAll(keepingCapacity: true)
        for rows in runs {
            for row in rows { starts[groupOf(row) + 1] += 1 }
            grouped.append(contentsOf: rows)  // sizes the buffer; every slot is overwritten below
        }
        for g in 0..<groups { starts[g + 1] += starts[g] }
        next.removeAll(keepingCapacity: true)
        next.append(contentsOf: starts)
        grouped.withUnsafeMutableBufferPointer { out in
            for rows in runs {
                for row in rows {
                    let g = groupOf(row)
                    out[next[g]] = row
                    next[g] += 1
                }
            }
        }
        return starts
    }

    /// The entity rows grouped by bucket (the top `bits` of the key's hash), each of `threads`
    /// threads counting and then placing its own slice of the input; and where each bucket
    /// starts, plus the end. Rows with the key `KeySpace.noMatch` are left out.
    private static func partition(
        keys: UnsafeBufferPointer<Int64>, ts: UnsafeBufferPointer<Int64>, bits: Int, threads: Int
    ) -> ([EntityRow], [Int]) {
        let buckets = 1 << bits
        let input = UnsafeSendable((keys, ts))
        let slices = (0..<threads).map { t in (keys.count * t / threads)..<(keys.count * (t + 1) / threads) }
        @Sendable @inline(__always) func bucketOf(_ i: Int) -> Int {
            let k = input.value.0[i]
            if k == KeySpace.noMatch { return -1 }
            return bits == 0 ? 0 : bucket(k, 64 - bits)
        }
        func eachSlice(_ body: @Sendable (Int) -> Void) {
            if threads == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: body) }
        }
        var counts = [Int](repeating: 0, count: threads * buckets)  // [thread * buckets + bucket]
        counts.withUnsafeMutableBufferPointer { c in
            let c = UnsafeSendable(c)
            eachSlice { t in
                for i in slices[t] {
                    let b = bucketOf(i)
                    if b >= 0 { c.value[t * buckets + b] += 1 }
                }
            }
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
        let rows = [EntityRow](unsafeUninitializedCapacity: position) { out, initialized in
            counts.withUnsafeMutableBufferPointer { next in
                let out = UnsafeSendable(out)
                let next = UnsafeSendable(next)
                eachSlice { t in
                    for i in slices[t] {
                        let b = bucketOf(i)
                        guard b >= 0 else { continue }
                        let row = EntityRow(key: input.value.0[i], ts: input.value.1[i], index: Int32(i))
                        (out.value.baseAddress! + next.value[t * buckets + b]).initialize(to: row)
                        next.value[t * buckets + b] += 1
                    }
                }
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
        into result: UnsafeMutableBufferPointer<Int>
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
                    result[Int(e.index)] = w.id
                }
            }
        }
    }
}
