/* System calls made by number through libc's syscall(): writes, opens (openat2 included,
 * which glibc has no wrapper for), namespace and metadata changes are mirrored as through
 * their wrappers, with the same results and errno; io_uring_setup is refused with ENOSYS
 * while mirroring, so the program takes its ordinary path. */
#include "mfstest.h"
#include <linux/openat2.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    struct open_how how = {.flags = O_RDWR | O_CREAT | O_TRUNC, .mode = 0640, .resolve = RESOLVE_NO_XDEV};
    long fd = syscall(SYS_openat2, AT_FDCWD, P("a"), &how, sizeof how);
    OK(fd);
    char buf[3000];
    mt_fill(buf, sizeof buf, 1);
    EQ(syscall(SYS_write, fd, buf, 1000), 1000);
    EQ(syscall(SYS_pwrite64, fd, buf, 500, 4000), 500);
    struct iovec iov[2] = {{buf, 10}, {buf + 10, 20}};
    EQ(syscall(SYS_writev, fd, iov, 2), 30);
    OK(syscall(SYS_ftruncate, fd, 6000));
    OK(syscall(SYS_fsync, fd));
    OK(syscall(SYS_close, fd));
    SAME("a");

    fd = syscall(SYS_openat, AT_FDCWD, P("b"), O_WRONLY | O_CREAT | O_EXCL, 0600);
    OK(fd);
    EQ(syscall(SYS_write, fd, "hello", 5), 5);
    OK(syscall(SYS_close, fd));
    SAME("b");
    FAILS(syscall(SYS_openat, AT_FDCWD, P("b"), O_WRONLY | O_CREAT | O_EXCL, 0600), EEXIST);

    OK(syscall(SYS_mkdirat, AT_FDCWD, P("d"), 0750));
    OK(syscall(SYS_renameat2, AT_FDCWD, P("b"), AT_FDCWD, P("d/b2"), 0));
    OK(syscall(SYS_symlinkat, "b2", AT_FDCWD, P("d/l")));
    OK(syscall(SYS_linkat, AT_FDCWD, P("a"), AT_FDCWD, P("d/a2"), 0));
    OK(syscall(SYS_fchmodat, AT_FDCWD, P("a"), 0604));
    struct timespec ts[2] = {{100, 0}, {200, 0}};
    OK(syscall(SYS_utimensat, AT_FDCWD, P("a"), ts, 0));
    OK(syscall(SYS_unlinkat, AT_FDCWD, P("d/l"), 0));
    FAILS(syscall(SYS_unlinkat, AT_FDCWD, P("d/nope"), 0), ENOENT);

    /* io_uring cannot be followed: refused as a kernel without it would. */
    char params[120] = {0};
    FAILS(syscall(SYS_io_uring_setup, 4, params), ENOSYS);

    /* Numbers that change no file pass through. */
    EQ(syscall(SYS_getpid), getpid());
    return mt_done();
}
