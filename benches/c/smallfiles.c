/* Many small files: smallfiles COUNT SIZE DIR [DIR2]
 *
 * Creates COUNT files f000000, f000001, ... of SIZE bytes each: open(O_CREAT|O_TRUNC), one
 * write, close. With two directories each file is opened in both, written to both and closed
 * in both, the same sequence of operations a synchronous mirror performs.
 */
#include "bench.h"

static NOINLINE void bench_loop(long count, size_t size, char **dirs, int ndirs, const char *buf)
{
    char path[MAX_DIRS][4096];
    int fds[MAX_DIRS];
    for (long i = 0; i < count; i++) {
        for (int d = 0; d < ndirs; d++) {
            snprintf(path[d], sizeof path[d], "%s/f%06ld", dirs[d], i);
            fds[d] = open(path[d], O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fds[d] < 0)
                die("open", path[d]);
        }
        for (int d = 0; d < ndirs; d++)
            write_full(fds[d], buf, size, path[d]);
        for (int d = 0; d < ndirs; d++)
            if (close(fds[d]))
                die("close", path[d]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 3 + MAX_DIRS)
        usage("smallfiles COUNT SIZE DIR [DIR2]");
    long count = count_arg(argv[1]);
    size_t size = (size_t)count_arg(argv[2]);
    int ndirs = argc - 3;
    char *buf = pattern(size);
    uint64_t t0 = now_ns();
    bench_loop(count, size, argv + 3, ndirs, buf);
    report(now_ns() - t0);
    return 0;
}
