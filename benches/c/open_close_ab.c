/* In-process A/B of open+close: open_close_ab BLOCKS PER DIR
 *
 * Alternates blocks of PER open+close of DIR/open_close.dat through the names the program
 * links against (the shim's hooks when it is preloaded) and blocks through libc's own
 * definitions (looked up in libc.so.6 directly, so never interposed). Each block pair gives
 * one ratio hooked/libc; adjacent blocks see the same machine state, so slow drifts of the
 * machine's speed cancel out. Prints `ab_ratio Q1 MEDIAN Q3`. Without the shim both halves
 * are libc: the ratio is the method's own bias (about 1).
 */
#include "bench.h"
#include <dlfcn.h>

typedef int (*open_fn)(const char *, int, ...);
typedef int (*close_fn)(int);

static NOINLINE uint64_t block(open_fn o, close_fn c, const char *path, long per)
{
    uint64_t t0 = now_ns();
    for (long i = 0; i < per; i++) {
        int fd = o(path, O_RDONLY);
        if (fd < 0)
            die("open", path);
        c(fd);
    }
    return now_ns() - t0;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        usage("open_close_ab BLOCKS PER DIR");
    long blocks = count_arg(argv[1]);
    long per = count_arg(argv[2]);
    char *path = join(argv[3], "open_close.dat");
    ensure_file(path, 100);
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc) {
        fprintf(stderr, "libc.so.6: %s\n", dlerror());
        return 1;
    }
    open_fn libc_open = (open_fn)dlsym(libc, "open");
    close_fn libc_close = (close_fn)dlsym(libc, "close");
    if (!libc_open || !libc_close) {
        fprintf(stderr, "libc.so.6 has no open/close\n");
        return 1;
    }
    double *ratio = malloc(sizeof *ratio * (size_t)blocks);
    if (!ratio)
        die("malloc", NULL);
    block(open, close, path, per);
    block(libc_open, libc_close, path, per);
    for (long b = 0; b < blocks; b++) {
        uint64_t hooked = block(open, close, path, per);
        uint64_t direct = block(libc_open, libc_close, path, per);
        ratio[b] = (double)hooked / (double)direct;
    }
    qsort(ratio, (size_t)blocks, sizeof *ratio, by_value);
    printf("ab_ratio %.4f %.4f %.4f\n", ratio[blocks / 4], ratio[blocks / 2], ratio[(3 * blocks) / 4]);
    return 0;
}
