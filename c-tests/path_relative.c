/*
 * Relative paths against a working directory the shim must track: chdir into the primary,
 * ".." components that leave the primary and re-enter it, a working directory outside the
 * pair reaching in through "../<primary>", fchdir to a dirfd inside, chdir("/"), and failed
 * chdir/fchdir calls that must not move the shim's idea of the working directory.
 */
#include "ns_util.h"

static char cwd0[PATH_MAX];

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    CHECK(getcwd(cwd0, sizeof cwd0) != NULL);
    const char *base = mt_primary_base();
    char rel[PATH_MAX];

    /* inside the primary */
    KEEP(chdir(mt_primary));
    KEEP(mkdir("r1", 0755));
    OK(put("r1/f", "f"));
    KEEP(rename("r1/f", "r1/g"));
    KEEP(symlink("g", "r1/lnk"));
    KEEP(link("r1/g", "r1/hard"));
    KEEP(mkdir("./r1/../r2", 0700));
    OK(put("r2/./x", "x"));
    MSAME("r1/g");
    MSAME("r1/lnk");
    MSAME("r1/hard");
    MSAME("r2/x");
    MABSENT("r1/f");

    /* leave and re-enter: ../<base>/... */
    snprintf(rel, sizeof rel, "../%s/r1/reenter", base);
    OK(put(rel, "re-entered"));
    MSAME("r1/reenter");
    snprintf(rel, sizeof rel, "r1/../../%s/./r2/reenter2", base);
    KEEP(mkdir(rel, 0755));
    MSAME("r2/reenter2");

    /* leave: the scratch directory next to the primary is outside */
    snprintf(rel, sizeof rel, "../outside-%d", (int)getpid());
    mt_outside();
    snprintf(rel, sizeof rel, "../outside-%d/leaked", (int)getpid());
    OK(put(rel, "outside"));
    CHECK(is(O("leaked"), "outside"));
    MABSENT("leaked");
    snprintf(rel, sizeof rel, "../outside-%d/leaked", (int)getpid());
    KEEP(rename(rel, "r1/pulled_in")); /* outside -> inside, relative spellings */
    MSAME("r1/pulled_in");
    snprintf(rel, sizeof rel, "../outside-%d/pushed_out", (int)getpid());
    KEEP(rename("r1/hard", rel)); /* inside -> outside */
    MABSENT("r1/hard");
    MSAME("r1/g");

    /* deeper working directory */
    KEEP(chdir("r1"));
    OK(put("deep", "deep"));
    OK(put("../r2/sideways", "sideways"));
    KEEP(unlink("lnk"));
    snprintf(rel, sizeof rel, "../../%s/r1/deep2", base);
    OK(put(rel, "deep2"));
    MSAME("r1/deep");
    MSAME("r2/sideways");
    MABSENT("r1/lnk");
    MSAME("r1/deep2");
    KEEP(chdir(".."));
    OK(put("back_at_root", "root"));
    MSAME("back_at_root");

    /* failed chdir/fchdir keep the old working directory */
    FAILS(chdir("nonexistent"), ENOENT);
    FAILS(chdir("back_at_root"), ENOTDIR);
    int ffd = open("back_at_root", O_RDONLY | O_CLOEXEC);
    CHECK(ffd >= 0);
    FAILS(fchdir(ffd), ENOTDIR);
    FAILS(fchdir(-1), EBADF);
    close(ffd);
    OK(put("after_failed_chdir", "still at the root"));
    MSAME("after_failed_chdir");
    CHECK(access(P("after_failed_chdir"), F_OK) == 0);

    /* outside working directory reaching in through ../<base> */
    KEEP(chdir(mt_outside()));
    OK(put("local", "outside only"));
    MABSENT("local");
    snprintf(rel, sizeof rel, "../%s/from_outside", base);
    OK(put(rel, "in"));
    MSAME("from_outside");
    snprintf(rel, sizeof rel, "../%s/r2", base);
    KEEP(chdir(rel));
    OK(put("via_relative_chdir", "x"));
    MSAME("r2/via_relative_chdir");

    /* fchdir to dirfds inside and outside */
    int d = open(P("r1"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dp = open(P("r2"), O_PATH | O_DIRECTORY | O_CLOEXEC);
    int od = open(mt_outside(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0 && dp >= 0 && od >= 0);
    KEEP(fchdir(d));
    OK(put("via_fchdir", "fchdir"));
    KEEP(mkdir("fdir", 0755));
    MSAME("r1/via_fchdir");
    MSAME("r1/fdir");
    KEEP(fchdir(od));
    OK(put("outside_again", "o"));
    MABSENT("outside_again");
    KEEP(fchdir(dp));
    OK(put("via_opath_fchdir", "p"));
    MSAME("r2/via_opath_fchdir");
    /* mkdir -p style: fchdir, then relative mkdir, then chdir into it */
    KEEP(mkdir("p1", 0755));
    KEEP(chdir("p1"));
    KEEP(mkdir("p2", 0755));
    KEEP(chdir("p2"));
    OK(put("leaf", "leaf"));
    MSAME("r2/p1/p2/leaf");

    /* chdir("/") and the primary spelled without its leading slash */
    KEEP(chdir("/"));
    snprintf(rel, sizeof rel, "%s/from_slash", mt_primary_clean() + 1);
    OK(put(rel, "slash"));
    MSAME("from_slash");

    /* the working directory is the primary root itself, reached through ".." */
    KEEP(chdir(P("r1/fdir")));
    KEEP(chdir("../.."));
    OK(put("root_via_dotdot", "x"));
    MSAME("root_via_dotdot");
    KEEP(chdir(".."));
    snprintf(rel, sizeof rel, "%s/parent_rel", base);
    OK(put(rel, "x"));
    MSAME("parent_rel");

    close(d);
    close(dp);
    close(od);
    OK(chdir(cwd0));
    rm_rf(mt_outside());
    return mt_done();
}
