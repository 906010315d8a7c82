// mfs-config: on_mirror_error = "fail"
// mfs-config: retries = 100
/*
 * on_mirror_error = "fail": when the mirror cannot apply a change, the program's call fails
 * with the mirror's error. The fault: a directory planted in the mirror (behind the shim's
 * back, with raw system calls) where the program opens a file for writing, so the twin open
 * fails with EISDIR. An O_CREAT | O_EXCL open that fails this way leaves no file behind in
 * the primary either. Reads need no twin and still work, and unrelated files are still
 * mirrored. (retries is raised so that this test's deliberate failures do not take the
 * mirror out of service.) The planted faults are removed at the end so the rest of the trees
 * can be compared.
 */
#include "mfstest.h"

static void raw_mkdir(const char *path)
{
    EQ(RAWSYS(SYS_mkdirat, AT_FDCWD, path, 0755), 0);
}

static void raw_remove(const char *path, int flags)
{
    EQ(RAWSYS(SYS_unlinkat, AT_FDCWD, path, flags), 0);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    int fd = open(P("before"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(fd, "fine", 4), 4);
    OK(close(fd));
    SAME("before");

    /* A new file whose twin cannot be created. */
    raw_mkdir(M("blocked"));
    FAILS(open(P("blocked"), O_WRONLY | O_CREAT, 0644), EISDIR);
    FAILS(open(P("blocked"), O_RDWR | O_CREAT | O_TRUNC, 0600), EISDIR);
    FAILS(creat(P("blocked"), 0644), EISDIR);

    /* O_EXCL: the call created the primary file, and failing takes it back. */
    raw_mkdir(M("blocked-excl"));
    int dfd = open(P(""), O_RDONLY | O_DIRECTORY);
    FAILS(openat(dfd, "blocked-excl", O_WRONLY | O_CREAT | O_EXCL, 0644), EISDIR);
    FAILS(access(P("blocked-excl"), F_OK), ENOENT);
    OK(close(dfd));

    /* An existing file whose twin was replaced by a directory. */
    fd = open(P("existing"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(fd, "existing", 8), 8);
    OK(close(fd));
    raw_remove(M("existing"), 0);
    raw_mkdir(M("existing"));
    FAILS(open(P("existing"), O_WRONLY), EISDIR);
    FAILS(open(P("existing"), O_RDWR | O_APPEND), EISDIR);
    char buf[16];
    fd = open(P("existing"), O_RDONLY); /* a reader needs no twin */
    CHECK(fd >= 0);
    EQ(read(fd, buf, sizeof buf), 8);
    OK(close(fd));

    /* The mirror is still in service for everything else. */
    fd = open(P("after"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    EQ(write(fd, "still mirrored", 14), 14);
    OK(close(fd));
    SAME("after");

    /* Clear the faults (and whatever the failed non-exclusive creates left in the primary). */
    raw_remove(M("blocked"), AT_REMOVEDIR);
    raw_remove(M("blocked-excl"), AT_REMOVEDIR);
    raw_remove(M("existing"), AT_REMOVEDIR);
    raw_remove(P("existing"), 0);
    RAWSYS(SYS_unlinkat, AT_FDCWD, P("blocked"), 0);
    return mt_done();
}
