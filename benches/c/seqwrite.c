/* Sequential writes: seqwrite COUNT BLOCK REWIND DIR [DIR2]
 *
 * Creates DIR/seqwrite.dat and writes COUNT blocks of BLOCK bytes; with REWIND > 0 the offset
 * goes back to 0 (lseek) after every REWIND writes, which keeps the file small. The open
 * (O_CREAT|O_TRUNC) and the close are inside the timed region: the shim's share of a write
 * stream includes opening the twins. With two directories each write goes to both files.
 */
#include "bench.h"

static NOINLINE void bench_loop(long count, size_t block, long rewind, char **paths, int ndirs, const char *buf)
{
    int fds[MAX_DIRS];
    for (int d = 0; d < ndirs; d++) {
        fds[d] = open(paths[d], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fds[d] < 0)
            die("open", paths[d]);
    }
    for (long i = 0; i < count; i++) {
        for (int d = 0; d < ndirs; d++)
            write_full(fds[d], buf, block, paths[d]);
        if (rewind > 0 && (i + 1) % rewind == 0) {
            for (int d = 0; d < ndirs; d++)
                if (lseek(fds[d], 0, SEEK_SET) != 0)
                    die("lseek", paths[d]);
        }
    }
    for (int d = 0; d < ndirs; d++)
        if (close(fds[d]))
            die("close", paths[d]);
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 4 + MAX_DIRS)
        usage("seqwrite COUNT BLOCK REWIND DIR [DIR2]");
    long count = count_arg(argv[1]);
    size_t block = (size_t)count_arg(argv[2]);
    long rewind = strcmp(argv[3], "0") ? count_arg(argv[3]) : 0;
    int ndirs = argc - 4;
    char *paths[MAX_DIRS];
    for (int d = 0; d < ndirs; d++)
        paths[d] = join(argv[4 + d], "seqwrite.dat");
    char *buf = pattern(block);
    uint64_t t0 = now_ns();
    bench_loop(count, block, rewind, paths, ndirs, buf);
    report(now_ns() - t0);
    return 0;
}
