import Glibc

/// Where the jobs' files live (see `SlurmJobScript` for the files): one job
/// directory for the jobs that run as the daemon's user, `.hopper/slurm/`,
/// and one for each owner whose jobs run as that owner,
/// `.hopper/slurm/<uid>/`, owned by the owner and mode 0700.
///
/// A job writes its start and exit files with its own user's rights, so an
/// owner's job needs a directory it may write to; one of its own means that
/// no other user can read its stdin file, nor write, replace or pre-empt the
/// name of its exit file (which decides its record). The daemon takes a file
/// in an owner's directory only for a task of that owner.
///
/// Each directory is watched (renames into it) on the one inotify instance;
/// the watch descriptor of an event tells whose directory it came from.
struct SlurmJobDirectories {
    /// `.hopper/slurm/`, the daemon's user's.
    let shared: Directory
    private(set) var owners: [UInt32: Directory] = [:]
    private var watchOwners: [Int32: UInt32?] = [:]

    static let watchMask = InotifyMask.movedTo | InotifyMask.onlyDir

    init(shared: Directory) {
        self.shared = shared
    }

    /// Every job directory, the shared one first (nil: the daemon's user's).
    var all: [(owner: UInt32?, directory: Directory)] {
        [(nil, shared)] + owners.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The owner whose directory a watch is on: `.some(nil)` for the shared
    /// one, nil for a watch this does not know.
    func owner(ofWatch watch: Int32) -> UInt32?? { watchOwners[watch] }

    /// Watches the shared directory.
    mutating func watchShared(_ inotify: Inotify) throws(SystemError) {
        watchOwners[try inotify.addWatch(shared.path, mask: SlurmJobDirectories.watchMask)] = .some(nil)
    }

    /// The job directory of `owner` (nil: the shared one), created on first
    /// use: made by root, then given to the owner (and the daemon's group)
    /// with mode 0700, and watched. An existing one is given back to the
    /// owner and to 0700 if it was changed.
    mutating func directory(owner: UInt32?, inotify: Inotify?) throws(SystemError) -> Directory {
        guard let owner else { return shared }
        if let known = owners[owner] { return known }
        let name = String(owner)
        let path = shared.path + "/" + name
        // The shared directory is root's and not writable by others: nobody
        // else can put a symlink or a file at this name.
        if mkdirat(shared.descriptor.rawValue, name, 0o700) != 0 {
            let err = Errno.current
            if err != .exists { throw SystemError("mkdir", path, errno: err) }
        }
        let directory = try Directory.open(path)
        var st = stat()
        guard fstat(directory.descriptor.rawValue, &st) == 0 else {
            let error = SystemError("fstat", path, errno: .current)
            directory.close()
            throw error
        }
        let gid = getegid()
        if st.st_uid != owner || st.st_gid != gid, fchown(directory.descriptor.rawValue, owner, gid) != 0 {
            let error = SystemError("chown", path, errno: .current)
            directory.close()
            throw error
        }
        if st.st_mode & 0o7777 != 0o700, fchmod(directory.descriptor.rawValue, 0o700) != 0 {
            let error = SystemError("chmod", path, errno: .current)
            directory.close()
            throw error
        }
        if let inotify {
            do { watchOwners[try inotify.addWatch(path, mask: SlurmJobDirectories.watchMask)] = .some(owner) } catch {
                directory.close()
                throw error
            }
        }
        owners[owner] = directory
        return directory
    }

    /// The owners that have a job directory on disk (their uids), for a
    /// start that follows jobs submitted before it.
    func ownersOnDisk() -> [UInt32] {
        ((try? shared.entries()) ?? []).compactMap { name in
            guard let uid = UInt32(String(decoding: name.bytes, as: UTF8.self)),
                  let st = (try? shared.status(name)) ?? nil, st.st_mode & S_IFMT == S_IFDIR else { return nil }
            return uid
        }
    }
}
