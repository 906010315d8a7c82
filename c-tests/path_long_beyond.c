/*
 * Nesting deeper than PATH_MAX: the absolute path of the working directory grows past 4096
 * bytes while the program walks down with chdir + relative mkdir, then creates, renames and
 * removes files there relative to the working directory and to a dirfd. Every call must
 * behave exactly as without the shim (results and errno). The shim cannot place a path longer
 * than PATH_MAX in a pair, so those changes are not mirrored; each one must instead leave a
 * full-resync record ("F ...") in the pair's journal: never a silent skip. Levels above the
 * limit are mirrored as usual. The program then removes the deep part again, walking back up,
 * so the trees end identical.
 */
// mfs-args: state
#include "ns_util.h"
/* True when some journal in the state directory holds a full-resync record. */
static int journal_has_full(const char *state)
{
    return mt_journal_has(state, "F ") || mt_journal_has(state, "\nF ");
}

#define COMP "component-of-one-hundred-bytes-" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define DEPTH 60 /* about 6000 bytes below the primary */

/* Opens depth levels of COMP below root with raw syscalls (O_PATH). */
static int raw_descend(const char *root, int depth)
{
    int fd = (int)RAWSYS(SYS_openat, AT_FDCWD, root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < depth && fd >= 0; i++) {
        int next = (int)RAWSYS(SYS_openat, fd, COMP, O_PATH | O_DIRECTORY | O_CLOEXEC);
        RAWSYS(SYS_close, fd);
        fd = next;
    }
    return fd;
}

static void compare_level(int depth, const char *const *names, size_t count, int line)
{
    if (mt_native())
        return;
    int p = raw_descend(mt_primary, depth), m = raw_descend(mt_mirror, depth);
    if (p < 0 || m < 0) {
        fprintf(stderr, "%s:%d: level %d missing in %s\n", __FILE__, line, depth, p < 0 ? "primary" : "mirror");
        mt_failures++;
    } else {
        for (size_t i = 0; i < count; i++)
            mt_same_at(p, names[i], m, names[i], __FILE__, line);
    }
    if (p >= 0)
        RAWSYS(SYS_close, p);
    if (m >= 0)
        RAWSYS(SYS_close, m);
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char cwd0[PATH_MAX];
    CHECK(getcwd(cwd0, sizeof cwd0) != NULL);
    CHECK(strlen(COMP) == 100);

    KEEP(chdir(mt_primary));
    for (int i = 0; i < DEPTH; i++) {
        KEEP(mkdir(COMP, 0750));
        KEEP(chdir(COMP));
        if (i % 10 == 9)
            OK(put("marker", "every tenth level"));
    }
    OK(put("deep", "beyond PATH_MAX"));
    KEEP(mkdir("deepdir", 0700));
    KEEP(symlink("deep", "deeplink"));
    KEEP(rename("deep", "deepdir/deep-moved"));
    OK(put("../one-up", "one level up"));
    KEEP(truncate("deepdir/deep-moved", 6));
    int d = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    int fd = openat(d, "at", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    CHECK(fd >= 0);
    CHECK(write(fd, "via dirfd", 9) == 9);
    close(fd);
    KEEP(mkdirat(d, "atdir", 0755));
    KEEP(renameat(d, "at", d, "atdir/at"));
    static const char *const bottom[] = {".", "deepdir", "deepdir/deep-moved", "deeplink", "atdir", "atdir/at", "deep", "at"};
    (void)bottom;
    if (!mt_native()) {
        CHECK(argc >= 4);
        if (argc >= 4)
            CHECK(journal_has_full(argv[3]));
        /* Levels whose paths fit in PATH_MAX were mirrored as the program walked down. */
        static const char *const shallow[] = {"marker"};
        compare_level(30, shallow, 1, __LINE__);
    }

    /* remove everything below level 30 again, walking up */
    KEEP(unlink("deeplink"));
    KEEP(unlinkat(d, "atdir/at", 0));
    KEEP(unlinkat(d, "atdir", AT_REMOVEDIR));
    KEEP(unlink("deepdir/deep-moved"));
    KEEP(rmdir("deepdir"));
    close(d);
    KEEP(unlink("../one-up"));
    for (int i = DEPTH; i > 30; i--) {
        if (i % 10 == 0)
            KEEP(unlink("marker"));
        KEEP(chdir(".."));
        KEEP(rmdir(COMP));
    }
    static const char *const gone[] = {COMP, "marker"};
    compare_level(30, gone, 2, __LINE__);
    KEEP(chdir(cwd0));
    return mt_done();
}
