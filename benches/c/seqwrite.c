/* Sequential writes: seqwrite [--ab BLOCKS] COUNT BLOCK REWIND DIR [DIR2]
 *
 * Creates DIR/seqwrite.dat and writes COUNT blocks of BLOCK bytes; with REWIND > 0 the offset
 * goes back to 0 (lseek) after every REWIND writes, which keeps the file small. The open
 * (O_CREAT|O_TRUNC) and the close are inside the timed region: the shim's share of a write
 * stream includes opening the twins. With two directories each write goes to both files.
 * With --ab the file is removed before every block, so each block creates it.
 */
#include "bench.h"

struct ctx {
    long count, rewind;
    size_t block;
    const char *buf;
    char *paths[MAX_DIRS];
};

static NOINLINE void bench_loop(const struct calls *c, int ndirs, void *p)
{
    struct ctx *x = p;
    int fds[MAX_DIRS];
    for (int d = 0; d < ndirs; d++) {
        fds[d] = c->open(x->paths[d], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fds[d] < 0)
            die("open", x->paths[d]);
    }
    for (long i = 0; i < x->count; i++) {
        for (int d = 0; d < ndirs; d++)
            write_full(c, fds[d], x->buf, x->block, x->paths[d]);
        if (x->rewind > 0 && (i + 1) % x->rewind == 0) {
            for (int d = 0; d < ndirs; d++)
                if (c->lseek(fds[d], 0, SEEK_SET) != 0)
                    die("lseek", x->paths[d]);
        }
    }
    for (int d = 0; d < ndirs; d++)
        if (c->close(fds[d]))
            die("close", x->paths[d]);
}

static void reset(const struct calls *c, int ndirs, void *p)
{
    struct ctx *x = p;
    for (int d = 0; d < ndirs; d++)
        if (c->unlink(x->paths[d]) && errno != ENOENT)
            die("unlink", x->paths[d]);
}

int main(int argc, char **argv)
{
    long ab = ab_option(&argc, &argv);
    if (argc < 5 || argc > 4 + MAX_DIRS)
        usage("seqwrite [--ab BLOCKS] COUNT BLOCK REWIND DIR [DIR2]");
    struct ctx x = {
        .count = count_arg(argv[1]),
        .block = (size_t)count_arg(argv[2]),
        .rewind = strcmp(argv[3], "0") ? count_arg(argv[3]) : 0,
    };
    int ndirs = argc - 4;
    for (int d = 0; d < ndirs; d++)
        x.paths[d] = join(argv[4 + d], "seqwrite.dat");
    x.buf = pattern(x.block);
    bench_main(ab, ndirs, bench_loop, reset, &x);
    return 0;
}
