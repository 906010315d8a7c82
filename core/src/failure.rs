//! What an error from a copy means: the one place that turns a mirror-side errno into a
//! decision, for the shim's mirroring and for resynchronisation alike.
//!
//! | errno | verdict |
//! | --- | --- |
//! | `EMFILE`, `ENFILE` | [`Verdict::ProcessLimit`]: the process is out of descriptors |
//! | `ENOENT`, `EEXIST`, `ENOTDIR`, `EISDIR`, `ENOTEMPTY`, `ELOOP` | [`Verdict::Diverged`]: the copy's tree is not as the primary's at this path |
//! | `EOPNOTSUPP` (= `ENOTSUP`), `ENOSYS`, `ENOTTY` | [`Verdict::Unsupported`] |
//! | `EPERM` on special files, ownership, modes, times, xattrs | [`Verdict::Unsupported`] (sftp refuses `mknod`, non-root servers `chown`) |
//! | `EINVAL` on an allocation mode, a rename flag, an open flag | [`Verdict::Unsupported`] (the file system lacks the flag) |
//! | anything else (`EIO`, `ENOSPC`, `EDQUOT`, `EROFS`, `ENOTCONN`, `ESTALE`, `ENODEV`, `ENXIO`, `ETIMEDOUT`, `EACCES`, ...) | [`Verdict::CopyFault`] |

/// The kind of operation that failed on a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Opening (or creating, truncating) a twin.
    Open,
    /// Writing data or an fd-level change of it (ftruncate, fsync, in-kernel copies).
    Write,
    /// fallocate with a mode.
    Allocate,
    /// Creating a directory, symlink, hard link or regular file by name.
    Create,
    /// Creating a FIFO, socket or device node.
    Special,
    /// Removing a name.
    Remove,
    /// Renaming (renameat2 flags included).
    Rename,
    /// chmod.
    Mode,
    /// chown.
    Owner,
    /// Setting timestamps.
    Times,
    /// Setting or removing an extended attribute.
    Xattr,
    /// Setting a POSIX ACL (`system.posix_acl_access` or `_default`).
    Acl,
}

impl Op {
    /// Where the copy's file system lacks what this operation needs, what it cannot
    /// represent.
    pub fn lack(self) -> Lack {
        match self {
            Op::Special => Lack::Special,
            Op::Owner => Lack::Owner,
            Op::Times => Lack::Times,
            Op::Xattr => Lack::Xattr,
            Op::Acl => Lack::Acl,
            Op::Mode => Lack::Mode,
            Op::Open | Op::Write | Op::Allocate | Op::Create | Op::Remove | Op::Rename => Lack::Feature,
        }
    }
}

/// What a copy's file system cannot represent (recorded per path; never a reason to take
/// the copy offline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lack {
    /// Extended attributes.
    Xattr,
    /// An access or default ACL beyond what the mode carries.
    Acl,
    /// FIFOs, sockets and device nodes.
    Special,
    /// Ownership (or ownership of a symlink).
    Owner,
    /// Timestamps (or timestamps of a symlink).
    Times,
    /// Permission bits.
    Mode,
    /// An operation or flag with no equivalent.
    Feature,
}

impl Lack {
    pub const ALL: [Lack; 7] =
        [Lack::Xattr, Lack::Acl, Lack::Special, Lack::Owner, Lack::Times, Lack::Mode, Lack::Feature];

    /// The words used in logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Lack::Xattr => "extended attributes",
            Lack::Acl => "ACLs beyond the mode",
            Lack::Special => "special files",
            Lack::Owner => "ownership",
            Lack::Times => "timestamps",
            Lack::Mode => "permission bits",
            Lack::Feature => "an operation or flag",
        }
    }

    /// A bit for sets of lacks.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The decision for one failed operation on a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The copy is failing: the failure counts toward the pair's `retries` (after which the
    /// copy goes offline), and the path is journaled.
    CopyFault,
    /// The copy's tree differs from the primary's at this path (the primary's call
    /// succeeded): the path is journaled for resynchronisation; the copy stays in service.
    Diverged,
    /// The copy's file system cannot represent the change and has no equivalent for it: the
    /// path is recorded as not representable; the copy stays in service.
    Unsupported,
    /// Not the copy's fault (the process is out of descriptors): the path is journaled for
    /// resynchronisation and the copy stays in service.
    ProcessLimit,
}

