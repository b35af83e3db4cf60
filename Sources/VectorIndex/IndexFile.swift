import Foundation

/// The on-disk form of a collection's HNSW graph: `<store>/index/<collection>.hnsw`.
///
/// Layout (little-endian): the magic `MLVIDX01`; a UInt32 header length and a
/// JSON header (collection uid, the write sequence the graph reflects, the
/// parameters, slot high-water mark, entry point); each slot's top level
/// (Int32, -1 for none); the layer-0 link block; each upper-layer block in
/// slot order; and a 64-bit FNV-1a checksum of everything before it.
///
/// Written to a temporary file in the same directory, fsynced, renamed over
/// the old one, and the directory fsynced: a crash leaves the old file or the
/// new one, never half of one.
enum IndexFile {
    static let magic = Array("MLVIDX01".utf8)

    struct Header: Codable, Equatable {
        var format = 1
        var collectionUID: String
        var sequence: Int
        var dimension: Int
        var metric: Metric
        var m: Int
        var efConstruction: Int
        var highWater: Int
        var liveCount: Int
        var entryPoint: Int32
        var maxLevel: Int
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let words = bytes.count / 8
        for i in 0..<words {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01b3
        }
        for i in (words * 8)..<bytes.count {
            hash = (hash ^ UInt64(bytes[i])) &* 0x100_0000_01b3
        }
        return hash
    }

    /// Serialises a graph (purged: no deleted nodes) and writes it atomically.
    static func write(_ graph: HNSWGraph, header: Header, to path: String) throws {
        var data = Data()
        data.append(contentsOf: magic)
        let json = try JSONEncoder().encode(header)
        append(&data, UInt32(json.count))
        data.append(json)
        let slots = header.highWater
        data.append(Data(bytes: graph.levels, count: slots * 4))
        data.append(Data(bytes: graph.level0, count: slots * (graph.m0 + 1) * 4))
        for s in 0..<slots where graph.levels[s] > 0 {
            data.append(Data(bytes: graph.upper[s]!, count: Int(graph.levels[s]) * (graph.m + 1) * 4))
        }
        let sum = data.withUnsafeBytes { checksum($0) }
        append(&data, sum)
        try writeAtomically(data, to: path)
    }

    private static func append<T: FixedWidthInteger>(_ data: inout Data, _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }

    /// Why a file could not be used; the store rebuilds the graph and reports this.
    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads the header and checks the checksum; the graph body is read by `load`.
    static func read(_ path: String) throws -> (Header, Data) {
        guard let data = FileManager.default.contents(atPath: path) else { throw Mismatch(description: "index file is missing") }
        guard data.count > 20, Array(data.prefix(8)) == magic else { throw Mismatch(description: "index file is not an mlinfra index") }
        let body = data.count - 8
        let stored = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: body, as: UInt64.self) }
        let actual = data.withUnsafeBytes { checksum(UnsafeRawBufferPointer(rebasing: $0[0..<body])) }
        guard stored == actual else { throw Mismatch(description: "index file checksum does not match (torn or corrupted write)") }
        let length = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) })
        guard 12 + length <= body else { throw Mismatch(description: "index file header is truncated") }
        let header = try JSONDecoder().decode(Header.self, from: data.subdata(in: 12..<(12 + length)))
        return (header, data.subdata(in: (12 + length)..<body))
    }

    /// Fills `graph` (sized for `header.highWater` slots) from the body read by `read`.
    static func load(_ body: Data, header: Header, into graph: HNSWGraph) throws {
        let slots = header.highWater
        let l0Words = graph.m0 + 1
        try body.withUnsafeBytes { raw in
            var offset = 0
            func need(_ bytes: Int) throws {
                guard offset + bytes <= raw.count else { throw Mismatch(description: "index file body is truncated") }
            }
            try need(slots * 4)
            var levels = [Int32](repeating: -1, count: slots)
            for s in 0..<slots { levels[s] = raw.loadUnaligned(fromByteOffset: offset + s * 4, as: Int32.self) }
            offset += slots * 4
            try need(slots * l0Words * 4)
            let l0Offset = offset
            offset += slots * l0Words * 4
            for s in 0..<slots where levels[s] >= 0 {
                graph.setNode(s, level: Int(levels[s]))
                let dst = graph.links(UInt32(s), 0)
                for w in 0..<l0Words { dst[w] = raw.loadUnaligned(fromByteOffset: l0Offset + (s * l0Words + w) * 4, as: UInt32.self) }
                if levels[s] > 0 {
                    let words = Int(levels[s]) * (graph.m + 1)
                    try need(words * 4)
                    let up = graph.links(UInt32(s), 1)
                    for w in 0..<words { up[w] = raw.loadUnaligned(fromByteOffset: offset + w * 4, as: UInt32.self) }
                    offset += words * 4
                }
            }
            for s in 0..<slots where levels[s] >= 0 {
                let list = graph.links(UInt32(s), 0)
                guard Int(list[0]) <= graph.m0, (0..<Int(list[0])).allSatisfy({ Int(list[$0 + 1]) < slots && levels[Int(list[$0 + 1])] >= 0 }) else {
                    throw Mismatch(description: "index file links point at slots with no node")
                }
            }
        }
        graph.restore(entryPoint: header.entryPoint, maxLevel: header.maxLevel)
    }

    /// Temp file in the same directory, fsync, rename over, fsync the directory.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temp = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw VectorError(.storage, "cannot create \(temp): \(String(cString: strerror(errno)))") }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var written = 0
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, path) == 0 else {
            unlink(temp)
            throw VectorError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let dfd = open(directory, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
