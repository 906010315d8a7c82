/*
 * Spellings of one path: trailing slashes, doubled slashes (incl. a leading "//"), "/./"
 * components, "/.." at the root, and ".." inside the primary; each call lands on the same
 * object on the mirror, and the spellings the kernel refuses (a trailing slash on a file)
 * fail without touching the mirror.
 */
#include "ns_util.h"

/* mt_primary with a spelling prefix/suffix around it (rotating static buffers). */
static const char *S(const char *pre, const char *rel)
{
    static char bufs[8][PATH_MAX];
    static int i;
    char *b = bufs[i++ & 7];
    snprintf(b, PATH_MAX, "%s%s%s", pre, mt_primary_clean(), rel);
    return b;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    KEEP(mkdir(P("t1/"), 0755));
    KEEP(mkdir(P("t1//t2//"), 0755));
    /* mkdir("x/.") fails on Linux: the final "." does not name a new entry */
    FAILS(mkdir(S("", "//t1///t2/./t3/."), 0700), ENOENT);
    CHECK(raw_type(P("t1/t2/t3")) == '-');
    KEEP(mkdir(S("", "//t1///t2/./t3"), 0700));
    MSAME("t1");
    MSAME("t1/t2");
    MSAME("t1/t2/t3");

    OK(put(S("/", "/t1/./t2/f"), "leading double slash"));
    MSAME("t1/t2/f");
    OK(put(S("/.", "/t1/t2/g"), "slash dot"));
    MSAME("t1/t2/g");
    OK(put(S("/..", "/t1/h"), "dot-dot at the root"));
    MSAME("t1/h");
    OK(put(S("", "/t1/../t1/./t2/../i"), "dotdot inside"));
    MSAME("t1/i");
    OK(put(S("", "/./././j"), "dots"));
    MSAME("j");

    /* rename with slashes on directories */
    KEEP(rename(S("", "//t1/t2/t3/"), S("", "/t1/t2/t4//")));
    MABSENT("t1/t2/t3");
    MSAME("t1/t2/t4");
    KEEP(rename(S("", "/t1//h"), S("", "/./t1/t2/../h2")));
    MSAME("t1/h2");
    MABSENT("t1/h");

    /* the primary root itself with trailing slashes or dots as a dirfd */
    int r = open(S("", "//"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(r >= 0);
    KEEP(mkdirat(r, "via_root_slash/", 0755));
    MSAME("via_root_slash");
    close(r);
    r = open(S("", "/."), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(r >= 0);
    KEEP(mkdirat(r, ".//via_root_dot", 0755));
    MSAME("via_root_dot");
    close(r);
    r = open(S("", "/t1/.."), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(r >= 0);
    KEEP(symlinkat("j", r, "via_root_dotdot"));
    MSAME("via_root_dotdot");
    close(r);

    /* rmdir, unlink and symlink spelled with slashes and dots */
    KEEP(rmdir(S("", "/t1/t2/t4/")));
    MABSENT("t1/t2/t4");
    KEEP(unlink(S("/", "//t1/./i")));
    MABSENT("t1/i");
    KEEP(symlink("t1/", S("", "//sl")));
    MSAME("sl");
    KEEP(truncate(S("", "/t1/t2//f"), 3));
    MSAME("t1/t2/f");

    /* a trailing slash on a non-directory is refused */
    FAILS(open(P("j/"), O_RDONLY), ENOTDIR);
    FAILS(open(P("newfile/"), O_WRONLY | O_CREAT, 0644), EISDIR);
    FAILS(unlink(P("j/")), ENOTDIR);
    FAILS(rename(P("j/"), P("k")), ENOTDIR);
    FAILS(rename(P("j"), P("k/")), ENOTDIR);
    FAILS(rmdir(P("j/")), ENOTDIR);
    FAILS(truncate(P("j/"), 0), ENOTDIR);
    FAILS(link(P("j"), P("k/")), ENOENT);
    FAILS(symlink("j", P("k/")), ENOENT);
    FAILS(mkdir(P("t1/./"), 0755), EEXIST);
    FAILS(rmdir(P("t1/.")), EINVAL);
    MSAME("j");
    MABSENT("newfile");
    MABSENT("k");

    /* a symlink to a directory with a trailing slash resolves to the directory */
    OK(put(S("", "/sl/through_link"), "through"));
    MSAME("t1/through_link");
    MTYPE("sl", 'l');
    FAILS(unlink(P("sl/")), ENOTDIR); /* the symlink itself, not followed */
    MTYPE("sl", 'l');

    return mt_done();
}
