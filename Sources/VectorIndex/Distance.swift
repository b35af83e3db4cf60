import CVectorKernels

/// Distance kernels over padded, 64-byte aligned rows of `Float`.
///
/// Rows are padded with zeros to a multiple of 16 components, so each kernel
/// walks whole `SIMD16<Float>` lanes with no tail loop; zero padding changes
/// neither a squared L2 distance nor a dot product.
///
/// On a CPU with AVX2 and FMA the C kernels of `CVectorKernels` (compiled for
/// those instructions per function) do the work; elsewhere the portable Swift
/// SIMD code below, which the compiler lowers to the baseline instruction set.
enum Distance {
    /// Whether the AVX2 + FMA kernels run on this CPU (checked once).
    static let accelerated = mlinfra_vk_available() != 0
    /// The padded row length for a dimension: the next multiple of 16.
    @inline(__always)
    static func stride(for dimension: Int) -> Int { (dimension + 15) & ~15 }

    @inline(__always)
    static func squaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ stride: Int) -> Float {
        if accelerated { return mlinfra_vk_l2(a, b, stride) }
        return portableSquaredL2(a, b, stride)
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ stride: Int) -> Float {
        if accelerated { return mlinfra_vk_dot(a, b, stride) }
        return portableDot(a, b, stride)
    }

    @inline(__always)
    static func portableSquaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ stride: Int) -> Float {
        let va = UnsafeRawPointer(a).assumingMemoryBound(to: SIMD16<Float>.self)
        let vb = UnsafeRawPointer(b).assumingMemoryBound(to: SIMD16<Float>.self)
        let lanes = stride &>> 4
        var acc0 = SIMD16<Float>()
        var acc1 = SIMD16<Float>()
        var i = 0
        while i &+ 1 < lanes {
            let d0 = va[i] - vb[i]
            let d1 = va[i &+ 1] - vb[i &+ 1]
            acc0 = acc0 + d0 * d0
            acc1 = acc1 + d1 * d1
            i &+= 2
        }
        if i < lanes {
            let d0 = va[i] - vb[i]
            acc0 = acc0 + d0 * d0
        }
        return (acc0 + acc1).sum()
    }

    @inline(__always)
    static func portableDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ stride: Int) -> Float {
        let va = UnsafeRawPointer(a).assumingMemoryBound(to: SIMD16<Float>.self)
        let vb = UnsafeRawPointer(b).assumingMemoryBound(to: SIMD16<Float>.self)
        let lanes = stride &>> 4
        var acc0 = SIMD16<Float>()
        var acc1 = SIMD16<Float>()
        var i = 0
        while i &+ 1 < lanes {
            acc0 = acc0 + va[i] * vb[i]
            acc1 = acc1 + va[i &+ 1] * vb[i &+ 1]
            i &+= 2
        }
        if i < lanes {
            acc0 = acc0 + va[i] * vb[i]
        }
        return (acc0 + acc1).sum()
    }

    /// The metric's distance; cosine rows are already normalised, so it is `1 - dot`.
    @inline(__always)
    static func distance(_ metric: Metric, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ stride: Int) -> Float {
        switch metric {
        case .l2: squaredL2(a, b, stride)
        case .ip, .cosine: 1 - dot(a, b, stride)
        }
    }
}

/// One padded, aligned copy of a query vector (normalised for cosine).
final class PaddedVector: @unchecked Sendable {
    // Written once in init and read-only afterwards, so sharing it across threads is safe.
    let pointer: UnsafeMutablePointer<Float>
    let stride: Int

    init(_ values: [Float], stride: Int, normalize: Bool) {
        self.stride = stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: stride * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: stride)
        pointer.initialize(repeating: 0, count: stride)
        var scale: Float = 1
        if normalize {
            let norm = values.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { scale = 1 / norm }
        }
        for (i, v) in values.enumerated() { pointer[i] = v * scale }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
