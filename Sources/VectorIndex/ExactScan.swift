import CVectorKernels

/// Exact k-NN by scanning stored rows.
///
/// The batched scan is blocked like a matrix product: a block of rows small
/// enough to stay in L2 is compared against every query of the batch, four
/// queries at a time, before the next block is read — each row is read from
/// memory once per batch, not once per query. L2 uses `‖x‖² − 2 q·x` (row
/// norms are kept in storage) and adds `‖q‖²` back to the winners.
enum ExactScan {
    /// Rows per block: 1,024 rows of 128 floats is 512 KiB.
    private static func blockRows(stride: Int) -> Int { max(64, (512 * 1024) / (stride * 4)) }

    /// Top-`k` over the live slots in `0..<slotCount` for every query, closest first.
    /// `accelerated` picks the AVX2 kernel; tests pass false to check the portable scan.
    static func search(
        storage: VectorStorage, metric: Metric, queries: [PaddedVector], k: Int,
        live: UnsafePointer<UInt64>, slotCount: Int, accelerated: Bool = Distance.accelerated
    ) -> [[(Float, UInt32)]] {
        let stride = storage.stride
        let lanes = stride / 8
        var heaps = (0..<queries.count).map { _ in DistanceHeap(capacity: k + 1) }
        defer { for h in heaps { h.free() } }
        // A result enters a heap only when it beats that query's current k-th best.
        var thresholds = [Float](repeating: .infinity, count: queries.count)
        let block = blockRows(stride: stride)
        let isL2 = metric == .l2
        let rows = UnsafePointer(storage.base)
        let norms = UnsafePointer(storage.norms)
        let scale: Float = isL2 ? -2 : -1
        if accelerated {
            acceleratedScan(
                queries: queries, k: k, rows: rows, norms: norms, stride: stride, isL2: isL2, live: live, slotCount: slotCount,
                heaps: &heaps, thresholds: &thresholds)
        } else {
        heaps.withUnsafeMutableBufferPointer { heaps in
            thresholds.withUnsafeMutableBufferPointer { thresholds in
                var start = 0
                while start < slotCount {
                    let end = min(start + block, slotCount)
                    var q = 0
                    while q < queries.count {
                        let group = min(4, queries.count - q)
                        let q0 = UnsafeRawPointer(queries[q].pointer).assumingMemoryBound(to: SIMD8<Float>.self)
                        let q1 = UnsafeRawPointer(queries[q + min(1, group - 1)].pointer).assumingMemoryBound(to: SIMD8<Float>.self)
                        let q2 = UnsafeRawPointer(queries[q + min(2, group - 1)].pointer).assumingMemoryBound(to: SIMD8<Float>.self)
                        let q3 = UnsafeRawPointer(queries[q + min(3, group - 1)].pointer).assumingMemoryBound(to: SIMD8<Float>.self)
                        var slot = start
                        while slot < end {
                            if live[slot &>> 6] & (1 &<< UInt64(slot & 63)) == 0 {
                                slot &+= 1
                                continue
                            }
                            let x = UnsafeRawPointer(rows + slot &* stride).assumingMemoryBound(to: SIMD8<Float>.self)
                            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                            var i = 0
                            while i < lanes {
                                let xv = x[i]
                                a0 = a0 + q0[i] * xv
                                a1 = a1 + q1[i] * xv
                                a2 = a2 + q2[i] * xv
                                a3 = a3 + q3[i] * xv
                                i &+= 1
                            }
                            let offset: Float = isL2 ? norms[slot] : 1
                            let scores = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum()) * scale + offset
                            for j in 0..<group where scores[j] < thresholds[q &+ j] {
                                let h = q &+ j
                                if heaps[h].count == k { heaps[h].pop() }
                                heaps[h].push(scores[j], UInt32(slot))
                                if heaps[h].count == k { thresholds[h] = heaps[h].topKey }
                            }
                            slot &+= 1
                        }
                        q += group
                    }
                    start = end
                }
            }
        }
        }
        return (0..<queries.count).map { qi in
            var out: [(Float, UInt32)] = []
            while !heaps[qi].isEmpty {
                out.append((heaps[qi].topKey, heaps[qi].topSlot))
                heaps[qi].pop()
            }
            out.reverse()
            // Report the metric's own distance for the winners, computed directly.
            return out.map { (Distance.distance(metric, queries[qi].pointer, storage.row(Int($0.1)), stride), $0.1) }
        }
    }

    /// Queries per call of the C kernel: 64 queries × 1,024 rows of scores is 256 KiB.
    private static let queryChunk = 64

    /// The AVX2 + FMA scan: the C kernel fills a chunk of queries × a block of rows with inner
    /// products (the matrix-product part), then each score is turned into a distance order key
    /// and offered to its query's heap.
    private static func acceleratedScan(
        queries: [PaddedVector], k: Int, rows: UnsafePointer<Float>, norms: UnsafePointer<Float>, stride: Int, isL2: Bool,
        live: UnsafePointer<UInt64>, slotCount: Int, heaps: inout [DistanceHeap], thresholds: inout [Float]
    ) {
        let block = blockRows(stride: stride)
        let chunk = min(queryChunk, queries.count)
        let scale: Float = isL2 ? -2 : -1
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: chunk * block)
        defer { scores.deallocate() }
        let pointers = queries.map { UnsafePointer<Float>($0.pointer) as UnsafePointer<Float>? }
        pointers.withUnsafeBufferPointer { pointers in
            heaps.withUnsafeMutableBufferPointer { heaps in
                thresholds.withUnsafeMutableBufferPointer { thresholds in
                    var start = 0
                    while start < slotCount {
                        let end = min(start + block, slotCount)
                        let count = end - start
                        var q = 0
                        while q < queries.count {
                            let n = min(chunk, queries.count - q)
                            mlinfra_vk_inner_products(pointers.baseAddress! + q, n, rows + start &* stride, count, stride, scores)
                            for j in 0..<n {
                                let h = q &+ j
                                let line = scores + j &* count
                                var threshold = thresholds[h]
                                for r in 0..<count {
                                    let slot = start &+ r
                                    let score = line[r] * scale + (isL2 ? norms[slot] : 1)
                                    guard score < threshold, live[slot &>> 6] & (1 &<< UInt64(slot & 63)) != 0 else { continue }
                                    if heaps[h].count == k { heaps[h].pop() }
                                    heaps[h].push(score, UInt32(slot))
                                    if heaps[h].count == k { threshold = heaps[h].topKey }
                                }
                                thresholds[h] = threshold
                            }
                            q += n
                        }
                        start = end
                    }
                }
            }
        }
    }

    /// Top-`k` among the given slots only (the selective-filter path).
    static func search(storage: VectorStorage, metric: Metric, query: PaddedVector, k: Int, slots: [UInt32]) -> [(Float, UInt32)] {
        var heap = DistanceHeap(capacity: k + 1)
        defer { heap.free() }
        for slot in slots {
            let d = Distance.distance(metric, query.pointer, storage.row(Int(slot)), storage.stride)
            if heap.count < k {
                heap.push(d, slot)
            } else if d < heap.topKey {
                heap.pop()
                heap.push(d, slot)
            }
        }
        var out: [(Float, UInt32)] = []
        while !heap.isEmpty {
            out.append((heap.topKey, heap.topSlot))
            heap.pop()
        }
        return out.reversed()
    }
}
