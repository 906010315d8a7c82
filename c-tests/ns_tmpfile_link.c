/*
 * O_TMPFILE files made visible with linkat: one in the primary linked through
 * "/proc/self/fd/N" with AT_SYMLINK_FOLLOW, one in a subdirectory linked with AT_EMPTY_PATH,
 * writes through the fd after the link reach the mirror, a second name for a linked tmpfile,
 * an O_TMPFILE|O_EXCL file that cannot be linked (ENOENT), one created outside the pair and
 * linked into it (copied), and one never linked (nothing on the mirror).
 */
#include "ns_util.h"

static const char *procfd(int fd)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
    return buf;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    int before = raw_count(P(""));

    /* 1: in the primary root, linked through /proc/self/fd/N */
    int fd = open(mt_primary, O_TMPFILE | O_RDWR | O_CLOEXEC, 0640);
    CHECK(fd >= 0);
    CHECK(write(fd, "tmp data", 8) == 8);
    CHECK(raw_count(P("")) == before);
    MCOUNT("", before);
    KEEP(linkat(AT_FDCWD, procfd(fd), AT_FDCWD, P("tmp1"), AT_SYMLINK_FOLLOW));
    MSAME("tmp1");
    CHECK(write(fd, " and more", 9) == 9);
    MSAME("tmp1");
    CHECK(ftruncate(fd, 4) == 0);
    CHECK(pwrite(fd, "TMP", 3, 0) == 3);
    CHECK(lseek(fd, 0, SEEK_END) == 4);
    MSAME("tmp1");
    /* a second name, now an ordinary hard link */
    KEEP(linkat(fd, "", AT_FDCWD, P("tmp1b"), AT_EMPTY_PATH));
    MSAME("tmp1b");
    CHECK(write(fd, "!", 1) == 1);
    CHECK(is(P("tmp1b"), "TMP !"));
    MSAME("tmp1");
    MSAME("tmp1b");
    close(fd);

    /* 2: in a subdirectory, write-only, linked with AT_EMPTY_PATH */
    OK(mkdir(P("sub"), 0755));
    fd = open(P("sub"), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "second", 6) == 6);
    KEEP(linkat(fd, "", AT_FDCWD, P("sub/tmp2"), AT_EMPTY_PATH));
    MSAME("sub/tmp2");
    CHECK(pwrite(fd, "S", 1, 0) == 1);
    CHECK(fchmod(fd, 0644) == 0);
    MSAME("sub/tmp2");
    FAILS(linkat(fd, "", AT_FDCWD, P("sub/tmp2"), AT_EMPTY_PATH), EEXIST);
    close(fd);

    /* 3: linked relative to a dirfd inside the pair */
    int d = open(P("sub"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    fd = openat(d, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "third", 5) == 5);
    KEEP(linkat(AT_FDCWD, procfd(fd), d, "tmp3", AT_SYMLINK_FOLLOW));
    MSAME("sub/tmp3");
    close(fd);

    /* 4: O_EXCL: never linkable */
    fd = open(mt_primary, O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "excl", 4) == 4);
    FAILS(linkat(fd, "", AT_FDCWD, P("tmp4"), AT_EMPTY_PATH), ENOENT);
    FAILS(linkat(AT_FDCWD, procfd(fd), AT_FDCWD, P("tmp4"), AT_SYMLINK_FOLLOW), ENOENT);
    MABSENT("tmp4");
    close(fd);

    /* 5: never linked: nothing anywhere */
    fd = open(P("sub"), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "ghost", 5) == 5);
    close(fd);
    MCOUNT("sub", 2);

    /* 6: created outside the pair, linked into it: the mirror gets a copy */
    fd = open(mt_outside(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0604);
    CHECK(fd >= 0);
    CHECK(write(fd, "from outside", 12) == 12);
    KEEP(linkat(fd, "", AT_FDCWD, P("tmp6"), AT_EMPTY_PATH));
    MSAME("tmp6");
    close(fd);

    /* 7: a linked tmpfile made from inside, linked out of the pair: nothing on the mirror */
    fd = open(mt_primary, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "leaves", 6) == 6);
    KEEP(linkat(fd, "", AT_FDCWD, O("tmp7"), AT_EMPTY_PATH));
    MABSENT("tmp7");
    close(fd);

    /* errors */
    FAILS(open(P("missing"), O_TMPFILE | O_RDWR, 0644), ENOENT);
    FAILS(open(P("tmp1"), O_TMPFILE | O_RDWR, 0644), ENOTDIR);
    FAILS(open(mt_primary, O_TMPFILE | O_RDONLY, 0644), EINVAL);
    MCOUNT("", before + 4);

    close(d);
    rm_rf(mt_outside());
    return mt_done();
}
