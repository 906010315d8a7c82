// mfs-config: on_mirror_error = "degrade"
// mfs-args: state
/*
 * on_mirror_error = "degrade": when the mirror cannot apply a change, the program's call
 * still succeeds with the primary's result, and the path is recorded in the pair's journal in
 * the state directory (argv[3]) as dirty for the mirror (copy 1). The fault: a directory
 * planted in the mirror where the program creates a file. The program removes the fault and
 * its file at the end so the rest of the trees can be compared.
 */
#include "mfstest.h"

#include <dirent.h>

/* Reads every *.journal file of the state directory into buf; returns the total length. */
static long read_journals(const char *state, char *buf, size_t cap)
{
    long total = 0;
    DIR *d = opendir(state);
    CHECK(d != NULL);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 8 || strcmp(e->d_name + n - 8, ".journal") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", state, e->d_name);
        long got = slurp(path, buf + total, cap - total);
        if (got > 0)
            total += got;
    }
    closedir(d);
    return total;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    const char *state = mt_state(argc, argv);
    umask(022);

    EQ(RAWSYS(SYS_mkdirat, AT_FDCWD, M("blocked"), 0755), 0);
    errno = 1234;
    int fd = open(P("blocked"), O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0);
    EQ(errno, 1234);
    EQ(write(fd, "primary only", 12), 12);
    EQ(pwrite(fd, "P", 1, 0), 1);
    KEEPS(fsync(fd));
    KEEPS(ftruncate(fd, 7));
    OK(close(fd));
    CONTENT_IS(P("blocked"), "Primary", 7);

    static char journal[1 << 20];
    long n = read_journals(state, journal, sizeof journal);
    char want[64];
    snprintf(want, sizeof want, "D 1 %d blocked\n", (int)getpid());
    CHECK(n > 0);
    if (strstr(journal, want) == NULL) {
        fprintf(stderr, "journal does not hold \"%.*s\"; it holds:\n%s\n", (int)strlen(want) - 1, want, journal);
        mt_failures++;
    }

    /* Unrelated files are still mirrored. */
    fd = open(P("after"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EQ(write(fd, "still mirrored", 14), 14);
    OK(close(fd));
    SAME("after");

    /* Clear the fault. */
    EQ(RAWSYS(SYS_unlinkat, AT_FDCWD, M("blocked"), AT_REMOVEDIR), 0);
    EQ(RAWSYS(SYS_unlinkat, AT_FDCWD, P("blocked"), 0), 0);
    return mt_done();
}
