/* Many small files: smallfiles [--ab BLOCKS] COUNT SIZE DIR [DIR2]
 *
 * Creates COUNT files f000000, f000001, ... of SIZE bytes each: open(O_CREAT|O_TRUNC), one
 * write, close. With two directories each file is opened in both, written to both and closed
 * in both, the same sequence of operations a synchronous mirror performs. With --ab the files
 * are removed before every block, so each block creates them.
 */
#include "bench.h"

struct ctx {
    long count;
    size_t size;
    const char *buf;
    char **dirs;
};

static void name(char *out, size_t n, const char *dir, long i)
{
    snprintf(out, n, "%s/f%06ld", dir, i);
}

static NOINLINE void bench_loop(const struct calls *c, int ndirs, void *p)
{
    struct ctx *x = p;
    char path[MAX_DIRS][4096];
    int fds[MAX_DIRS];
    for (long i = 0; i < x->count; i++) {
        for (int d = 0; d < ndirs; d++) {
            name(path[d], sizeof path[d], x->dirs[d], i);
            fds[d] = c->open(path[d], O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fds[d] < 0)
                die("open", path[d]);
        }
        for (int d = 0; d < ndirs; d++)
            write_full(c, fds[d], x->buf, x->size, path[d]);
        for (int d = 0; d < ndirs; d++)
            if (c->close(fds[d]))
                die("close", path[d]);
    }
}

static void reset(const struct calls *c, int ndirs, void *p)
{
    struct ctx *x = p;
    char path[4096];
    for (int d = 0; d < ndirs; d++) {
        for (long i = 0; i < x->count; i++) {
            name(path, sizeof path, x->dirs[d], i);
            if (c->unlink(path) && errno != ENOENT)
                die("unlink", path);
        }
    }
}

int main(int argc, char **argv)
{
    long ab = ab_option(&argc, &argv);
    if (argc < 4 || argc > 3 + MAX_DIRS)
        usage("smallfiles [--ab BLOCKS] COUNT SIZE DIR [DIR2]");
    struct ctx x = { .count = count_arg(argv[1]), .size = (size_t)count_arg(argv[2]), .dirs = argv + 3 };
    x.buf = pattern(x.size);
    bench_main(ab, argc - 3, bench_loop, reset, &x);
    return 0;
}
