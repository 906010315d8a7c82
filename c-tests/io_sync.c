/*
 * fsync, fdatasync and sync_file_range on mirrored files, on read-only descriptors, on
 * directories of the primary (as SQLite syncs its directory) and on the primary's root:
 * they succeed without touching errno, and fail unchanged with EBADF, EINVAL and ESPIPE.
 */
#include "mfstest.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    int fd = open(P("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    EQ(write(fd, "data to sync", 12), 12);
    KEEPS(fsync(fd));
    KEEPS(fdatasync(fd));
    KEEPS(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
    KEEPS(sync_file_range(fd, 0, 12, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
    SAME("f");
    OK(close(fd));

    fd = open(P("f"), O_RDONLY);
    KEEPS(fsync(fd));
    KEEPS(fdatasync(fd));
    OK(close(fd));

    OK(mkdir(P("d"), 0755));
    int d = open(P("d"), O_RDONLY | O_DIRECTORY);
    CHECK(d >= 0);
    fd = openat(d, "g", O_WRONLY | O_CREAT | O_EXCL, 0600);
    EQ(write(fd, "g", 1), 1);
    KEEPS(fdatasync(fd));
    OK(close(fd));
    KEEPS(fsync(d));
    KEEPS(fdatasync(d));
    OK(close(d));
    int root = open(P(""), O_RDONLY | O_DIRECTORY);
    KEEPS(fsync(root));
    OK(close(root));
    SAME("d/g");

    /* Errors. */
    FAILS(fsync(4242), EBADF);
    FAILS(fdatasync(-1), EBADF);
    FAILS(sync_file_range(4242, 0, 0, SYNC_FILE_RANGE_WRITE), EBADF);
    fd = open(P("f"), O_WRONLY);
    FAILS(sync_file_range(fd, -1, 0, SYNC_FILE_RANGE_WRITE), EINVAL);
    FAILS(sync_file_range(fd, 0, 0, 0x100), EINVAL);
    OK(close(fd));
    int p[2];
    OK(pipe(p));
    FAILS(fsync(p[1]), EINVAL);
    FAILS(sync_file_range(p[1], 0, 0, SYNC_FILE_RANGE_WRITE), ESPIPE);
    OK(close(p[0]));
    OK(close(p[1]));

    return mt_done();
}
