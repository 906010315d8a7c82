/*
 * Names the shim must carry as opaque bytes: bytes 0x80-0xff (not UTF-8), newlines, tabs,
 * control characters, leading and trailing spaces, leading dashes, glob and shell
 * characters, ":" and "," and "\" (special in MFS_MIRROR, ordinary in a name), dot names,
 * and a name of NAME_MAX bytes; files, directories, symlinks (non-UTF-8 targets too),
 * renames and removals. NAME_MAX + 1 bytes fails with ENAMETOOLONG.
 */
#include "ns_util.h"

static const char *names[] = {
    "caf\xe9",          "\x80\x81\xfe\xff",    "\xc3\x28invalid",   "new\nline",
    "\n",               " leading space",      "trailing space ",   " ",
    "-dash",            "--",                  "-rf",               "a\tb",
    "\x01\x02\x1f\x7f", "*?[glob]{x}",         "back\\slash",       "quote'\"`$(x)",
    "colon:comma,",     "...",                 ".hidden",           "..hidden",
    "\xef\xbb\xbf" "bom", "emoji \xf0\x9f\x98\x80", "\xed\xa0\x80surrogate", "%s%n%x",
};
#define N (sizeof names / sizeof *names)

int main(int argc, char **argv)
{
    mt_init(argc, argv);
    umask(022);
    char rel[NAME_MAX * 2 + 64], rel2[NAME_MAX * 2 + 64];

    OK(mkdir(P("files"), 0755));
    OK(mkdir(P("dirs"), 0755));
    OK(mkdir(P("links"), 0755));
    OK(mkdir(P("moved"), 0755));
    for (size_t i = 0; i < N; i++) {
        snprintf(rel, sizeof rel, "files/%s", names[i]);
        OK(put(P(rel), names[i]));
        MSAME(rel);
        snprintf(rel, sizeof rel, "dirs/%s", names[i]);
        KEEP(mkdir(P(rel), 0750));
        snprintf(rel, sizeof rel, "dirs/%s/%s", names[i], names[i]);
        OK(put(P(rel), "nested"));
        MSAME(rel);
        snprintf(rel, sizeof rel, "links/%s", names[i]);
        KEEP(symlink(names[i], P(rel)));
        MSAME(rel);
    }

    /* renames and removals by the same names */
    for (size_t i = 0; i < N; i += 2) {
        snprintf(rel, sizeof rel, "files/%s", names[i]);
        snprintf(rel2, sizeof rel2, "moved/%s", names[i]);
        KEEP(rename(P(rel), P(rel2)));
        MABSENT(rel);
        MSAME(rel2);
    }
    for (size_t i = 1; i < N; i += 4) {
        snprintf(rel, sizeof rel, "links/%s", names[i]);
        KEEP(unlink(P(rel)));
        MABSENT(rel);
        snprintf(rel, sizeof rel, "dirs/%s/%s", names[i], names[i]);
        KEEP(unlink(P(rel)));
        snprintf(rel, sizeof rel, "dirs/%s", names[i]);
        KEEP(rmdir(P(rel)));
        MABSENT(rel);
    }

    /* relative to a dirfd and a working directory with odd names */
    snprintf(rel, sizeof rel, "dirs/%s", names[0]);
    int d = open(P(rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    KEEP(mkdirat(d, names[3], 0755));
    KEEP(renameat(d, names[0], d, names[2]));
    snprintf(rel, sizeof rel, "dirs/%s/%s", names[0], names[2]);
    MSAME(rel);
    close(d);
    char cwd0[PATH_MAX];
    CHECK(getcwd(cwd0, sizeof cwd0) != NULL);
    snprintf(rel, sizeof rel, "dirs/%s", names[7]);
    KEEP(chdir(P(rel)));
    OK(put(names[8], "dash in cwd"));
    KEEP(chdir(cwd0));
    snprintf(rel, sizeof rel, "dirs/%s/%s", names[7], names[8]);
    MSAME(rel);

    /* a name of exactly NAME_MAX bytes (high bytes), and one byte more */
    char longname[NAME_MAX + 2];
    memset(longname, '\xe9', NAME_MAX);
    longname[NAME_MAX] = 0;
    snprintf(rel, sizeof rel, "files/%s", longname);
    OK(put(P(rel), "long name"));
    MSAME(rel);
    snprintf(rel2, sizeof rel2, "links/%s", longname);
    KEEP(symlink(longname, P(rel2)));
    MSAME(rel2);
    longname[NAME_MAX] = 'x';
    longname[NAME_MAX + 1] = 0;
    snprintf(rel, sizeof rel, "files/%s", longname);
    FAILS(open(P(rel), O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
    FAILS(mkdir(P(rel), 0755), ENAMETOOLONG);
    FAILS(rename(P("files/--"), P(rel)), ENAMETOOLONG);
    MSAME("files/--");

    return mt_done();
}
