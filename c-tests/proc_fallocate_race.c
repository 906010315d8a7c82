/* Several processes change one file at once: some punch holes and zero ranges with
 * fallocate, others ftruncate it, others write into it with pwrite (stress-ng --fpunch). A
 * change in place must reach the twin with nothing of another process between its primary
 * and twin forms, or a write lands on the twin before the hole that covers it on the
 * primary. */
#include "mfstest.h"
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define SIZE (1 << 16)

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int fd = open(P("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    OK(fd);
    OK(ftruncate(fd, SIZE));
    volatile int *done = mt_shared_flag();
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            unsigned x = 12345u * (k + 1);
            for (int i = 0; !*done; i++) {
                x = x * 1103515245u + 12345u;
                off_t off = (off_t)(x % (SIZE / 4096)) * 4096;
                int r = 0;
                if (k == 0)
                    r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, 8192);
                else if (k == 1)
                    r = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, 4096);
                else
                    r = ftruncate(fd, SIZE - (off_t)(i % 3) * 4096);
                if (r != 0)
                    _exit(1);
            }
            _exit(0);
        }
        CHECK(kids[k] > 0);
    }
    char buf[4096];
    for (int i = 0; i < 20000; i++) {
        mt_fill(buf, sizeof buf, (unsigned)i);
        off_t off = (off_t)((i * 7919) % (SIZE / 4096)) * 4096;
        if (pwrite(fd, buf, 1000 + i % 3000, off) < 0) {
            CHECK(0);
            break;
        }
    }
    *done = 1;
    mt_reap(kids, 3);
    OK(close(fd));
    SAME("f");
    return mt_done();
}
