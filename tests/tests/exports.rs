//! libmfs.so exports every libc name of the call surface it must interpose: LD_PRELOAD binds
//! by name, so a missing alias (open64, __open_2, posix_fallocate64...) is a silent hole.

use std::collections::BTreeSet;
use std::process::Command;

use mfs_tests::shim;

const HOOKED: &[&str] = &[
    "open",
    "open64",
    "__open64",
    "openat",
    "openat64",
    "__open_2",
    "__open64_2",
    "__openat_2",
    "__openat64_2",
    "creat",
    "creat64",
    "mkstemp",
    "mkstemp64",
    "mkostemp",
    "mkostemps",
    "mkstemps",
    "mkdtemp",
    "tmpfile",
    "write",
    "pwrite",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "ftruncate",
    "ftruncate64",
    "truncate",
    "truncate64",
    "fallocate",
    "fallocate64",
    "posix_fallocate",
    "posix_fallocate64",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "close",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "fcntl64",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "remove",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "mknod",
    "mknodat",
    "mkfifo",
    "mkfifoat",
    "chmod",
    "fchmod",
    "fchmodat",
    "lchmod",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "lutimes",
    "utimensat",
    "futimens",
    "futimes",
    "futimesat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "ioctl",
    "copy_file_range",
    "sendfile",
    "sendfile64",
    "splice",
    "fopen",
    "fopen64",
    "freopen",
    "freopen64",
    "fdopen",
    "fwrite",
    "fputs",
    "fputc",
    "putc",
    "puts",
    "fflush",
    "fseek",
    "fseeko",
    "fclose",
    "mmap",
    "mmap64",
    "munmap",
    "msync",
    "read",
    "pread",
    "readv",
    "preadv",
    "close_range",
    "closefrom",
];

#[test]
fn shim_exports_every_hooked_name() {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(shim())
        .output()
        .expect("run nm");
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let exported: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(|name| name.split('@').next().unwrap_or(name))
        .collect();
    let missing: Vec<&str> = HOOKED
        .iter()
        .copied()
        .filter(|n| !exported.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "libmfs.so does not export {} hooked name(s): {}",
        missing.len(),
        missing.join(" ")
    );
}
