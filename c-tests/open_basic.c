/*
 * open, open64, creat and creat64 on paths in the primary: O_CREAT with modes under several
 * umasks, O_TRUNC, O_EXCL, O_APPEND, a file created through the mirror's own path (two-way),
 * and the error cases the shim must pass through unchanged (ENOENT, EEXIST, EISDIR, ENOTDIR,
 * EBADF, EINVAL, EFAULT) without creating anything in the mirror.
 */
#include "mfstest.h"

static mode_t mode_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char buf[64];

    /* The program's descriptors stay the lowest free numbers: shim descriptors live high. */
    int fd = open(P("a"), O_WRONLY | O_CREAT, 0640);
    EQ(fd, 3);
    EQ(mode_of(fd), 0640);
    EQ(write(fd, "hello", 5), 5);
    SAME("a");
    OK(close(fd));
    CONTENT_IS(M("a"), "hello", 5);

    /* Success leaves errno alone. */
    KEEPS(fd = open(P("a"), O_RDONLY));
    EQ(read(fd, buf, sizeof buf), 5);
    FAILS(write(fd, "x", 1), EBADF); /* read-only descriptor */
    OK(close(fd));

    /* O_EXCL on an existing file: EEXIST, and the mirror keeps its bytes. */
    FAILS(open(P("a"), O_WRONLY | O_CREAT | O_EXCL, 0600), EEXIST);
    CONTENT_IS(M("a"), "hello", 5);

    /* O_CREAT on an existing file does not change its mode. */
    fd = open(P("a"), O_RDWR | O_CREAT, 0600);
    CHECK(fd >= 0);
    EQ(mode_of(fd), 0640);
    OK(close(fd));

    /* O_TRUNC through open64 empties both copies. */
    fd = open64(P("a"), O_RDWR | O_TRUNC);
    CHECK(fd >= 0);
    SAME("a");
    EQ(write(fd, "xy", 2), 2);
    OK(close(fd));
    CONTENT_IS(M("a"), "xy", 2);

    /* O_APPEND: every write lands at the end, wherever the offset was put. */
    fd = open(P("a"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    EQ(write(fd, "123", 3), 3);
    EQ(lseek(fd, 0, SEEK_SET), 0);
    EQ(write(fd, "4", 1), 1);
    OK(close(fd));
    CONTENT_IS(P("a"), "xy1234", 6);
    SAME("a");

    /* O_EXCL creating a new file. */
    fd = open(P("excl"), O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    EQ(mode_of(fd), 0600);
    EQ(write(fd, "e", 1), 1);
    OK(close(fd));
    SAME("excl");

    /* O_RDONLY | O_CREAT makes an empty file with its mode. */
    fd = open(P("rdonly-created"), O_RDONLY | O_CREAT, 0444);
    CHECK(fd >= 0);
    OK(close(fd));

    /* creat and creat64: create, and truncate an existing file keeping its mode. */
    fd = creat(P("c"), 0600);
    CHECK(fd >= 0);
    EQ(write(fd, "0123456789", 10), 10);
    OK(close(fd));
    SAME("c");
    fd = creat(P("c"), 0777);
    CHECK(fd >= 0);
    EQ(mode_of(fd), 0600);
    EQ(write(fd, "ab", 2), 2);
    OK(close(fd));
    CONTENT_IS(M("c"), "ab", 2);
    fd = creat64(P("c64"), 0751);
    CHECK(fd >= 0);
    EQ(mode_of(fd), 0751);
    FAILS(read(fd, buf, 1), EBADF); /* creat opens write-only */
    OK(close(fd));

    /* Modes under other umasks, and special bits. */
    umask(0);
    fd = open(P("u000"), O_WRONLY | O_CREAT, 0666);
    EQ(mode_of(fd), 0666);
    OK(close(fd));
    umask(077);
    fd = open(P("u077"), O_WRONLY | O_CREAT, 0666);
    EQ(mode_of(fd), 0600);
    OK(close(fd));
    umask(022);
    fd = open(P("setgid"), O_WRONLY | O_CREAT, 02755);
    CHECK(fd >= 0);
    OK(close(fd));

    /* A file created through the mirror's path reaches the primary (two-way mode). */
    fd = open(M("from-mirror"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    EQ(write(fd, "mirror side", 11), 11);
    OK(close(fd));
    SAME("from-mirror");

    /* Errors pass through unchanged, and leave nothing behind in either tree. */
    FAILS(open(P("missing"), O_RDONLY), ENOENT);
    FAILS(open(P("no-dir/x"), O_WRONLY | O_CREAT, 0644), ENOENT);
    FAILS(open(P(""), O_WRONLY), EISDIR);
    FAILS(open(P("a/x"), O_RDONLY), ENOTDIR);
    FAILS(open(P("a/x"), O_WRONLY | O_CREAT, 0644), ENOTDIR);
    FAILS(open(P(""), O_TMPFILE | O_RDONLY, 0600), EINVAL); /* O_TMPFILE needs write access */
    FAILS(open(P("dir-create"), O_WRONLY | O_CREAT | O_DIRECTORY, 0644), EINVAL);
    const char *volatile null_path = NULL;
    FAILS(open(null_path, O_RDONLY), EFAULT);
    FAILS(open(null_path, O_WRONLY | O_CREAT, 0644), EFAULT);
    FAILS(write(999, "x", 1), EBADF);
    FAILS(close(999), EBADF);
    fd = open(P("a"), O_RDONLY);
    OK(close(fd));
    FAILS(close(fd), EBADF);

    return mt_done();
}
