/*
 * Deep nesting up to PATH_MAX: directories made one level at a time with chdir + relative
 * mkdir (the way mkdir -p and tar walk), files made at the deepest level relatively, through
 * a dirfd and through an absolute path of nearly PATH_MAX - 1 bytes; renames and removals
 * there; a path one byte too long fails with ENAMETOOLONG and changes nothing.
 */
#include "ns_util.h"

#define COMP "component-of-fifty-bytes-xxxxxxxxxxxxxxxxxxxxxxxxx"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char cwd0[PATH_MAX];
    CHECK(getcwd(cwd0, sizeof cwd0) != NULL);
    size_t clen = strlen(COMP) + 1, plen = strlen(mt_primary_clean());
    CHECK(clen == 51);

    /* the deepest directory leaves room for "/" + a 12-byte name under PATH_MAX - 1 */
    static char rel[PATH_MAX * 2];
    rel[0] = 0;
    KEEP(chdir(mt_primary));
    int depth = 0;
    while (plen + (depth + 1) * clen + 13 <= PATH_MAX - 1) {
        KEEP(mkdir(COMP, 0755));
        KEEP(chdir(COMP));
        strcat(rel, depth ? "/" COMP : COMP);
        depth++;
    }
    CHECK(depth > 10);
    OK(put("leaf-rel", "relative at the bottom"));
    KEEP(mkdir("dir-rel", 0700));
    KEEP(symlink("leaf-rel", "link-rel"));
    KEEP(rename("leaf-rel", "leaf-moved"));
    OK(put("../sideways", "one level up"));

    /* through a dirfd on the deepest directory */
    int d = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    int fd = openat(d, "leaf-at", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    CHECK(fd >= 0);
    CHECK(write(fd, "via dirfd", 9) == 9);
    close(fd);
    KEEP(renameat(d, "leaf-at", d, "dir-rel/leaf-at"));

    /* an absolute path as long as the kernel takes: PATH_MAX - 1 bytes */
    static char abs[PATH_MAX * 2];
    int n = snprintf(abs, sizeof abs, "%s/%s/", mt_primary_clean(), rel);
    size_t room = PATH_MAX - 1 - (size_t)n;
    CHECK(room >= 1 && room <= NAME_MAX);
    memset(abs + n, 'z', room);
    abs[n + room] = 0;
    CHECK(strlen(abs) == PATH_MAX - 1);
    OK(put(abs, "absolute, PATH_MAX - 1 bytes"));
    KEEP(truncate(abs, 8));
    char *last = abs + n; /* the name within the deepest directory */

    /* one byte more is refused, by the kernel, before anything is created */
    abs[n + room] = 'z';
    abs[n + room + 1] = 0;
    FAILS(mkdir(abs, 0755), ENAMETOOLONG);
    FAILS(open(abs, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
    FAILS(rename(P("nothing"), abs), ENAMETOOLONG);
    abs[n + room] = 0;

    /* compare the deepest level with the mirror, relative to dirfds (raw syscalls) */
    if (!mt_native()) {
        int pa = (int)RAWSYS(SYS_openat, AT_FDCWD, mt_primary, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int ma = (int)RAWSYS(SYS_openat, AT_FDCWD, mt_mirror, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int pd = (int)RAWSYS(SYS_openat, pa, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int md = (int)RAWSYS(SYS_openat, ma, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(pd >= 0);
        CHECK(md >= 0);
        if (pd >= 0 && md >= 0) {
            const char *names[] = {"leaf-moved", "dir-rel", "link-rel", "dir-rel/leaf-at", "../sideways",
                                   "leaf-rel", last, "."};
            for (size_t i = 0; i < sizeof names / sizeof *names; i++)
                mt_same_at(pd, names[i], md, names[i], __FILE__, __LINE__);
        }
        int fds[] = {pa, ma, pd, md};
        for (int i = 0; i < 4; i++)
            if (fds[i] >= 0)
                RAWSYS(SYS_close, fds[i]);
    }

    /* removals at the bottom, relative */
    KEEP(unlink("link-rel"));
    KEEP(unlinkat(d, "dir-rel/leaf-at", 0));
    KEEP(unlinkat(d, "dir-rel", AT_REMOVEDIR));
    close(d);

    KEEP(chdir(cwd0));
    /* a long relative path from the primary root through a dirfd */
    int root = open(mt_primary, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(root >= 0);
    static char rel2[PATH_MAX * 2];
    strcpy(rel2, rel);
    strcat(rel2, "/from-root");
    fd = openat(root, rel2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "long relative", 13) == 13);
    close(fd);
    close(root);
    if (!mt_native()) {
        int pa = (int)RAWSYS(SYS_openat, AT_FDCWD, mt_primary, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int ma = (int)RAWSYS(SYS_openat, AT_FDCWD, mt_mirror, O_PATH | O_DIRECTORY | O_CLOEXEC);
        mt_same_at(pa, rel2, ma, rel2, __FILE__, __LINE__);
        mt_same_at(pa, rel, ma, rel, __FILE__, __LINE__);
        RAWSYS(SYS_close, pa);
        RAWSYS(SYS_close, ma);
    }

    return mt_done();
}
