/* open+close of an existing file, ITERATIONS times: open_close ITERATIONS DIR [DIR2] */
#include "bench.h"

static NOINLINE void bench_loop(long iterations, char **paths, int ndirs)
{
    for (long i = 0; i < iterations; i++) {
        for (int d = 0; d < ndirs; d++) {
            int fd = open(paths[d], O_RDONLY);
            if (fd < 0)
                die("open", paths[d]);
            close(fd);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 2 + MAX_DIRS)
        usage("open_close ITERATIONS DIR [DIR2]");
    long iterations = count_arg(argv[1]);
    int ndirs = argc - 2;
    char *paths[MAX_DIRS];
    for (int d = 0; d < ndirs; d++) {
        paths[d] = join(argv[2 + d], "open_close.dat");
        ensure_file(paths[d], 100);
    }
    uint64_t t0 = now_ns();
    bench_loop(iterations, paths, ndirs);
    report(now_ns() - t0);
    return 0;
}
