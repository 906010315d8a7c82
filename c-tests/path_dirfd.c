/*
 * *at calls relative to directory fds: inside the pair (O_RDONLY and O_PATH), the primary
 * root itself (and ".." out of it), a directory outside the pair reaching in through
 * "../<primary>", "/" with the primary spelled relative to it (as rsync does), dirfds parked
 * on fds 0 and 1 with dup2 (as rsync does), a dirfd number reused for another directory,
 * and the error cases (EBADF, ENOTDIR).
 */
#include "ns_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    const char *base = mt_primary_base();
    char rel[PATH_MAX];
    mt_outside();

    /* a dirfd inside */
    OK(mkdir(P("dd"), 0755));
    int d = open(P("dd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    int fd = openat(d, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "via dirfd", 9) == 9);
    close(fd);
    MSAME("dd/f");
    KEEP(mkdirat(d, "sub", 0750));
    KEEP(renameat(d, "f", d, "sub/f2"));
    KEEP(symlinkat("f2", d, "sub/l"));
    KEEP(linkat(d, "sub/f2", d, "hard", 0));
    MSAME("dd/sub/f2");
    MSAME("dd/sub/l");
    MSAME("dd/hard");
    MABSENT("dd/f");
    KEEP(unlinkat(d, "hard", 0));
    MABSENT("dd/hard");

    /* an O_PATH dirfd inside */
    int dp = open(P("dd/sub"), O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dp >= 0);
    fd = openat(dp, "g", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "g", 1) == 1);
    close(fd);
    KEEP(mkdirat(dp, "../sub2", 0755));
    KEEP(renameat(dp, "g", d, "sub2/g"));
    MSAME("dd/sub2/g");
    MABSENT("dd/sub/g");

    /* the primary root as dirfd, and ".." out of it */
    int root = open(mt_primary, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(root >= 0);
    OK(mkdirat(root, "atroot", 0755));
    MSAME("atroot");
    snprintf(rel, sizeof rel, "../outside-%d/escaped", (int)getpid());
    fd = openat(root, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "escaped", 7) == 7);
    close(fd);
    MABSENT("escaped");
    CHECK(raw_is(O("escaped"), "escaped"));
    snprintf(rel, sizeof rel, "../%s/atroot/reentered", base);
    KEEP(mkdirat(root, rel, 0755));
    MSAME("atroot/reentered");

    /* a dirfd outside, reaching in */
    int od = open(mt_outside(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(od >= 0);
    snprintf(rel, sizeof rel, "../%s/from_outside_fd", base);
    fd = openat(od, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    CHECK(fd >= 0);
    CHECK(write(fd, "in", 2) == 2);
    close(fd);
    MSAME("from_outside_fd");
    KEEP(mkdirat(od, "plain", 0755));
    MABSENT("plain");
    OK(put(O("plain/moving"), "moving"));
    KEEP(renameat(od, "plain/moving", root, "moved_in"));
    MSAME("moved_in");
    KEEP(renameat(root, "moved_in", od, "plain/moved_out"));
    MABSENT("moved_in");

    /* "/" as dirfd with the primary spelled relative to it */
    int slash = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(slash >= 0);
    const char *prel = mt_primary_clean() + 1;
    snprintf(rel, sizeof rel, "%s/rs", prel);
    KEEP(mkdirat(slash, rel, 0755));
    snprintf(rel, sizeof rel, "%s/rs/.file.XXXXXX", prel);
    fd = openat(slash, rel, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "rsync-style", 11) == 11);
    CHECK(fchmod(fd, 0644) == 0);
    close(fd);
    char rel2[PATH_MAX];
    snprintf(rel2, sizeof rel2, "%s/rs/file", prel);
    KEEP(renameat(slash, rel, slash, rel2));
    MSAME("rs/file");
    MABSENT("rs/.file.XXXXXX");
    KEEP(unlinkat(slash, rel2, 0));
    MABSENT("rs/file");

    /* dirfds parked on 0 and 1 (rsync): save stdin/stdout high, dup2 dirfds onto them */
    int save0 = fcntl(0, F_DUPFD_CLOEXEC, 100);
    int save1 = fcntl(1, F_DUPFD_CLOEXEC, 100);
    OK(mkdir(P("park0"), 0755));
    OK(mkdir(P("park1"), 0755));
    int p0 = open(P("park0"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int p1 = open(P("park1"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(p0 >= 0 && p1 >= 0);
    CHECK(dup2(p0, 0) == 0);
    CHECK(dup2(p1, 1) == 1);
    close(p0);
    close(p1);
    fd = openat(0, ".tmp.XXXXXX", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "parked", 6) == 6);
    close(fd);
    KEEP(renameat(0, ".tmp.XXXXXX", 1, "landed"));
    KEEP(mkdirat(1, "dir_on_1", 0755));
    KEEP(symlinkat("landed", 1, "lnk_on_1"));
    KEEP(mkdirat(0, "dir_on_0", 0700));
    KEEP(unlinkat(0, "dir_on_0", AT_REMOVEDIR));
    MSAME("park1/landed");
    MSAME("park1/dir_on_1");
    MSAME("park1/lnk_on_1");
    MABSENT("park0/.tmp.XXXXXX");
    MABSENT("park0/dir_on_0");
    /* now park an outside directory on 0: it is outside, whatever 0 was before */
    int o0 = open(mt_outside(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(o0 >= 0);
    CHECK(dup2(o0, 0) == 0);
    close(o0);
    fd = openat(0, "on_zero", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "zero", 4) == 4);
    close(fd);
    MABSENT("park0/on_zero");
    CHECK(raw_is(O("on_zero"), "zero"));
    KEEP(renameat(0, "on_zero", 1, "from_zero"));
    MSAME("park1/from_zero");
    CHECK(dup2(save0, 0) == 0);
    CHECK(dup2(save1, 1) == 1);
    close(save0);
    close(save1);

    /* a dirfd number reused: close an inside dirfd, open an outside one on the same number */
    int n = open(P("dd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(n >= 0);
    KEEP(mkdirat(n, "before_reuse", 0755));
    close(n);
    int m = open(mt_outside(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(m == n);
    KEEP(mkdirat(m, "after_reuse", 0755));
    MSAME("dd/before_reuse");
    MABSENT("dd/after_reuse");
    close(m);
    /* and the other way round, through dup2 onto an outside dirfd's number */
    m = open(mt_outside(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(m >= 0);
    CHECK(dup2(d, m) == m);
    KEEP(mkdirat(m, "dup2_in", 0755));
    MSAME("dd/dup2_in");
    close(m);

    /* absolute paths ignore the dirfd */
    KEEP(mkdirat(od, P("abs_ignores_fd"), 0755));
    MSAME("abs_ignores_fd");

    /* errors */
    FAILS(openat(9999, "x", O_WRONLY | O_CREAT, 0644), EBADF);
    FAILS(mkdirat(9999, "x", 0755), EBADF);
    OK(put(P("plainfile"), "x"));
    int ff = open(P("plainfile"), O_RDONLY | O_CLOEXEC);
    CHECK(ff >= 0);
    FAILS(openat(ff, "x", O_WRONLY | O_CREAT, 0644), ENOTDIR);
    FAILS(renameat(ff, "x", d, "y"), ENOTDIR);
    FAILS(unlinkat(d, "nothing", 0), ENOENT);
    FAILS(mkdirat(d, "sub", 0755), EEXIST);
    MABSENT("dd/y");
    close(ff);

    close(d);
    close(dp);
    close(root);
    close(od);
    close(slash);
    rm_rf(mt_outside());
    return mt_done();
}
