/*
 * sitedeploy-sock: the two file operations a preview's containers need, in images that
 * have no shell. Static, like the health check.
 *
 *   sitedeploy-sock serve SOCKET PROGRAM [ARG...]
 *       Remove SOCKET if a server that was killed (not stopped) left it behind, so that
 *       nginx can bind it again after a restart; then become PROGRAM.
 *   sitedeploy-sock point LINK TARGET
 *       Make LINK a symbolic link to TARGET in one step (a new link renamed over the old
 *       one): a process that connects through LINK reaches the old or the new target,
 *       never nothing. The preview's front switches servers this way, without a reload.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void) {
    fputs("usage: sitedeploy-sock serve SOCKET PROGRAM [ARG...]\n"
          "       sitedeploy-sock point LINK TARGET\n", stderr);
    return 2;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "serve") == 0) {
        struct stat found;
        if (lstat(argv[2], &found) == 0 && S_ISSOCK(found.st_mode) && unlink(argv[2]) != 0) {
            perror(argv[2]);
            return 1;
        }
        execv(argv[3], argv + 3);
        perror(argv[3]);
        return 127;
    }
    if (argc == 4 && strcmp(argv[1], "point") == 0) {
        char fresh[4096];
        if (snprintf(fresh, sizeof fresh, "%s.new", argv[2]) >= (int) sizeof fresh) {
            return usage();
        }
        unlink(fresh);
        if (symlink(argv[3], fresh) != 0) {
            perror(fresh);
            return 1;
        }
        if (rename(fresh, argv[2]) != 0) {
            perror(argv[2]);
            return 1;
        }
        return 0;
    }
    return usage();
}
