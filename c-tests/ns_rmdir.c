/*
 * rmdir inside the primary: empty directories (plain, trailing slash, bottom-up nesting) are
 * removed from the mirror too; the failures (ENOTEMPTY, ENOTDIR, ENOENT, EINVAL on ".", a
 * symlink to a directory) leave the mirror as it was.
 */
#include "ns_util.h"

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    OK(mkdir(P("empty"), 0755));
    OK(mkdir(P("slash"), 0755));
    OK(mkdir(P("full"), 0755));
    OK(put(P("full/f"), "keep me"));
    OK(mkdir(P("a"), 0755));
    OK(mkdir(P("a/b"), 0755));
    OK(mkdir(P("a/b/c"), 0755));
    OK(put(P("file"), "x"));
    OK(symlink("full", P("lnk")));
    OK(mkdir(P("keep"), 0700));
    MSAME("empty");
    MSAME("a/b/c");

    KEEP(rmdir(P("empty")));
    MABSENT("empty");
    KEEP(rmdir(P("slash/")));
    MABSENT("slash");
    KEEP(rmdir(P("a/b/c")));
    KEEP(rmdir(P("a/b/")));
    MABSENT("a/b");
    MTYPE("a", 'd');
    KEEP(rmdir(P("a")));
    MABSENT("a");

    FAILS(rmdir(P("full")), ENOTEMPTY);
    FAILS(rmdir(P("full/")), ENOTEMPTY);
    FAILS(rmdir(P("file")), ENOTDIR);
    FAILS(rmdir(P("file/")), ENOTDIR);
    FAILS(rmdir(P("missing")), ENOENT);
    FAILS(rmdir(P("missing/x")), ENOENT);
    FAILS(rmdir(P("keep/.")), EINVAL);
    FAILS(rmdir(P("keep/..")), ENOTEMPTY);
    FAILS(rmdir(P("lnk")), ENOTDIR);
    FAILS(rmdir(P("lnk/")), ENOTDIR);
    FAILS(rmdir(P("empty")), ENOENT);
    MSAME("full");
    MSAME("full/f");
    MSAME("file");
    MSAME("lnk");
    MSAME("keep");

    /* rmdir relative to the working directory inside the primary */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    OK(mkdir(P("rel"), 0755));
    OK(mkdir(P("rel/x"), 0755));
    OK(mkdir(P("rel/y"), 0755));
    OK(chdir(P("rel")));
    KEEP(rmdir("x"));
    KEEP(rmdir("./y/"));
    FAILS(rmdir("x"), ENOENT);
    OK(chdir(cwd));
    MCOUNT("rel", 0);

    /* unlinkat(AT_REMOVEDIR) is rmdir too */
    OK(mkdir(P("rel/z"), 0755));
    int d = open(P("rel"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    KEEP(unlinkat(d, "z", AT_REMOVEDIR));
    MABSENT("rel/z");
    close(d);

    /* remove a directory whose mirror twin is still open somewhere: nothing special */
    OK(mkdir(P("busy"), 0755));
    int b = open(P("busy"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(b >= 0);
    KEEP(rmdir(P("busy")));
    MABSENT("busy");
    FAILS(openat(b, "late", O_WRONLY | O_CREAT, 0644), ENOENT);
    MABSENT("busy");
    close(b);

    return mt_done();
}
