import Glibc

/// A NULL-terminated array of C strings, as execve(2) takes argv and envp.
///
/// All the strings share one allocation and the pointer array a second one;
/// both are freed when the value goes out of scope, on every path.
struct CStringArray: ~Copyable {
    /// The array to pass as `char *const argv[]`; its last element is NULL.
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let storage: UnsafeMutablePointer<CChar>

    /// Copies `strings`; nil when one of them contains a NUL byte, which C would silently truncate.
    init?(_ strings: [String]) {
        var total = 0
        for string in strings { total += string.utf8.count + 1 }
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
        var offset = 0
        for (index, string) in strings.enumerated() {
            var string = string
            let hasNul = string.withUTF8 { utf8 -> Bool in
                guard let base = utf8.baseAddress else { return false }
                if memchr(base, 0, utf8.count) != nil { return true }
                UnsafeMutableRawPointer(storage + offset).copyMemory(from: base, byteCount: utf8.count)
                return false
            }
            if hasNul {
                pointers.deallocate()
                storage.deallocate()
                return nil
            }
            pointers[index] = storage + offset
            offset += string.utf8.count
            storage[offset] = 0
            offset += 1
        }
        pointers[strings.count] = nil
        self.pointers = pointers
        self.storage = storage
    }

    deinit {
        pointers.deallocate()
        storage.deallocate()
    }
}
