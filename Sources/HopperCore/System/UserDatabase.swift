import Glibc

/// A user as the password and group databases describe them: what a
/// process needs to run as that user.
public struct UserAccount: Sendable, Equatable {
    public var uid: UInt32
    public var name: String
    public var gid: UInt32
    /// Supplementary groups (`getgrouplist`), the primary group included.
    public var groups: [UInt32]
    public var home: String
    public var shell: String
}

/// Look-ups in the password and group databases (getpwuid_r, getpwnam_r,
/// getgrouplist); nothing cached here.
public enum UserDatabase {
    /// The account of `uid`, or nil when it has no entry.
    public static func account(uid: UInt32) -> UserAccount? {
        lookUp { pwd, buffer, size, result in getpwuid_r(uid, &pwd, buffer, size, &result) }
    }

    /// The account named `name`, or nil.
    public static func account(named name: String) -> UserAccount? {
        lookUp { pwd, buffer, size, result in getpwnam_r(name, &pwd, buffer, size, &result) }
    }

    private static func lookUp(
        _ call: (inout passwd, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<passwd>?) -> Int32
    ) -> UserAccount? {
        var size = 1024
        while size <= 1 << 20 {
            var pwd = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let rc = call(&pwd, buffer, size, &result)
            if rc == ERANGE { size *= 4; continue }
            guard rc == 0, result != nil else { return nil }
            let name = String(cString: pwd.pw_name)
            return UserAccount(uid: pwd.pw_uid, name: name, gid: pwd.pw_gid, groups: groups(of: name, primary: pwd.pw_gid),
                               home: String(cString: pwd.pw_dir), shell: String(cString: pwd.pw_shell))
        }
        return nil
    }

    /// getgrouplist(3): every group `user` belongs to, `primary` first.
    static func groups(of user: String, primary: UInt32) -> [UInt32] {
        var count: Int32 = 32
        while count <= 65536 {
            var list = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(user, primary, &list, &n) >= 0 { return Array(list[0..<Int(n)]) }
            count = max(n, count * 2)
        }
        return [primary]
    }
}
