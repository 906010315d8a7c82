/*
 * A program that works only outside the pair: directories whose names share a prefix with
 * the primary ("PRIMARYx", "PRIMARY-old", "PRIMARY.d"), the primary's parent, and paths that
 * only look like they are in the primary ("PRIMARY/../PRIMARYx/f"). Every call behaves as
 * without the shim (errno untouched), and nothing appears in the mirror or beside it.
 */
#include "ns_util.h"

static char sib[3][PATH_MAX];

static void work_in(const char *dir)
{
    char a[PATH_MAX + 64], b[PATH_MAX + 64];
    KEEP(mkdir(dir, 0755));
    snprintf(a, sizeof a, "%.4000s/f", dir);
    OK(put(a, "outside"));
    snprintf(b, sizeof b, "%.4000s/g", dir);
    KEEP(rename(a, b));
    KEEP(link(b, a));
    KEEP(truncate(a, 2));
    snprintf(b, sizeof b, "%.4000s/l", dir);
    KEEP(symlink("f", b));
    snprintf(b, sizeof b, "%.4000s/fifo", dir);
    KEEP(mkfifo(b, 0600));
    FAILS(mknod(a, S_IFREG | 0644, 0), EEXIST);
    snprintf(b, sizeof b, "%.4000s/d", dir);
    KEEP(mkdir(b, 0700));
    int d = open(b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    KEEP(mkdirat(d, "sub", 0755));
    KEEP(symlinkat("..", d, "up"));
    KEEP(renameat(d, "sub", d, "sub2"));
    KEEP(unlinkat(d, "sub2", AT_REMOVEDIR));
    FAILS(unlinkat(d, "sub2", AT_REMOVEDIR), ENOENT);
    FAILS(mkdirat(d, "up", 0755), EEXIST);
    close(d);
    CHECK(raw_is(a, "ou"));
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    const char *p = mt_primary_clean();
    snprintf(sib[0], PATH_MAX, "%sx", p);
    snprintf(sib[1], PATH_MAX, "%s-old", p);
    snprintf(sib[2], PATH_MAX, "%s.d", p);
    int mirror_before = raw_count(mt_mirror);

    for (int i = 0; i < 3; i++) {
        rm_rf(sib[i]);
        work_in(sib[i]);
    }

    /* paths that pass through the primary's name and leave it again */
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/../%sx/through", p, mt_primary_base());
    OK(put(path, "lexically outside"));
    CHECK(raw_type(P("through")) == '-');
    snprintf(path, sizeof path, "%s/./../%s-old/d/../viadots", p, mt_primary_base());
    KEEP(mkdir(path, 0755));
    snprintf(path, sizeof path, "%s/viadots", sib[1]);
    CHECK(raw_type(path) == 'd');

    /* the scratch directory next to the primary, and relative work in it */
    char cwd0[PATH_MAX];
    CHECK(getcwd(cwd0, sizeof cwd0) != NULL);
    KEEP(chdir(mt_outside()));
    OK(put("a", "a"));
    KEEP(rename("a", "b"));
    KEEP(mkdir("c", 0755));
    KEEP(rename("b", "c/b"));
    snprintf(path, sizeof path, "../%sx/from-outside-cwd", mt_primary_base());
    OK(put(path, "sibling"));
    KEEP(chdir(cwd0));

    /* renames between the outside places never touch the pair */
    snprintf(path, sizeof path, "%s/g", sib[0]);
    char to[PATH_MAX * 2];
    snprintf(to, sizeof to, "%s/g-new", sib[2]);
    KEEP(renameat2(AT_FDCWD, path, AT_FDCWD, to, RENAME_NOREPLACE));
    snprintf(path, sizeof path, "%s/f", sib[0]);
    KEEP(renameat2(AT_FDCWD, path, AT_FDCWD, to, RENAME_EXCHANGE));

    /* nothing in the primary or the mirror, nothing beside the mirror */
    CHECK(raw_count(mt_primary) == 0);
    CHECK(raw_count(mt_mirror) == mirror_before);
    char ms[PATH_MAX + 16];
    const char *suffix[] = {"x", "-old", ".d"};
    for (int i = 0; i < 3; i++) {
        snprintf(ms, sizeof ms, "%s%s", mt_mirror, suffix[i]);
        size_t n = strlen(mt_mirror);
        while (n > 1 && mt_mirror[n - 1] == '/')
            n--;
        snprintf(ms, sizeof ms, "%.*s%s", (int)n, mt_mirror, suffix[i]);
        if (strcmp(ms, sib[0]) && strcmp(ms, sib[1]) && strcmp(ms, sib[2]))
            CHECK(raw_type(ms) == '-');
    }

    for (int i = 0; i < 3; i++)
        rm_rf(sib[i]);
    rm_rf(mt_outside());
    for (int i = 0; i < 3; i++)
        CHECK(raw_type(sib[i]) == '-');
    return mt_done();
}
