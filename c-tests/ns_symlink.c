/*
 * symlink and symlinkat inside the primary: targets are copied unchanged (relative,
 * absolute into the primary, absolute elsewhere, dangling, with "//", "/./" and trailing
 * slashes, very long); a symlink created through an in-tree symlinked directory lands at the
 * right place on the mirror; the error cases (EEXIST, ENOENT, ENOTDIR) change nothing.
 */
#include "ns_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    OK(put(P("file"), "file"));
    OK(mkdir(P("dir"), 0755));

    KEEP(symlink("file", P("rel")));
    KEEP(symlink("dir/../file", P("rel_dots")));
    KEEP(symlink(P("file"), P("abs_in")));       /* absolute, pointing into the primary */
    KEEP(symlink("/nonexistent/x", P("abs_dangling")));
    KEEP(symlink("../../no/where", P("rel_dangling")));
    KEEP(symlink("dir/", P("trailing")));
    KEEP(symlink("dir//.//", P("slashes")));
    KEEP(symlink(".", P("dot")));
    KEEP(symlink("..", P("dotdot")));
    KEEP(symlink("self", P("self")));             /* a loop */
    KEEP(symlink("/", P("root")));
    KEEP(symlink(" spaced name\t", P("spaces")));
    const char *rels[] = {"rel", "rel_dots", "abs_in", "abs_dangling", "rel_dangling", "trailing",
                          "slashes", "dot", "dotdot", "self", "root", "spaces"};
    for (size_t i = 0; i < sizeof rels / sizeof *rels; i++) {
        MTYPE(rels[i], 'l');
        MSAME(rels[i]);
    }
    /* the mirror's symlink is a copy: abs_in still names the primary's file */
    if (!mt_native()) {
        char t[PATH_MAX];
        CHECK(raw_readlink(M("abs_in"), t, sizeof t) > 0 && strcmp(t, P("file")) == 0);
    }

    /* a long target (PATH_MAX - 1 bytes is the limit) */
    static char longt[PATH_MAX + 2];
    memset(longt, 'x', PATH_MAX - 1);
    longt[PATH_MAX - 1] = 0;
    for (int i = 100; i < PATH_MAX - 1; i += 100)
        longt[i] = '/';
    KEEP(symlink(longt, P("long")));
    MSAME("long");
    memset(longt, 'y', PATH_MAX);
    longt[PATH_MAX] = 0;
    FAILS(symlink(longt, P("toolong")), ENAMETOOLONG);
    MABSENT("toolong");

    /* symlinkat with dirfds */
    int d = open(P("dir"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dp = open(P("dir"), O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0 && dp >= 0);
    KEEP(symlinkat("../file", d, "up"));
    KEEP(symlinkat("target does not matter", dp, "viapath"));
    KEEP(symlinkat("x", AT_FDCWD, P("dir/atcwd")));
    MSAME("dir/up");
    MSAME("dir/viapath");
    MSAME("dir/atcwd");
    CHECK(is(P("dir/up"), "file"));

    /* creating through an in-tree symlinked directory */
    OK(symlink("dir", P("dirlink")));
    KEEP(symlink("../file", P("dirlink/through")));
    CHECK(raw_type(P("dir/through")) == 'l');
    MSAME("dir/through");
    MTYPE("dirlink", 'l');
    KEEP(symlinkat("again", d, "../dirlink/through2"));
    MSAME("dir/through2");

    /* errors */
    FAILS(symlink("x", P("file")), EEXIST);
    FAILS(symlink("x", P("rel")), EEXIST);
    FAILS(symlink("x", P("abs_dangling")), EEXIST);
    FAILS(symlink("x", P("dir")), EEXIST);
    FAILS(symlink("x", P("missing/x")), ENOENT);
    FAILS(symlink("x", P("file/x")), ENOTDIR);
    FAILS(symlink("", P("empty")), ENOENT);
    FAILS(symlinkat("x", d, "up"), EEXIST);
    MSAME("file");
    MSAME("rel");
    MABSENT("missing");
    MABSENT("empty");

    /* replacing a symlink the usual way: new name, rename over */
    KEEP(symlink("dir", P("rel.tmp")));
    KEEP(rename(P("rel.tmp"), P("rel")));
    MSAME("rel");
    MABSENT("rel.tmp");

    close(d);
    close(dp);
    return mt_done();
}
