/* open+close of an existing file: open_close [--ab BLOCKS] ITERATIONS DIR [DIR2] */
#include "bench.h"

struct ctx {
    long iterations;
    char *paths[MAX_DIRS];
};

static NOINLINE void bench_loop(const struct calls *c, int ndirs, void *p)
{
    struct ctx *x = p;
    for (long i = 0; i < x->iterations; i++) {
        for (int d = 0; d < ndirs; d++) {
            int fd = c->open(x->paths[d], O_RDONLY);
            if (fd < 0)
                die("open", x->paths[d]);
            c->close(fd);
        }
    }
}

int main(int argc, char **argv)
{
    long ab = ab_option(&argc, &argv);
    if (argc < 3 || argc > 2 + MAX_DIRS)
        usage("open_close [--ab BLOCKS] ITERATIONS DIR [DIR2]");
    struct ctx x = { .iterations = count_arg(argv[1]) };
    int ndirs = argc - 2;
    for (int d = 0; d < ndirs; d++) {
        x.paths[d] = join(argv[2 + d], "open_close.dat");
        ensure_file(x.paths[d], 100);
    }
    bench_main(ab, ndirs, bench_loop, NULL, &x);
    return 0;
}
