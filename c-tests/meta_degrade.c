/*
 * on_mirror_error = "degrade" (the default): a metadata call whose mirror side fails (the
 * mirror's copy was removed behind the shim's back) still returns the primary's result and
 * keeps errno, by path and through a read-only fd, and the path is journaled in the state
 * directory for resync. The files that were made to differ are removed at the end.
 */
// mfs-args: state
#include "meta_util.h"

#include <sys/syscall.h>

static void raw_unlink(const char *path)
{
    if (RAWSYS(SYS_unlinkat, AT_FDCWD, path, 0) != 0) {
        fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
        mt_failures++;
    }
}

/* Some journal in the state directory has a record for the relative path rel. */
static int journaled(const char *state, const char *rel)
{
    DIR *d = opendir(state);
    if (!d)
        return 0;
    char want[PATH_MAX], path[PATH_MAX];
    snprintf(want, sizeof want, " %s\n", rel);
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 8 || strcmp(e->d_name + n - 8, ".journal") != 0)
            continue;
        static char buf[1 << 16];
        snprintf(path, sizeof path, "%s/%s", state, e->d_name);
        found = raw_slurp(path, buf, sizeof buf) > 0 && strstr(buf, want) != NULL;
    }
    closedir(d);
    return found;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    if (argc < 4) {
        fprintf(stderr, "usage: %s PRIMARY MIRROR STATE\n", argv[0]);
        return 2;
    }
    umask(022);

    OK(put(P("f"), "file"));
    OK(put(P("g"), "file"));
    if (!mt_native()) {
        raw_unlink(M("f"));
        KEEP(chmod(P("f"), 0600));
        PMODE("f", 0600);
        CHECK(journaled(argv[3], "f"));
        raw_unlink(P("f"));

        int r = open(P("g"), O_RDONLY | O_CLOEXEC);
        CHECK(r >= 0);
        raw_unlink(M("g"));
        KEEP(fsetxattr(r, "user.a", "a", 1, 0));
        CHECK(xattr_is(P("g"), "user.a", "a", 1));
        CHECK(journaled(argv[3], "g"));
        close(r);
        raw_unlink(P("g"));
    }
    FAILS(chmod(P("missing"), 0600), ENOENT);
    return mt_done();
}
