/* A library whose constructor writes a mirrored file through stdio before libmfs.so's own
 * constructor has run (as libselinux's constructor calls fopen first in cp and tar). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int early_status = -1;

__attribute__((constructor)) static void early(void)
{
    const char *dir = getenv("EARLY_DIR");
    if (!dir)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/from-constructor.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs("written before the shim's constructor\n", f);
    early_status = fclose(f);
    snprintf(path, sizeof path, "%s/open-in-constructor.txt", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd >= 0 && write(fd, "raw\n", 4) == 4 && close(fd) == 0 && early_status == 0)
        early_status = 0;
    else
        early_status = 1;
}
