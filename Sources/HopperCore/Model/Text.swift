import Glibc

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// `self` with every occurrence of `marker` replaced by `value`, left to
    /// right, matched byte for byte in UTF-8 (so `{command}` or `'`, never a
    /// canonically equivalent spelling). The standard library's generic
    /// `replacing` builds a searcher for every call; this was a tenth of the
    /// loop's user time when each exec attempt made its argv with it.
    func replacingEvery(_ marker: String, with value: String) -> String {
        var text = self
        var marker = marker
        return text.withUTF8 { t -> String in
            marker.withUTF8 { m -> String in
                guard let first = m.first, t.count >= m.count,
                      let start = t.firstIndex(of: first) else { return self }
                var out: [UInt8] = []
                var copied = 0
                var i = start
                while i + m.count <= t.count {
                    if t[i] == first && memcmp(t.baseAddress! + i, m.baseAddress!, m.count) == 0 {
                        if out.isEmpty { out.reserveCapacity(t.count + value.utf8.count) }
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: t[copied..<i]))
                        out.append(contentsOf: value.utf8)
                        i += m.count
                        copied = i
                    } else {
                        i += 1
                    }
                }
                if copied == 0 { return self }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: t[copied...]))
                return String(decoding: out, as: UTF8.self)
            }
        }
    }
}
