/*
 * utime, utimes, lutimes, futimes, futimesat, utimensat and futimens inside the primary: the
 * mirror gets the same atime and mtime to the nanosecond, for explicit times and for "now"
 * (NULL or UTIME_NOW: the mirror carries the primary's resulting time, not its own clock),
 * with UTIME_OMIT leaving a time alone; by path, through a symlink (the target changes) and on
 * the symlink itself (lutimes, AT_SYMLINK_NOFOLLOW), through the twin of a writable fd, a
 * read-only fd, a directory fd, an O_PATH fd with AT_EMPTY_PATH, and a NULL path with
 * futimesat. Errors (ENOENT, EINVAL, EBADF) change nothing and keep their errno.
 *
 * Reading a file or following a symlink may move its atime, so every time check comes before
 * the final content comparison, and symlinks are no longer followed once their own times
 * were set.
 */
#include "meta_util.h"

#include <time.h>

/* The mirror has exactly these times, and so does the primary. */
#define TIMES(rel, a, ans, m, mns)                                                        \
    do {                                                                                  \
        CHECK(times_are(P(rel), (a), (ans), (m), (mns)));                                 \
        MCHECK(times_are(M(rel), (a), (ans), (m), (mns)));                                \
    } while (0)

/* The primary's mtime is recent (a "now" really was applied). */
static int recent(const char *path)
{
    struct stat st;
    return raw_lstat(path, &st) == 0 && st.st_mtim.tv_sec > time(NULL) - 60;
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);

    OK(put(P("f"), "file"));
    OK(mkdir(P("d"), 0755));
    OK(put(P("d/g"), "in dir"));
    OK(symlink("f", P("l")));
    OK(symlink("d", P("dl")));
    OK(put(O("x"), "outside"));
    OK(symlink(O("x"), P("out")));

    /* utime */
    struct utimbuf ub = {.actime = 1000000000, .modtime = 1000000001};
    KEEP(utime(P("f"), &ub));
    TIMES("f", 1000000000, 0, 1000000001, 0);
    KEEP(utime(P("f"), NULL));
    CHECK(recent(P("f")));
    MMETA("f");

    /* utimes: microseconds */
    struct timeval tv[2] = {{100, 500}, {200, 999999}};
    KEEP(utimes(P("f"), tv));
    TIMES("f", 100, 500000, 200, 999999000);
    KEEP(utimes(P("f"), NULL));
    CHECK(recent(P("f")));
    MMETA("f");
    tv[0].tv_sec = 300;
    KEEP(utimes(P("l"), tv));                 /* follows the link */
    TIMES("f", 300, 500000, 200, 999999000);
    tv[0].tv_sec = 310;
    KEEP(utimes(P("dl/g"), tv));              /* through a symlinked directory */
    TIMES("d/g", 310, 500000, 200, 999999000);
    KEEP(utimes(mt_primary, tv));             /* the root of the pair */
    MCHECK(times_are(mt_mirror, 310, 500000, 200, 999999000));

    /* relative to the current directory */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    OK(chdir(P("d")));
    tv[0].tv_sec = 320;
    KEEP(utimes("g", tv));
    OK(chdir(cwd));
    TIMES("d/g", 320, 500000, 200, 999999000);

    /* futimes and futimens: writable fd (twin), read-only fd, directory fd */
    int w = open(P("f"), O_WRONLY | O_CLOEXEC);
    int r = open(P("d/g"), O_RDONLY | O_CLOEXEC);
    int dfd = open(P("d"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int pfd = open(P("f"), O_PATH | O_CLOEXEC);
    CHECK(w >= 0 && r >= 0 && dfd >= 0 && pfd >= 0);
    struct timeval tw[2] = {{400, 1}, {401, 2}};
    KEEP(futimes(w, tw));
    TIMES("f", 400, 1000, 401, 2000);
    KEEP(futimes(w, NULL));
    MMETA("f");
    KEEP(futimes(r, tw));
    TIMES("d/g", 400, 1000, 401, 2000);
    KEEP(futimes(dfd, tw));
    TIMES("d", 400, 1000, 401, 2000);

    struct timespec ts[2] = {{500, 123456789}, {501, 987654321}};
    KEEP(futimens(w, ts));
    TIMES("f", 500, 123456789, 501, 987654321);
    struct timespec omit_now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    KEEP(futimens(w, omit_now));             /* atime stays, mtime becomes now */
    CHECK(recent(P("f")));
    MMETA("f");
    struct timespec set_omit[2] = {{502, 5}, {0, UTIME_OMIT}};
    KEEP(futimens(r, ts));
    KEEP(futimens(r, set_omit));
    TIMES("d/g", 502, 5, 501, 987654321);
    KEEP(futimens(dfd, NULL));
    MMETA("d");
    KEEP(futimens(dfd, ts));

    /* utimensat: paths, dirfds, links followed, AT_EMPTY_PATH on an O_PATH fd */
    ts[0].tv_sec = 600;
    KEEP(utimensat(AT_FDCWD, P("f"), ts, 0));
    TIMES("f", 600, 123456789, 501, 987654321);
    struct timespec now2[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    KEEP(utimensat(dfd, "g", now2, 0));
    CHECK(recent(P("d/g")));
    MMETA("d/g");
    ts[0].tv_sec = 610;
    KEEP(utimensat(AT_FDCWD, P("l"), ts, 0));
    TIMES("f", 610, 123456789, 501, 987654321);
    ts[0].tv_sec = 620;
    KEEP(utimensat(pfd, "", ts, AT_EMPTY_PATH));
    TIMES("f", 620, 123456789, 501, 987654321);
    ts[0].tv_sec = 630;
    KEEP(utimensat(dfd, "g", ts, AT_SYMLINK_NOFOLLOW));
    TIMES("d/g", 630, 123456789, 501, 987654321);

    /* futimesat: a name relative to a dirfd, and NULL for the directory itself */
    struct timeval tf[2] = {{700, 7}, {701, 8}};
    KEEP(futimesat(dfd, "g", tf));
    TIMES("d/g", 700, 7000, 701, 8000);
    KEEP(futimesat(dfd, NULL, tf));
    TIMES("d", 700, 7000, 701, 8000);

    /* errors change nothing */
    struct timespec bad[2] = {{1, 2000000000}, {1, 0}};
    FAILS(utimensat(AT_FDCWD, P("f"), bad, 0), EINVAL);
    FAILS(utimensat(AT_FDCWD, P("f"), ts, 0x100000), EINVAL);
    const char *volatile nopath = NULL;
    FAILS(utimensat(AT_FDCWD, nopath, ts, 0), EINVAL);  /* glibc refuses a NULL path */
    TIMES("f", 620, 123456789, 501, 987654321);
    FAILS(utimes(P("missing"), tv), ENOENT);
    MABSENT("missing");
    FAILS(utime(P("missing"), NULL), ENOENT);
    FAILS(lutimes(P("missing"), tv), ENOENT);
    FAILS(utimensat(dfd, "missing", ts, 0), ENOENT);
    FAILS(utimes(P("f/x"), tv), ENOTDIR);
    FAILS(futimens(-1, ts), EBADF);
    FAILS(futimes(-1, tw), EBADF);
    FAILS(futimesat(-1, "g", tf), EBADF);
    FAILS(utimes(O("missing"), tv), ENOENT);
    KEEP(utimes(O("x"), tv));                 /* outside the pair */
    KEEP(utimes(P("out"), tv));               /* leads outside: the outside file only */
    MABSENT("x");

    /* the links themselves (not followed from here on) */
    struct timeval tl[2] = {{800, 1}, {801, 1}};
    KEEP(lutimes(P("l"), tl));
    TIMES("l", 800, 1000, 801, 1000);
    TIMES("f", 620, 123456789, 501, 987654321);
    struct timespec tsl[2] = {{900, 9}, {901, 9}};
    KEEP(utimensat(AT_FDCWD, P("dl"), tsl, AT_SYMLINK_NOFOLLOW));
    TIMES("dl", 900, 9, 901, 9);
    TIMES("d", 700, 7000, 701, 8000);
    KEEP(lutimes(P("f"), tl));                /* lutimes on a regular file */
    TIMES("f", 800, 1000, 801, 1000);

    close(w);
    close(r);
    close(dfd);
    close(pfd);
    /* "out" was followed (which moves a link's atime on the primary only) */
    const char *all[] = {"f", "d", "d/g", "l", "dl", "out"};
    for (size_t i = 0; i < sizeof all / sizeof *all - 1; i++)
        MMETA(all[i]);
    MPERMS("out");
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        MSAME(all[i]);
    rm_rf(mt_outside());
    return mt_done();
}
