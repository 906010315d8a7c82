/*
 * ioctl FICLONE and FICLONERANGE into mirrored files. Whether the file system can clone
 * (btrfs, xfs) or not (ext4, tmpfs: EOPNOTSUPP, or EXDEV/EINVAL), the result and errno must be
 * what the same ioctl gives on files outside every pair, and the trees must match after it.
 * Other ioctls (FIONREAD) and the errors EBADF and ENOTTY pass through unchanged.
 */
#include "mfstest.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    static char buf[3 * 65536];
    mt_fill(buf, sizeof buf, 7);

    /* The native behaviour, measured on files in the scratch cwd (outside every pair). */
    int ns = open("native-src", O_RDWR | O_CREAT | O_TRUNC, 0644);
    int nd = open("native-dst", O_RDWR | O_CREAT | O_TRUNC, 0644);
    EQ(write(ns, buf, sizeof buf), (long)sizeof buf);
    errno = 0;
    int native = ioctl(nd, FICLONE, ns);
    int native_errno = native == 0 ? 0 : errno;
    struct file_clone_range ncr = { .src_fd = ns, .src_offset = 65536, .src_length = 65536, .dest_offset = 0 };
    errno = 0;
    int native_range = ioctl(nd, FICLONERANGE, &ncr);
    int native_range_errno = native_range == 0 ? 0 : errno;

    int src = open(P("src"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    int dst = open(P("dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(src >= 0 && dst >= 0);
    EQ(write(src, buf, sizeof buf), (long)sizeof buf);
    EQ(write(dst, "previous contents", 17), 17);

    errno = 1234;
    int r = ioctl(dst, FICLONE, src);
    EQ(r, native);
    EQ(errno, native == 0 ? 1234 : native_errno);
    SAME("dst");

    struct file_clone_range cr = { .src_fd = src, .src_offset = 65536, .src_length = 65536, .dest_offset = 0 };
    errno = 1234;
    r = ioctl(dst, FICLONERANGE, &cr);
    EQ(r, native_range);
    EQ(errno, native_range == 0 ? 1234 : native_range_errno);
    SAME("dst");

    /* A source outside every pair. */
    errno = 1234;
    r = ioctl(dst, FICLONE, ns);
    EQ(r, native);
    SAME("dst");

    /* Other ioctls. */
    int avail = -1;
    EQ(lseek(src, 1000, SEEK_SET), 1000);
    OK(ioctl(src, FIONREAD, &avail));
    EQ(avail, (long)sizeof buf - 1000);
    FAILS(ioctl(4242, FICLONE, src), EBADF);
    FAILS(ioctl(dst, FICLONE, 4242), EBADF);
    FAILS(ioctl(dst, TCGETS, &avail), ENOTTY);

    OK(close(src));
    OK(close(dst));
    OK(close(ns));
    OK(close(nd));
    return mt_done();
}
