/*
 * The mkstemp family in the primary: mkstemp, mkstemp64, mkostemp (O_APPEND, O_CLOEXEC),
 * mkstemps, mkostemps, and mkdtemp. The created files and directories (mode 0600 / 0700
 * whatever the umask) and the data written to them appear in the mirror; bad templates
 * (EINVAL) and missing directories (ENOENT) fail unchanged and create nothing.
 */
#include "mfstest.h"

/* The path of a created name relative to the primary. */
static const char *rel_of(const char *path)
{
    return path + strlen(mt_primary) + 1;
}

static void fill_and_check(int fd, const char *path, const char *data)
{
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    struct stat st;
    OK(fstat(fd, &st));
    EQ(st.st_mode & 07777, 0600);
    EQ(write(fd, data, strlen(data)), (long)strlen(data));
    SAME(rel_of(path));
    OK(close(fd));
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(0); /* mkstemp files are 0600 regardless */
    char t[8192];

    snprintf(t, sizeof t, "%s", P("plainXXXXXX"));
    fill_and_check(mkstemp(t), t, "mkstemp");
    CHECK(strstr(t, "XXXXXX") == NULL);

    snprintf(t, sizeof t, "%s", P("big64XXXXXX"));
    fill_and_check(mkstemp64(t), t, "mkstemp64");

    snprintf(t, sizeof t, "%s", P("oflagsXXXXXX"));
    int fd = mkostemp(t, O_APPEND | O_CLOEXEC);
    CHECK(fd >= 0);
    EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EQ(fcntl(fd, F_GETFL) & O_APPEND, O_APPEND);
    EQ(write(fd, "abc", 3), 3);
    EQ(lseek(fd, 0, SEEK_SET), 0);
    EQ(write(fd, "def", 3), 3); /* appends */
    CONTENT_IS(t, "abcdef", 6);
    SAME(rel_of(t));
    OK(close(fd));

    snprintf(t, sizeof t, "%s", P("suffXXXXXX.txt"));
    fill_and_check(mkstemps(t, 4), t, "mkstemps");
    CHECK(strcmp(t + strlen(t) - 4, ".txt") == 0);

    snprintf(t, sizeof t, "%s", P("osuffXXXXXX.log"));
    fill_and_check(mkostemps(t, 4, O_CLOEXEC), t, "mkostemps");

    char d[4096];
    snprintf(d, sizeof d, "%s", P("dirXXXXXX"));
    CHECK(mkdtemp(d) == d);
    struct stat st;
    OK(stat(d, &st));
    EQ(st.st_mode & 07777, 0700);
    snprintf(t, sizeof t, "%s/innerXXXXXX", d);
    fill_and_check(mkstemp(t), t, "inside a mkdtemp directory");

    /* Bad templates and missing directories. */
    snprintf(t, sizeof t, "%s", P("shortXXX"));
    FAILS(mkstemp(t), EINVAL);
    CHECK(strcmp(t, P("shortXXX")) == 0);
    snprintf(t, sizeof t, "%s", P("sXXXXXXbad"));
    FAILS(mkstemps(t, 2), EINVAL);
    snprintf(t, sizeof t, "%s", P("no-dir/xXXXXXX"));
    FAILS(mkstemp(t), ENOENT);
    snprintf(d, sizeof d, "%s", P("dXX"));
    errno = 0;
    CHECK(mkdtemp(d) == NULL && errno == EINVAL);
    snprintf(d, sizeof d, "%s", P("no-dir/dXXXXXX"));
    errno = 0;
    CHECK(mkdtemp(d) == NULL && errno == ENOENT);

    return mt_done();
}
