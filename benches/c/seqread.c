/* Sequential reads: seqread [--ab BLOCKS] BLOCK PASSES DIR
 *
 * Reads DIR/seqread.dat (prepared by the harness) from start to end in BLOCK-byte reads,
 * PASSES times. Reads are served from one copy, so the physical limit is the native run and
 * the program takes one directory only.
 */
#include "bench.h"

struct ctx {
    long passes;
    size_t block;
    char *buf;
    char *path;
    uint64_t total;
};

static NOINLINE void bench_loop(const struct calls *c, int ndirs, void *p)
{
    (void)ndirs;
    struct ctx *x = p;
    int fd = c->open(x->path, O_RDONLY);
    if (fd < 0)
        die("open", x->path);
    for (long i = 0; i < x->passes; i++) {
        if (c->lseek(fd, 0, SEEK_SET) != 0)
            die("lseek", x->path);
        for (;;) {
            ssize_t r = c->read(fd, x->buf, x->block);
            if (r < 0)
                die("read", x->path);
            if (r == 0)
                break;
            x->total += (uint64_t)r;
        }
    }
    if (c->close(fd))
        die("close", x->path);
}

int main(int argc, char **argv)
{
    long ab = ab_option(&argc, &argv);
    if (argc != 4)
        usage("seqread [--ab BLOCKS] BLOCK PASSES DIR");
    struct ctx x = { .block = (size_t)count_arg(argv[1]), .passes = count_arg(argv[2]), .path = join(argv[3], "seqread.dat") };
    x.buf = malloc(x.block);
    if (!x.buf)
        die("malloc", NULL);
    bench_main(ab, 1, bench_loop, NULL, &x);
    if (x.total == 0) {
        fprintf(stderr, "%s is empty\n", x.path);
        return 1;
    }
    return 0;
}
