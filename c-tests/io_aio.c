/* Asynchronous writes: POSIX AIO (aio_write, lio_listio), which glibc carries out on threads
 * of its own, and Linux AIO (io_submit through syscall()), from several processes at once on
 * one file (each on its own ranges). Every write reaches the twin at its offset, and the file
 * is journaled once: overlapping writes in flight complete in an order no hook sees. */
// mfs-args: state
#include "mfstest.h"
#include <aio.h>
#include <linux/aio_abi.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int posix_writes(int fd, unsigned seed)
{
    static char bufs[8][4096];
    struct aiocb cbs[8];
    const struct aiocb *list[8];
    for (int i = 0; i < 8; i++) {
        mt_fill(bufs[i], sizeof bufs[i], seed + (unsigned)i);
        memset(&cbs[i], 0, sizeof cbs[i]);
        cbs[i].aio_fildes = fd;
        cbs[i].aio_buf = bufs[i];
        cbs[i].aio_nbytes = sizeof bufs[i];
        cbs[i].aio_offset = (off_t)(seed % 4) * 65536 + i * 4096;
        cbs[i].aio_lio_opcode = LIO_WRITE;
        list[i] = &cbs[i];
    }
    if (aio_write(&cbs[0]) != 0)
        return -1;
    if (lio_listio(LIO_WAIT, (struct aiocb *const *)&list[1], 7, NULL) != 0)
        return -1;
    if (aio_suspend(list, 1, NULL) != 0 && errno != EINTR)
        return -1;
    while (aio_error(&cbs[0]) == EINPROGRESS)
        ;
    return aio_return(&cbs[0]) == 4096 ? 0 : -1;
}

static int linux_writes(int fd, unsigned seed)
{
    aio_context_t ctx = 0;
    if (syscall(SYS_io_setup, 8, &ctx) != 0)
        return errno == ENOSYS ? 0 : -1;
    static char bufs[4][8192];
    struct iocb cbs[4], *list[4];
    for (int i = 0; i < 4; i++) {
        mt_fill(bufs[i], sizeof bufs[i], seed * 7 + (unsigned)i);
        memset(&cbs[i], 0, sizeof cbs[i]);
        cbs[i].aio_fildes = (unsigned)fd;
        cbs[i].aio_lio_opcode = IOCB_CMD_PWRITE;
        cbs[i].aio_buf = (unsigned long)bufs[i];
        cbs[i].aio_nbytes = sizeof bufs[i];
        cbs[i].aio_offset = 262144 + (long)(seed % 4) * 65536 + i * 8192;
        list[i] = &cbs[i];
    }
    if (syscall(SYS_io_submit, ctx, 4, list) != 4)
        return -1;
    struct io_event ev[4];
    long got = 0;
    while (got < 4) {
        long n = syscall(SYS_io_getevents, ctx, 1, 4 - got, ev, NULL);
        if (n < 0)
            return -1;
        got += n;
    }
    return (int)syscall(SYS_io_destroy, ctx);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int fd = open(P("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    OK(fd);
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        if (kids[k] == 0)
            _exit(posix_writes(fd, (unsigned)k + 1) == 0 && linux_writes(fd, (unsigned)k + 1) == 0 ? 0 : 1);
        CHECK(kids[k] > 0);
    }
    OK(posix_writes(fd, 0));
    OK(linux_writes(fd, 0));
    mt_reap(kids, 3);
    OK(close(fd));
    SAME("f");
    CHECK(mt_journal_has(mt_state(argc, argv), " f\n"));
    return mt_done();
}
