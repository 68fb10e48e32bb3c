import Glibc

/// This process's environment, read from `environ`.
public enum ProcessEnvironment {
    /// `NAME=value` entries, in order.
    public static func entries() -> [String] {
        var result: [String] = []
        var p = environ
        while let entry = p.pointee {
            result.append(String(cString: entry))
            p += 1
        }
        return result
    }

    /// (name, value) pairs, in order; entries without `=` are skipped.
    public static func pairs() -> [(String, String)] {
        entries().compactMap { s in
            s.firstIndex(of: "=").map { (String(s[..<$0]), String(s[s.index(after: $0)...])) }
        }
    }
}
