/*
 * mkdir and mkdirat inside the primary: modes under several umasks (incl. the sticky bit),
 * nested directories, a trailing slash, dirfds inside the pair, and the error cases
 * (EEXIST, ENOENT, ENOTDIR), which must leave the mirror untouched.
 */
#include "ns_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);

    umask(022);
    KEEP(mkdir(P("d1"), 0777));
    MTYPE("d1", 'd');
    MSAME("d1");
    KEEP(mkdir(P("d1/d2"), 0700));
    KEEP(mkdir(P("d1/d2/d3/"), 0751)); /* trailing slash */
    MSAME("d1/d2");
    MSAME("d1/d2/d3");
    KEEP(mkdir(P("sticky"), 01777));
    MSAME("sticky");

    umask(077);
    KEEP(mkdir(P("u077"), 0777));
    umask(0);
    KEEP(mkdir(P("u000"), 0777));
    KEEP(mkdir(P("ro"), 0555));
    umask(027);
    KEEP(mkdir(P("u027"), 0775));
    MSAME("u077");
    MSAME("u000");
    MSAME("ro");
    MSAME("u027");
    umask(022);

    /* error cases */
    OK(put(P("file"), "content"));
    FAILS(mkdir(P("d1"), 0755), EEXIST);
    FAILS(mkdir(P("d1/"), 0755), EEXIST);
    FAILS(mkdir(P("file"), 0755), EEXIST);
    FAILS(mkdir(P("file/x"), 0755), ENOTDIR);
    FAILS(mkdir(P("missing/x"), 0755), ENOENT);
    FAILS(mkdir(mt_primary, 0755), EEXIST);
    MTYPE("file", 'f');
    MSAME("file");
    MABSENT("missing");

    /* a symlink in the way: mkdir does not follow it */
    OK(symlink("d1", P("lnk")));
    FAILS(mkdir(P("lnk"), 0755), EEXIST);
    OK(symlink("nowhere", P("dangling")));
    FAILS(mkdir(P("dangling"), 0755), EEXIST);
    MABSENT("nowhere");
    MTYPE("dangling", 'l');

    /* mkdirat relative to dirfds inside the pair */
    int d1 = open(P("d1"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d1 >= 0);
    KEEP(mkdirat(d1, "at1", 0750));
    KEEP(mkdirat(d1, "at1/at2", 0777));
    KEEP(mkdirat(d1, "d2/../at3", 0711));
    FAILS(mkdirat(d1, "at1", 0755), EEXIST);
    FAILS(mkdirat(d1, "none/x", 0755), ENOENT);
    MSAME("d1/at1");
    MSAME("d1/at1/at2");
    MSAME("d1/at3");

    int dp = open(P("d1/d2"), O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dp >= 0);
    KEEP(mkdirat(dp, "viapath", 0755));
    MSAME("d1/d2/viapath");

    int root = open(mt_primary, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(root >= 0);
    KEEP(mkdirat(root, "fromroot", 0755));
    KEEP(mkdirat(root, "./fromroot/./sub", 0755));
    MSAME("fromroot/sub");

    /* an absolute path ignores the dirfd, even a dirfd on a file */
    int ff = open(P("file"), O_RDONLY | O_CLOEXEC);
    CHECK(ff >= 0);
    KEEP(mkdirat(ff, P("absolute"), 0755));
    FAILS(mkdirat(ff, "rel", 0755), ENOTDIR);
    FAILS(mkdirat(-1, "rel", 0755), EBADF);
    KEEP(mkdirat(AT_FDCWD, P("atcwd"), 0700));
    MSAME("absolute");
    MSAME("atcwd");

    /* deep-ish nesting one level at a time */
    char rel[256] = "nest";
    OK(mkdir(P(rel), 0755));
    for (int i = 0; i < 20; i++) {
        strcat(rel, "/n");
        KEEP(mkdir(P(rel), 0755));
    }
    MSAME(rel);

    close(d1);
    close(dp);
    close(root);
    close(ff);
    return mt_done();
}
