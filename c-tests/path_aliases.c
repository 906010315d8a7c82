/* Changes spelled through other names of the primary: a symlink to it outside every pair,
 * /proc/self/fd/N/..., /proc/self/cwd/..., and `..` after a symlink into it. Each change is
 * placed by what it touches, not how it is spelled, and reaches the mirror. The program runs
 * outside both trees, where it makes its symlinks. */
#include "mfstest.h"
#include <sys/time.h>
#include <sys/xattr.h>

static void put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    OK(fd);
    OK(write(fd, text, strlen(text)));
    OK(close(fd));
}

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    unlink("alias");
    unlink("deep");
    OK(symlink(mt_primary, "alias"));

    /* Through a symlink to the primary (relative and absolute spellings). */
    put("alias/f", "through the alias\n");
    SAME("f");
    OK(mkdir("alias/d", 0750));
    char abs[8192];
    snprintf(abs, sizeof abs, "%s/alias/d/g", cwd);
    put(abs, "absolute alias\n");
    SAME("d/g");
    OK(rename("alias/f", "alias/d/f2"));
    OK(link("alias/d/f2", "alias/d/f3"));
    OK(symlink("f2", "alias/d/l"));
    OK(chmod("alias/d/f2", 0600));
    OK(truncate("alias/d/f2", 4));
    struct timeval tv[2] = {{1000, 0}, {2000, 0}};
    OK(utimes("alias/d/f3", tv));
    OK(unlink("alias/d/g"));
    FILE *s = fopen("alias/d/stream", "w");
    CHECK(s != NULL);
    CHECK(fputs("stdio through the alias\n", s) >= 0);
    CHECK(fclose(s) == 0);
    SAME("d/f2");
    SAME("d/stream");

    /* Relative to a directory descriptor opened through the alias. */
    int dfd = open("alias/d", O_RDONLY | O_DIRECTORY);
    OK(dfd);
    int fd = openat(dfd, "at", O_WRONLY | O_CREAT | O_EXCL, 0640);
    OK(fd);
    OK(write(fd, "at\n", 3));
    OK(close(fd));
    OK(mkdirat(dfd, "sub", 0755));
    OK(renameat(dfd, "at", dfd, "sub/at"));
    SAME("d/sub/at");

    /* /proc/self/fd/N/... */
    char via[128];
    snprintf(via, sizeof via, "/proc/self/fd/%d/proc-fd", dfd);
    put(via, "through /proc/self/fd\n");
    SAME("d/proc-fd");
    snprintf(via, sizeof via, "/proc/self/fd/%d/proc-dir", dfd);
    OK(mkdir(via, 0700));
    OK(close(dfd));

    /* /proc/self/cwd/... from inside the primary. */
    OK(chdir("alias/d"));
    put("/proc/self/cwd/cwd-file", "through /proc/self/cwd\n");
    OK(mkdir("/proc/self/cwd/cwd-dir", 0755));
    OK(rename("/proc/self/cwd/cwd-file", "/proc/self/cwd/cwd-dir/moved"));
    OK(chdir(cwd));
    SAME("d/cwd-dir/moved");

    /* `..` after a symlink: deep/.. is the primary, not this directory. */
    snprintf(abs, sizeof abs, "%s/d/sub", mt_primary);
    OK(symlink(abs, "deep"));
    put("deep/../dotdot", "dot dot\n");
    OK(mkdir("deep/../dotdot-dir", 0755));
    SAME("d/dotdot");

    OK(unlink("alias"));
    OK(unlink("deep"));
    return mt_done();
}
