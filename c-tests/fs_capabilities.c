/* What some mirror file systems cannot do (sftp, FUSE without xattrs): special files,
 * extended attributes and ACLs, times and owners of symlinks (dangling ones too), fallocate
 * modes, O_DIRECT, renameat2 flags. Every call returns what it returns without the shim,
 * errno kept; files stay byte-identical on the mirror through the equivalents the shim
 * uses; and the mirror stays in service to the end. Run on a local mirror by the C program
 * suite, and on sshfs and bindfs mirrors by tests/tests/network_mirror.rs. */
#include "mfstest.h"
#include <linux/falloc.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>

static void put(const char *rel, unsigned seed, size_t n)
{
    static char buf[1 << 16];
    mt_fill(buf, n, seed);
    int fd = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    OK(fd);
    OK(write(fd, buf, n));
    OK(close(fd));
}

/* A minimal ACL (owner rw-, group r--, other r--) and one naming uid 1000 with a mask. */
static const unsigned char acl_min[] = {2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 4, 0, 4, 0, 255, 255, 255, 255,
                                        0x20, 0, 4, 0, 255, 255, 255, 255};
static const unsigned char acl_ext[] = {2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 2, 0, 6, 0, 232, 3, 0, 0,
                                        4, 0, 4, 0, 255, 255, 255, 255, 0x10, 0, 6, 0, 255, 255, 255, 255,
                                        0x20, 0, 4, 0, 255, 255, 255, 255};

int main(int argc, char **argv)
{
    mt_init(argc, argv);

    /* Special files. */
    KEEPS(mkfifo(P("fifo"), 0640));
    KEEPS(mknod(P("sock"), S_IFSOCK | 0600, 0));

    /* Extended attributes and ACLs, by path and by descriptor. */
    put("x", 1, 100);
    errno = 0;
    int r = setxattr(P("x"), "user.mfs", "value", 5, 0);
    CHECK(r == 0 || errno == ENOTSUP); /* the primary's file system decides */
    int fd = open(P("x"), O_RDWR);
    OK(fd);
    KEEPS(fsetxattr(fd, "system.posix_acl_access", acl_min, sizeof acl_min, 0));
    errno = 0;
    r = fsetxattr(fd, "user.fd", "v", 1, 0);
    CHECK(r == 0 || errno == ENOTSUP);
    OK(close(fd));
    put("acl", 2, 10);
    KEEPS(setxattr(P("acl"), "system.posix_acl_access", acl_ext, sizeof acl_ext, 0));
    OK(mkdir(P("dir"), 0755));
    KEEPS(setxattr(P("dir"), "system.posix_acl_access", acl_min, sizeof acl_min, 0));
    errno = 0;
    r = removexattr(P("dir"), "system.posix_acl_default");
    CHECK(r == 0 || errno == ENODATA);

    /* Times and owners of symlinks, one to a file and one dangling. */
    OK(symlink("x", P("link")));
    OK(symlink("../nowhere/../gone", P("dangling")));
    struct timespec ts[2] = {{1000000, 0}, {2000000, 0}};
    KEEPS(utimensat(AT_FDCWD, P("link"), ts, AT_SYMLINK_NOFOLLOW));
    KEEPS(utimensat(AT_FDCWD, P("dangling"), ts, AT_SYMLINK_NOFOLLOW));
    KEEPS(lchown(P("link"), getuid(), getgid()));
    KEEPS(lchown(P("dangling"), getuid(), getgid()));
    struct timeval tv[2] = {{3000000, 0}, {4000000, 0}};
    KEEPS(lutimes(P("dangling"), tv));

    /* fallocate modes, each mirrored byte for byte. */
    put("g", 3, 65536);
    fd = open(P("g"), O_RDWR);
    OK(fd);
    KEEPS(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096));
    SAME("g");
    KEEPS(fallocate(fd, FALLOC_FL_ZERO_RANGE, 16384, 8192));
    SAME("g");
    KEEPS(fallocate(fd, FALLOC_FL_ZERO_RANGE, 61440, 16384)); /* beyond the end: grows */
    SAME("g");
    KEEPS(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096));
    SAME("g");
    KEEPS(fallocate(fd, FALLOC_FL_INSERT_RANGE, 8192, 4096));
    SAME("g");
    KEEPS(fallocate(fd, FALLOC_FL_KEEP_SIZE, 65536, 65536));
    SAME("g");
    KEEPS(fallocate(fd, 0, 0, 131072));
    SAME("g");
    KEEPS(posix_fallocate(fd, 131072, 4096) == 0 ? 0 : -1);
    SAME("g");
    OK(close(fd));

    /* O_DIRECT: aligned writes. */
    fd = open(P("direct"), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd >= 0) {
        void *buf = NULL;
        CHECK(posix_memalign(&buf, 4096, 8192) == 0);
        mt_fill(buf, 8192, 4);
        KEEPS(write(fd, buf, 8192));
        KEEPS(pwrite(fd, buf, 4096, 16384));
        OK(close(fd));
        free(buf);
        SAME("direct");
    } else {
        CHECK(errno == EINVAL); /* the primary's file system has no direct I/O */
    }

    /* renameat2 flags. */
    put("a", 5, 30);
    put("y1", 6, 40);
    put("y2", 7, 50);
    KEEPS(renameat2(AT_FDCWD, P("a"), AT_FDCWD, P("b"), RENAME_NOREPLACE));
    FAILS(renameat2(AT_FDCWD, P("b"), AT_FDCWD, P("y1"), RENAME_NOREPLACE), EEXIST);
    KEEPS(renameat2(AT_FDCWD, P("y1"), AT_FDCWD, P("y2"), RENAME_EXCHANGE));
    SAME("b");
    SAME("y1");
    SAME("y2");

    /* The mirror is still in service. */
    put("end", 8, 64);
    SAME("end");
    return mt_done();
}