/// The verdict on errno `e` from operation `op` on a copy.
pub fn classify(op: Op, e: i32) -> Verdict {
    match e {
        libc::EMFILE | libc::ENFILE => Verdict::ProcessLimit,
        libc::ENOENT | libc::EEXIST | libc::ENOTDIR | libc::EISDIR | libc::ENOTEMPTY | libc::ELOOP => Verdict::Diverged,
        libc::EOPNOTSUPP | libc::ENOSYS | libc::ENOTTY => Verdict::Unsupported,
        libc::EPERM if matches!(op, Op::Special | Op::Owner | Op::Mode | Op::Times | Op::Xattr | Op::Acl) => {
            Verdict::Unsupported
        }
        libc::EINVAL if matches!(op, Op::Allocate | Op::Rename | Op::Open) => Verdict::Unsupported,
        _ => Verdict::CopyFault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_out_of_descriptors_is_not_the_copys_fault() {
        assert_eq!(classify(Op::Open, libc::EMFILE), Verdict::ProcessLimit);
        assert_eq!(classify(Op::Create, libc::ENFILE), Verdict::ProcessLimit);
    }

    #[test]
    fn faults_of_the_copy_count_against_it() {
        for e in [
            libc::EIO,
            libc::ENOSPC,
            libc::EDQUOT,
            libc::EROFS,
            libc::ENOTCONN,
            libc::ESTALE,
            libc::ENODEV,
            libc::ENXIO,
            libc::ETIMEDOUT,
            libc::EACCES,
        ] {
            for op in [Op::Open, Op::Write, Op::Create, Op::Xattr] {
                assert_eq!(classify(op, e), Verdict::CopyFault, "errno {e} on {op:?}");
            }
        }
    }

    #[test]
    fn a_tree_out_of_step_is_a_divergence() {
        for e in [libc::ENOENT, libc::EEXIST, libc::ENOTDIR, libc::EISDIR, libc::ENOTEMPTY] {
            assert_eq!(classify(Op::Create, e), Verdict::Diverged, "errno {e}");
            assert_eq!(classify(Op::Open, e), Verdict::Diverged, "errno {e}");
        }
    }

    #[test]
    fn what_the_file_system_cannot_do_is_a_capability() {
        assert_eq!(libc::ENOTSUP, libc::EOPNOTSUPP);
        assert_eq!(classify(Op::Xattr, libc::EOPNOTSUPP), Verdict::Unsupported);
        assert_eq!(classify(Op::Allocate, libc::ENOSYS), Verdict::Unsupported);
        assert_eq!(classify(Op::Special, libc::EPERM), Verdict::Unsupported);
        assert_eq!(classify(Op::Xattr, libc::EPERM), Verdict::Unsupported);
        assert_eq!(classify(Op::Owner, libc::EPERM), Verdict::Unsupported);
        assert_eq!(classify(Op::Allocate, libc::EINVAL), Verdict::Unsupported);
        assert_eq!(classify(Op::Rename, libc::EINVAL), Verdict::Unsupported);
        // EPERM and EINVAL elsewhere are the copy's fault.
        assert_eq!(classify(Op::Open, libc::EPERM), Verdict::CopyFault);
        assert_eq!(classify(Op::Write, libc::EINVAL), Verdict::CopyFault);
        assert_eq!(Op::Special.lack(), Lack::Special);
        assert_eq!(Lack::ALL.iter().map(|l| l.bit()).fold(0, |a, b| a | b), 0x7f);
    }
}
