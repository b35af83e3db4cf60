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
    static func winners(
        featureKeys: [Int64], featureTimes: [Int64], createdTimes: [Int64],
        entityKeys: [Int64], entityTimes: [Int64], ttlMicros: Int64
    ) -> [Int32] {
        let bits = featureKeys.count + entityKeys.count > 200_000 ? 6 : 0
        let buckets = 1 << bits
        let shift = 64 - bits
        var result = [Int32](repeating: -1, count: entityKeys.count)
        // Partition: count, then place.
        var fCounts = [Int](repeating: 0, count: buckets + 1)
        var eCounts = [Int](repeating: 0, count: buckets + 1)
        if bits > 0 {
            for k in featureKeys { fCounts[bucket(k, shift) + 1] += 1 }
            for k in entityKeys where k != KeySpace.noMatch { eCounts[bucket(k, shift) + 1] += 1 }
        } else {
            fCounts[1] = featureKeys.count
            eCounts[1] = entityKeys.lazy.filter { $0 != KeySpace.noMatch }.count
        }
        for b in 0..<buckets {
            fCounts[b + 1] += fCounts[b]
            eCounts[b + 1] += eCounts[b]
        }
        var fRows = [FeatureRow](repeating: FeatureRow(key: 0, ts: 0, cts: 0, index: 0), count: featureKeys.count)
        var eRows = [EntityRow](repeating: EntityRow(key: 0, ts: 0, index: 0), count: fCounts.isEmpty ? 0 : eCounts[buckets])
        var fFill = fCounts
        var eFill = eCounts
        for i in 0..<featureKeys.count {
            let b = bits > 0 ? bucket(featureKeys[i], shift) : 0
            fRows[fFill[b]] = FeatureRow(key: featureKeys[i], ts: featureTimes[i], cts: createdTimes[i], index: Int32(i))
            fFill[b] += 1
        }
        for i in 0..<entityKeys.count where entityKeys[i] != KeySpace.noMatch {
            let b = bits > 0 ? bucket(entityKeys[i], shift) : 0
            eRows[eFill[b]] = EntityRow(key: entityKeys[i], ts: entityTimes[i], index: Int32(i))
            eFill[b] += 1
        }
        fRows.withUnsafeMutableBufferPointer { fBuf in
            eRows.withUnsafeMutableBufferPointer { eBuf in
                result.withUnsafeMutableBufferPointer { rBuf in
                    let f = UnsafeSendable(fBuf)
                    let e = UnsafeSendable(eBuf)
                    let r = UnsafeSendable(rBuf)
                    let fc = fCounts
                    let ec = eCounts
                    let work: @Sendable (Int) -> Void = { b in
                        var fs = UnsafeMutableBufferPointer(rebasing: f.value[fc[b]..<fc[b + 1]])
                        var es = UnsafeMutableBufferPointer(rebasing: e.value[ec[b]..<ec[b + 1]])
                        guard !es.isEmpty else { return }
                        fs.sort(by: featureLess)
                        es.sort(by: entityLess)
                        merge(fs, es, ttlMicros: ttlMicros, into: r.value)
                    }
                    if buckets == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: buckets, execute: work) }
                }
            }
        }
        return result
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
