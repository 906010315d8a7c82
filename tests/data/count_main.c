/* count_main OUTSIDE_FILE INSIDE_FILE N: opens and closes OUTSIDE_FILE N times (open, then
 * openat), writing one byte to it each time it is opened for writing, then writes INSIDE_FILE
 * once; the process never has a second thread. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    long n = atol(argv[3]);
    for (long i = 0; i < n; i++) {
        int fd = i % 2 ? openat(AT_FDCWD, argv[1], O_WRONLY | O_APPEND) : open(argv[1], O_RDONLY);
        if (fd < 0 || (i % 2 && write(fd, "w", 1) != 1) || close(fd) != 0)
            return 3;
    }
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "stacked\n", 8) != 8 || close(fd) != 0)
        return 4;
    return 0;
}
