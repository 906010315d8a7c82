/* Sequential reads: seqread BLOCK PASSES DIR
 *
 * Reads DIR/seqread.dat (prepared by the harness) from start to end in BLOCK-byte reads,
 * PASSES times. Reads are served from one copy, so the physical limit is the native run and
 * the program takes one directory only.
 */
#include "bench.h"

static NOINLINE uint64_t bench_loop(const char *path, long passes, char *buf, size_t block)
{
    uint64_t total = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("open", path);
    for (long p = 0; p < passes; p++) {
        if (lseek(fd, 0, SEEK_SET) != 0)
            die("lseek", path);
        for (;;) {
            ssize_t r = read(fd, buf, block);
            if (r < 0)
                die("read", path);
            if (r == 0)
                break;
            total += (uint64_t)r;
        }
    }
    if (close(fd))
        die("close", path);
    return total;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        usage("seqread BLOCK PASSES DIR");
    size_t block = (size_t)count_arg(argv[1]);
    long passes = count_arg(argv[2]);
    char *path = join(argv[3], "seqread.dat");
    char *buf = malloc(block);
    if (!buf)
        die("malloc", NULL);
    uint64_t t0 = now_ns();
    uint64_t total = bench_loop(path, passes, buf, block);
    report(now_ns() - t0);
    if (total == 0) {
        fprintf(stderr, "%s is empty\n", path);
        return 1;
    }
    return 0;
}
