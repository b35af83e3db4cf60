/// Checks a file's bytes before libyaml sees them, and maps between byte offsets and positions.
///
/// Positions follow libyaml's counting so that its marks and ours agree: lines
/// break at LF, CR, CRLF, NEL, LS and PS; columns count characters; a leading
/// UTF-8 byte-order mark takes no column.
struct YAMLSourceText {
    let bytes: [UInt8]

    enum Problem: Equatable {
        case utf16
        case invalidUTF8(offset: Int, byte: UInt8)
        case nul(offset: Int)
        case controlCharacter(offset: Int, scalar: UInt32)
    }

    /// The first reason the bytes are not YAML text, or nil when they are valid UTF-8 without forbidden characters.
    func firstProblem() -> Problem? {
        if bytes.count >= 2, (bytes[0] == 0xFE && bytes[1] == 0xFF) || (bytes[0] == 0xFF && bytes[1] == 0xFE) {
            return .utf16
        }
        return bytes.withUnsafeBufferPointer { buffer -> Problem? in
            let n = buffer.count
            var i = 0
            while i < n {
                let b = buffer[i]
                if b < 0x80 {
                    if b >= 0x20 && b != 0x7F || b == 0x0A || b == 0x0D || b == 0x09 {
                        i += 1
                        continue
                    }
                    return b == 0 ? .nul(offset: i) : .controlCharacter(offset: i, scalar: UInt32(b))
                }
                guard let (scalar, length) = Self.decode(buffer, at: i) else {
                    return .invalidUTF8(offset: i, byte: b)
                }
                if (0x80...0x9F).contains(scalar) && scalar != 0x85 || scalar == 0xFFFE || scalar == 0xFFFF {
                    return .controlCharacter(offset: i, scalar: scalar)
                }
                i += length
            }
            return nil
        }
    }

    /// Decodes one multi-byte UTF-8 sequence strictly (no overlong forms, no surrogates).
    private static func decode(_ buffer: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int)? {
        let b0 = buffer[i]
        let length: Int
        var scalar: UInt32
        switch b0 {
        case 0xC2...0xDF: length = 2; scalar = UInt32(b0 & 0x1F)
        case 0xE0...0xEF: length = 3; scalar = UInt32(b0 & 0x0F)
        case 0xF0...0xF4: length = 4; scalar = UInt32(b0 & 0x07)
        default: return nil
        }
        guard i + length <= buffer.count else { return nil }
        for k in 1..<length {
            let b = buffer[i + k]
            guard b & 0xC0 == 0x80 else { return nil }
            scalar = scalar << 6 | UInt32(b & 0x3F)
        }
        switch length {
        case 3 where scalar < 0x800 || (0xD800...0xDFFF).contains(scalar): return nil
        case 4 where scalar < 0x10000 || scalar > 0x10FFFF: return nil
        default: return (scalar, length)
        }
    }

    private var bodyStart: Int {
        bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0
    }

    /// The length of a line break starting at `i`, or 0.
    private func lineBreakLength(at i: Int) -> Int {
        switch bytes[i] {
        case 0x0A: return 1
        case 0x0D: return i + 1 < bytes.count && bytes[i + 1] == 0x0A ? 2 : 1
        case 0xC2: return i + 1 < bytes.count && bytes[i + 1] == 0x85 ? 2 : 0
        case 0xE2:
            return i + 2 < bytes.count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9) ? 3 : 0
        default: return 0
        }
    }

    /// The length of the character starting at `i` (1 for a byte that starts no valid character).
    private func characterLength(at i: Int) -> Int {
        let b = bytes[i]
        let length = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
        guard i + length <= bytes.count else { return 1 }
        for k in 1..<max(length, 1) where bytes[i + k] & 0xC0 != 0x80 { return 1 }
        return length
    }

    /// The 1-based line and column of a byte offset.
    func position(ofByte offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var i = bodyStart
        let end = min(offset, bytes.count)
        while i < end {
            let breakLength = lineBreakLength(at: i)
            if breakLength > 0 {
                line += 1
                column = 1
                i += breakLength
            } else {
                column += 1
                i += characterLength(at: i)
            }
        }
        return (line, column)
    }

    /// The byte offset of a libyaml mark (0-based line and column), or nil past the end.
    func byteOffset(of mark: LibYAMLMark) -> Int? {
        var i = bodyStart
        var line = 0
        while line < mark.line {
            guard i < bytes.count else { return nil }
            let breakLength = lineBreakLength(at: i)
            if breakLength > 0 {
                line += 1
                i += breakLength
            } else {
                i += characterLength(at: i)
            }
        }
        var column = 0
        while column < mark.column {
            guard i < bytes.count, lineBreakLength(at: i) == 0 else { return nil }
            i += characterLength(at: i)
            column += 1
        }
        return i
    }

    /// The character starting at a byte offset, as text.
    func character(at offset: Int) -> String {
        guard offset < bytes.count else { return "" }
        return String(decoding: bytes[offset..<min(offset + characterLength(at: offset), bytes.count)], as: UTF8.self)
    }

    /// The bytes of the line holding `offset`, without its line break.
    func lineBytes(around offset: Int) -> ArraySlice<UInt8> {
        var start = min(offset, bytes.count)
        while start > 0, bytes[start - 1] != 0x0A, bytes[start - 1] != 0x0D { start -= 1 }
        var end = min(offset, bytes.count)
        while end < bytes.count, bytes[end] != 0x0A, bytes[end] != 0x0D { end += 1 }
        return bytes[start..<end]
    }

    /// The text of the line a mark is on, without its line break.
    func line(of mark: LibYAMLMark) -> ArraySlice<UInt8>? {
        byteOffset(of: LibYAMLMark(line: mark.line, column: 0)).map { lineBytes(around: $0) }
    }
}
