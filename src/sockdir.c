/* sockdir — see sockdir.h. */
#include "sockdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sockdir_make(sockdir *d, const char *tag, const char *name, const char *what, char *err, size_t errlen)
{
    const char *bases[] = {getenv("TMPDIR"), "/tmp"};
    size_t room = sizeof(((struct sockaddr_un *)0)->sun_path);
    err[0] = '\0';
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        const char *base = bases[i];
        /* the socket's path must fit a sockaddr_un, and the directory d->dir */
        size_t dir_len = base ? strlen(base) + strlen("/moonpod--XXXXXX") + strlen(tag) : 0;
        if (!base || base[0] != '/' || dir_len >= sizeof d->dir || dir_len + 1 + strlen(name) >= room)
            continue;
        snprintf(d->dir, sizeof d->dir, "%s/moonpod-%s-XXXXXX", base, tag);
        if (mkdtemp(d->dir)) {
            snprintf(d->sock, sizeof d->sock, "%s/%s", d->dir, name);
            return 0;
        }
        snprintf(err, errlen, "cannot create a private directory for %s in %s: %s", what, base, strerror(errno));
    }
    d->dir[0] = '\0';
    if (!err[0])
        snprintf(err, errlen, "no usable temporary directory for %s's socket", what);
    return -1;
}

void sockdir_remove(sockdir *d)
{
    if (!d->dir[0])
        return;
    unlink(d->sock);
    rmdir(d->dir);
    d->dir[0] = '\0';
}

int sockdir_accepts(const char *path)
{
    struct sockaddr_un sa;
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 0;
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN || errno == EINPROGRESS;
    close(fd);
    return ok;
}
