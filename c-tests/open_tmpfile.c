/*
 * O_TMPFILE in the primary: an unnamed file that is written and then given a name with
 * linkat, through /proc/self/fd/N (AT_SYMLINK_FOLLOW) and through AT_EMPTY_PATH. Writes made
 * after the link reach the mirror too; a temporary file that is never linked leaves no trace
 * in either tree. Errors (EINVAL, ENOENT, ENOTDIR, EEXIST) pass through unchanged.
 */
#include "mfstest.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char proc[64];

    int fd = open(P(""), O_TMPFILE | O_RDWR, 0640);
    CHECK(fd >= 0);
    EQ(write(fd, "unnamed at first", 16), 16);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    OK(linkat(AT_FDCWD, proc, AT_FDCWD, P("t1"), AT_SYMLINK_FOLLOW));
    SAME("t1");
    EQ(write(fd, ", named now", 11), 11);
    SAME("t1");
    OK(close(fd));

    OK(mkdir(P("d"), 0755));
    fd = open(P("d"), O_TMPFILE | O_WRONLY, 0600);
    CHECK(fd >= 0);
    EQ(pwrite(fd, "empty-path link", 15, 0), 15);
    OK(linkat(fd, "", AT_FDCWD, P("d/t2"), AT_EMPTY_PATH));
    SAME("d/t2");
    FAILS(linkat(fd, "", AT_FDCWD, P("d/t2"), AT_EMPTY_PATH), EEXIST);
    EQ(ftruncate(fd, 5), 0);
    SAME("d/t2");
    OK(close(fd));

    /* Never linked: nothing appears. */
    fd = open(P(""), O_TMPFILE | O_RDWR, 0600);
    CHECK(fd >= 0);
    EQ(write(fd, "gone", 4), 4);
    OK(close(fd));

    /* O_EXCL: the file can never be linked. */
    fd = open(P(""), O_TMPFILE | O_RDWR | O_EXCL, 0600);
    CHECK(fd >= 0);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    FAILS(linkat(AT_FDCWD, proc, AT_FDCWD, P("t3"), AT_SYMLINK_FOLLOW), ENOENT);
    OK(close(fd));

    /* Errors. */
    FAILS(open(P(""), O_TMPFILE | O_RDONLY, 0600), EINVAL);
    FAILS(open(P("missing-dir"), O_TMPFILE | O_RDWR, 0600), ENOENT);
    FAILS(open(P("t1"), O_TMPFILE | O_RDWR, 0600), ENOTDIR);

    return mt_done();
}
