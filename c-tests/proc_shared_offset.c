/* One open file description shared by forked processes: a writer's write()s and its
 * siblings' 1-byte read()s, lseek()s and sendfile()s from it all move the one offset. Each
 * mirrored write must land on the twin where it landed on the primary, so every call that
 * moves the shared offset is ordered against the mirrored writes (stress-ng --iomix). */
#include "mfstest.h"
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/wait.h>

#define ROUNDS 20000

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    int fd = open(P("shared"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    OK(fd);
    char block[512];
    mt_fill(block, sizeof block, 1);
    OK(write(fd, block, sizeof block));
    int sink = open("/dev/null", O_WRONLY);
    OK(sink);
    /* The siblings keep moving the offset until the writer is done. */
    volatile int *done = mt_shared_flag();
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            char c;
            for (int i = 0; !*done; i++) {
                switch (k) {
                case 0:
                    if (read(fd, &c, 1) < 0)
                        _exit(1);
                    break;
                case 1:
                    if (lseek(fd, (i * 7) % 4096, SEEK_SET) < 0)
                        _exit(1);
                    break;
                default:
                    if (sendfile(sink, fd, NULL, 3) < 0)
                        _exit(1);
                    break;
                }
            }
            _exit(0);
        }
        CHECK(kids[k] > 0);
    }
    for (int i = 0; i < ROUNDS; i++) {
        mt_fill(block, 1 + i % 97, (unsigned)i);
        if (write(fd, block, 1 + i % 97) < 0) {
            CHECK(0);
            break;
        }
    }
    *done = 1;
    mt_reap(kids, 3);
    OK(close(sink));
    OK(close(fd));
    SAME("shared");
    return mt_done();
}
