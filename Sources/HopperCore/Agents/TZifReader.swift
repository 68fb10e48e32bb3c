/// Reads the parts of a TZif file that `ZoneRules` needs: the 64-bit data
/// block when the file has one (version 2 and later), else the 32-bit block,
/// and the footer.
struct TZifReader {
    let bytes: [UInt8]
    var position = 0

    struct Parsed {
        var transitions: [Int64]
        var offsets: [Int32]
        var initialOffset: Int32
        var footer: PosixZoneRule?
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func read() -> Parsed? {
        guard let first = header() else { return nil }
        if first.version >= UInt8(ascii: "2") {
            // Skip the version 1 block, then read the 64-bit one.
            position += first.v1Length
            guard let second = header() else { return nil }
            guard var parsed = block(second, timeSize: 8) else { return nil }
            parsed.footer = footerRule()
            return parsed
        }
        return block(first, timeSize: 4)
    }

    struct Header {
        var version: UInt8
        var isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt: Int
        var v1Length: Int { timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt }
    }

    mutating func header() -> Header? {
        guard position + 44 <= bytes.count, Array(bytes[position..<position + 4]) == Array("TZif".utf8) else { return nil }
        let version = bytes[position + 4]
        position += 20
        var counts: [Int] = []
        for _ in 0..<6 { counts.append(Int(integer(size: 4))) }
        return Header(version: version, isutcnt: counts[0], isstdcnt: counts[1], leapcnt: counts[2],
                      timecnt: counts[3], typecnt: counts[4], charcnt: counts[5])
    }

    mutating func block(_ h: Header, timeSize: Int) -> Parsed? {
        let needed = h.timecnt * (timeSize + 1) + h.typecnt * 6 + h.charcnt + h.leapcnt * (timeSize + 4) + h.isstdcnt + h.isutcnt
        guard h.typecnt > 0, position + needed <= bytes.count else { return nil }
        var times: [Int64] = []
        for _ in 0..<h.timecnt { times.append(integer(size: timeSize)) }
        var typeIndexes: [Int] = []
        for _ in 0..<h.timecnt { typeIndexes.append(Int(bytes[position])); position += 1 }
        var typeOffsets: [Int32] = []
        var typeIsDST: [Bool] = []
        for _ in 0..<h.typecnt {
            typeOffsets.append(Int32(truncatingIfNeeded: integer(size: 4)))
            typeIsDST.append(bytes[position] != 0)
            position += 2
        }
        position += h.charcnt + h.leapcnt * (timeSize + 4) + h.isstdcnt + h.isutcnt
        guard typeIndexes.allSatisfy({ $0 < h.typecnt }) else { return nil }
        // RFC 8536 3.2: before the first transition, the first standard-time type (or type 0).
        let initial = typeIsDST.firstIndex(of: false) ?? 0
        return Parsed(transitions: times, offsets: typeIndexes.map { typeOffsets[$0] },
                      initialOffset: typeOffsets[initial], footer: nil)
    }

    mutating func footerRule() -> PosixZoneRule? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\n") else { return nil }
        let start = position + 1
        guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")), end > start else { return nil }
        return PosixZoneRule(String(decoding: bytes[start..<end], as: UTF8.self))
    }

    /// A big-endian two's-complement integer of `size` bytes.
    mutating func integer(size: Int) -> Int64 {
        var value: Int64 = bytes[position] & 0x80 != 0 ? -1 : 0
        for byte in bytes[position..<position + size] { value = value << 8 | Int64(byte) }
        position += size
        return value
    }
}
