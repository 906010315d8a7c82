/*
 * on_mirror_error = "fail": a metadata call whose mirror side fails returns -1 with the
 * mirror's errno (here ENOENT: the mirror's copy was removed behind the shim's back), by path
 * (chmod, chown, utimes, setxattr, removexattr) and through a read-only fd that has no twin
 * (fchmod, fchown, futimens, fsetxattr); a call whose mirror side succeeds still returns 0 and
 * keeps errno. The files that were made to differ are removed from both sides at the end.
 */
// mfs-config: on_mirror_error = "fail"
// mfs-config: retries = 1000
#include "meta_util.h"

#include <sys/syscall.h>

static void raw_unlink(const char *path)
{
    if (RAWSYS(SYS_unlinkat, AT_FDCWD, path, 0) != 0) {
        fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
        mt_failures++;
    }
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    uid_t me = geteuid();
    gid_t mg = getegid();

    OK(put(P("ok"), "in step"));
    OK(put(P("f"), "file"));
    OK(put(P("g"), "file"));
    MTYPE("f", 'f');
    MTYPE("g", 'f');

    /* a mirror in step: success, errno kept */
    KEEP(chmod(P("ok"), 0600));
    MMODE("ok", 0600);
    KEEP(setxattr(P("ok"), "user.a", "a", 1, 0));
    MXATTR("ok", "user.a", "a", 1);

    /* by path: the mirror's copy is gone */
    if (!mt_native()) {
        raw_unlink(M("f"));
        FAILS(chmod(P("f"), 0600), ENOENT);
        FAILS(chown(P("f"), me, mg), ENOENT);
        FAILS(utimes(P("f"), NULL), ENOENT);
        FAILS(setxattr(P("f"), "user.a", "a", 1, 0), ENOENT);
        CHECK(RAWSYS(SYS_setxattr, P("f"), "user.b", "b", 1, 0) == 0);
        FAILS(removexattr(P("f"), "user.b"), ENOENT);
        raw_unlink(P("f"));

        /* through a read-only fd (no twin: the mirror is reached by path) */
        int r = open(P("g"), O_RDONLY | O_CLOEXEC);
        CHECK(r >= 0);
        raw_unlink(M("g"));
        FAILS(fchmod(r, 0600), ENOENT);
        FAILS(fchown(r, me, mg), ENOENT);
        FAILS(futimens(r, NULL), ENOENT);
        FAILS(fsetxattr(r, "user.a", "a", 1, 0), ENOENT);
        close(r);
        raw_unlink(P("g"));
    }

    /* the primary's own errors are still the primary's */
    FAILS(chmod(P("missing"), 0600), ENOENT);
    FAILS(fchmod(-1, 0600), EBADF);
    MSAME("ok");
    return mt_done();
}
