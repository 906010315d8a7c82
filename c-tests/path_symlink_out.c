/*
 * Symlinks inside the primary that lead out of every pair (absolute, relative, from a
 * subdirectory): creating, appending, renaming, truncating and removing through them acts on
 * the outside directory only, exactly once; the mirror holds nothing but the symlinks
 * themselves (checked directly). A rename through such a link is a rename out of (or into)
 * the pair and is mirrored as such.
 */
#include "ns_util.h"

static void check_mirror_only_links(void)
{
    MCOUNT("", 4); /* out_abs, out_rel, sub, keep */
    MCOUNT("sub", 1);
    MTYPE("out_abs", 'l');
    MTYPE("out_rel", 'l');
    MTYPE("sub/out_rel2", 'l');
    MSAME("out_abs");
    MSAME("out_rel");
    MSAME("sub/out_rel2");
    MSAME("keep");
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char cwd0[PATH_MAX], rel[PATH_MAX];
    CHECK(getcwd(cwd0, sizeof cwd0) != NULL);
    const char *out = mt_outside();
    char outname[64];
    snprintf(outname, sizeof outname, "outside-%d", (int)getpid());

    OK(symlink(out, P("out_abs")));
    snprintf(rel, sizeof rel, "../%s", outname);
    OK(symlink(rel, P("out_rel")));
    snprintf(rel, sizeof rel, "../../%s", outname);
    OK(mkdir(P("sub"), 0755));
    OK(symlink(rel, P("sub/out_rel2")));
    OK(put(P("keep"), "inside"));
    check_mirror_only_links();

    /* files through each link */
    OK(put(P("out_abs/f1"), "one"));
    OK(put(P("out_rel/f2"), "two"));
    OK(put(P("sub/out_rel2/f3"), "three"));
    CHECK(raw_is(O("f1"), "one"));
    CHECK(raw_is(O("f2"), "two"));
    CHECK(raw_is(O("f3"), "three"));
    check_mirror_only_links();

    /* appends land once */
    OK(append(P("out_abs/app"), "a"));
    OK(append(P("out_rel/app"), "b"));
    OK(append(P("sub/out_rel2/app"), "c"));
    int fd = open(P("out_abs/app"), O_WRONLY | O_APPEND | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, "d", 1) == 1);
    CHECK(ftruncate(fd, 3) == 0);
    CHECK(write(fd, "e", 1) == 1);
    close(fd);
    CHECK(raw_is(O("app"), "abce"));
    check_mirror_only_links();

    /* namespace calls through the links */
    KEEP(mkdir(P("out_abs/d"), 0755));
    KEEP(mkdir(P("out_rel/d/e"), 0700));
    KEEP(rename(P("out_abs/f1"), P("out_rel/d/f1r")));
    KEEP(symlink("f1r", P("out_abs/d/s")));
    KEEP(link(P("out_abs/f2"), P("out_rel/f2h")));
    KEEP(mkfifo(P("out_abs/fifo"), 0644));
    KEEP(truncate(P("out_rel/f3"), 2));
    KEEP(unlink(P("sub/out_rel2/f2")));
    KEEP(rmdir(P("out_abs/d/e")));
    CHECK(raw_is(O("d/f1r"), "one"));
    CHECK(raw_type(O("d/s")) == 'l');
    CHECK(raw_is(O("f2h"), "two"));
    CHECK(raw_type(O("fifo")) == 'p');
    CHECK(raw_is(O("f3"), "th"));
    CHECK(raw_type(O("f2")) == '-');
    CHECK(raw_type(O("d/e")) == '-');
    check_mirror_only_links();

    /* dirfds and a working directory through the links */
    int d = open(P("out_abs"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    KEEP(mkdirat(d, "viafd", 0755));
    fd = openat(d, "viafd/f", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "x", 1) == 1);
    close(fd);
    CHECK(raw_is(O("viafd/f"), "x"));
    close(d);
    KEEP(chdir(P("out_rel")));
    OK(append("cwdfile", "y"));
    KEEP(mkdir("cwddir", 0755));
    KEEP(chdir(cwd0));
    CHECK(raw_is(O("cwdfile"), "y"));
    check_mirror_only_links();

    /* renames through a link cross the pair's boundary */
    OK(put(P("leaving"), "leaving"));
    MSAME("leaving");
    KEEP(rename(P("leaving"), P("out_abs/left")));
    MABSENT("leaving");
    CHECK(raw_is(O("left"), "leaving"));
    OK(put(O("coming"), "coming in"));
    KEEP(rename(P("out_rel/coming"), P("came_in")));
    MSAME("came_in");
    KEEP(unlink(P("came_in")));
    MABSENT("came_in");
    check_mirror_only_links();

    /* nothing appeared next to the mirror either (for a mirror in another directory) */
    char beside[PATH_MAX];
    snprintf(beside, sizeof beside, "%s/../%s", mt_mirror, outname);
    struct stat so, sb;
    if (raw_lstat(beside, &sb) == 0 && raw_lstat(out, &so) == 0)
        CHECK(so.st_ino == sb.st_ino && so.st_dev == sb.st_dev);
    else
        CHECK(raw_type(beside) == '-');

    rm_rf(out);
    return mt_done();
}
