//! What an error from a copy means: the one place that turns a mirror-side errno into a
//! decision, for the shim's mirroring and for resynchronisation alike.

/// The decision for one failed operation on a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The copy is failing: the failure counts toward the pair's `retries` (after which the
    /// copy goes offline), and the path is journaled.
    CopyFault,
    /// Not the copy's fault (the process is out of descriptors): the path is journaled for
    /// resynchronisation and the copy stays in service.
    PathDirty,
}

/// The verdict on errno `e` from an operation on a copy.
pub fn classify(e: i32) -> Verdict {
    match e {
        libc::EMFILE | libc::ENFILE => Verdict::PathDirty,
        _ => Verdict::CopyFault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_out_of_descriptors_is_not_the_copys_fault() {
        assert_eq!(classify(libc::EMFILE), Verdict::PathDirty);
        assert_eq!(classify(libc::ENFILE), Verdict::PathDirty);
    }

    #[test]
    fn other_errors_count_against_the_copy() {
        for e in [libc::EIO, libc::ENOSPC, libc::EROFS, libc::ENOTCONN, libc::ENOENT, libc::EOPNOTSUPP] {
            assert_eq!(classify(e), Verdict::CopyFault, "errno {e}");
        }
    }
}
