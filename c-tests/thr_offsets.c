// mfs-cflags: -pthread
/*
 * Threads sharing one written descriptor's offset: four threads write records through it (two
 * through the descriptor itself, two through dups of it), and now and then one of them seeks
 * (back to an earlier record boundary, or to the end) or writes at a position with pwrite. The
 * kernel orders the writes; the mirror must end up byte-identical to the primary.
 */
#include "thr_util.h"

#define THREADS 4
#define ROUNDS 3000
#define REC 64

static int fds[THREADS];

static void *worker(void *arg)
{
    long id = (long)arg;
    int fd = fds[id];
    char rec[REC];
    unsigned x = (unsigned)id * 2654435761u + 1;
    for (int i = 0; i < ROUNDS; i++) {
        x = x * 1103515245u + 12345u;
        memset(rec, 'a' + (int)(x >> 16) % 26, sizeof rec);
        snprintf(rec, sizeof rec, "t%ld r%d", id, i);
        rec[REC - 1] = '\n';
        switch ((x >> 8) % 64) {
        case 0:
            if (lseek(fd, (off_t)((x >> 12) % 64) * REC, SEEK_SET) < 0)
                __atomic_fetch_add(&mt_failures, 1, __ATOMIC_RELAXED);
            break;
        case 1:
            if (lseek(fd, 0, SEEK_END) < 0)
                __atomic_fetch_add(&mt_failures, 1, __ATOMIC_RELAXED);
            break;
        case 2:
            if (pwrite(fd, rec, REC, (off_t)((x >> 12) % 128) * REC) != REC)
                __atomic_fetch_add(&mt_failures, 1, __ATOMIC_RELAXED);
            break;
        default:
            if (write(fd, rec, REC) != REC)
                __atomic_fetch_add(&mt_failures, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    int fd = open(P("shared"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd > 2);
    fds[0] = fds[1] = fd;
    fds[2] = dup(fd);
    fds[3] = fcntl(fd, F_DUPFD, 50);
    CHECK(fds[2] > 2 && fds[3] >= 50);
    mt_run_threads(THREADS, worker);
    SAME("shared");
    OK(close(fds[3]));
    OK(close(fds[2]));
    OK(close(fd));
    SAME("shared");
    return mt_done();
}
