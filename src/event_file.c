/* event_file — follows Podman's events log file (see .h). */
#include "event_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "loop.h"

#define EVFILE_CHUNK 65536

struct evfile {
    char *path;
    const char *name;       /* the file's name in its directory */
    evfile_line_fn fn;
    void *ud;
    uv_fs_event_t *watch;   /* on the directory: the file is replaced when rotated */
    uv_fs_t req;
    int fd;                 /* -1 until the file exists */
    dev_t dev;
    ino_t ino;
    int64_t off;            /* where the next read starts */
    int reading;            /* a read is in the thread pool */
    int again;              /* something changed while it was */
    int stopped, failed;
    int skipping;           /* in the rest of an overlong line */
    buf line;               /* a line not yet ended by its newline */
    evfile_counts counts;
    char chunk[EVFILE_CHUNK];
};

static void evfile_read(evfile *f);

static void evfile_free(evfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    buf_free(&f->line);
    free(f->path);
    free(f);
}

/* Opens the file, at its end or its start; 0, or -1 when it isn't there. */
static int evfile_open(evfile *f, int at_end)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->off = at_end ? (int64_t)st.st_size : 0;
    buf_clear(&f->line);
    f->skipping = 0;
    return 0;
}

/* At the end of what we have open: was the file replaced or cut since?
 * Then the next read is from the start of what is there now. */
static int evfile_reopened(evfile *f)
{
    struct stat st;
    if (stat(f->path, &st) != 0)
        return 0; /* gone for now: its directory's watch says when it's back */
    if (st.st_dev == f->dev && st.st_ino == f->ino && (int64_t)st.st_size >= f->off)
        return 0;
    if (evfile_open(f, 0) != 0)
        return 0;
    f->counts.rotations++;
    return 1;
}

static void evfile_line(evfile *f, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n == 0)
        return;
    f->counts.lines++;
    f->fn(f->ud, p, n);
}

/* Splits what was read into lines; a line's start read earlier waits in f->line. */
static void evfile_take(evfile *f, const char *p, size_t n)
{
    while (n > 0 && !f->stopped) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        if (!f->skipping && f->line.len + len > EVFILE_MAX_LINE) {
            f->counts.overlong++;
            f->skipping = 1;
            buf_clear(&f->line);
        }
        if (!f->skipping && !nl) {
            buf_add(&f->line, p, len);
        } else if (!f->skipping && f->line.len == 0) {
            evfile_line(f, p, len);
        } else if (!f->skipping) {
            buf_add(&f->line, p, len);
            if (!f->line.oom)
                evfile_line(f, f->line.p, f->line.len);
            buf_clear(&f->line);
        }
        if (nl)
            f->skipping = 0;
        size_t used = nl ? len + 1 : len;
        p += used;
        n -= used;
    }
}

static void evfile_on_read(uv_fs_t *req)
{
    evfile *f = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    f->reading = 0;
    if (f->stopped) {
        evfile_free(f);
        return;
    }
    if (n < 0) {
        f->counts.errors++;
        f->failed = 1;
        return;
    }
    if (n > 0) {
        f->off += n;
        evfile_take(f, f->chunk, (size_t)n);
        evfile_read(f);
        return;
    }
    if (evfile_reopened(f) || f->again)
        evfile_read(f);
}

static void evfile_read(evfile *f)
{
    if (f->stopped || f->failed)
        return;
    if (f->reading) {
        f->again = 1;
        return;
    }
    if (f->fd < 0 && evfile_open(f, 0) != 0)
        return; /* not written yet: it will be from its start */
    f->again = 0;
    f->req.data = f;
    uv_buf_t b = uv_buf_init(f->chunk, sizeof f->chunk);
    if (uv_fs_read(loop_get(), &f->req, f->fd, &b, 1, f->off, evfile_on_read) != 0) {
        f->counts.errors++;
        f->failed = 1;
        return;
    }
    f->reading = 1;
}

static void evfile_on_change(uv_fs_event_t *h, const char *name, int events, int status)
{
    evfile *f = h->data;
    (void)events;
    if (status == 0 && (!name || strcmp(name, f->name) == 0))
        evfile_read(f);
}

evfile *evfile_follow(const char *path, evfile_line_fn fn, void *ud, char *err, size_t errlen)
{
    evfile *f = calloc(1, sizeof *f);
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (!f || !dir || !slash || slash == dir || !slash[1]) {
        snprintf(err, errlen, "%s", f && dir ? "not an absolute file path" : "out of memory");
        free(dir);
        free(f);
        return NULL;
    }
    *slash = '\0';
    f->fd = -1;
    f->fn = fn;
    f->ud = ud;
    f->path = strdup(path);
    f->name = f->path ? strrchr(f->path, '/') + 1 : NULL;
    buf_init(&f->line);
    f->watch = malloc(sizeof *f->watch);
    int rc = f->path && f->watch ? uv_fs_event_init(loop_get(), f->watch) : UV_ENOMEM;
    if (rc == 0) {
        f->watch->data = f;
        rc = uv_fs_event_start(f->watch, evfile_on_change, dir, 0);
        if (rc != 0)
            loop_close_free((uv_handle_t *)f->watch);
    } else {
        free(f->watch);
    }
    free(dir);
    if (rc != 0) {
        snprintf(err, errlen, "can't watch the directory of %s: %s", path, uv_strerror(rc));
        f->watch = NULL;
        evfile_free(f);
        return NULL;
    }
    evfile_open(f, 1);
    return f;
}

void evfile_stop(evfile *f)
{
    if (!f || f->stopped)
        return;
    f->stopped = 1;
    loop_close_free((uv_handle_t *)f->watch);
    if (!f->reading)
        evfile_free(f);
}

const char *evfile_path(const evfile *f)
{
    return f->path;
}

evfile_counts evfile_get_counts(const evfile *f)
{
    return f->counts;
}

/* ---- where Podman writes it ---- */

/* What containers.conf says of the events file; later files override. */
typedef struct evfile_conf {
    char path[4096];  /* events_logfile_path */
    char tmp[4096];   /* tmp_dir */
} evfile_conf;

/* The value of `key = "value"` at p, when the line sets that key. */
static int evfile_conf_value(const char *p, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    if (strncmp(p, key, klen) != 0)
        return 0;
    p += klen;
    p += strspn(p, " \t");
    if (*p++ != '=')
        return 0;
    p += strspn(p, " \t");
    char quote = *p;
    const char *end = (quote == '"' || quote == '\'') ? strchr(p + 1, quote) : NULL;
    if (!end || (size_t)(end - p - 1) >= len)
        return 0;
    memcpy(out, p + 1, (size_t)(end - p - 1));
    out[end - p - 1] = '\0';
    return 1;
}

/* Reads the keys of the [engine] table of one containers.conf. */
static void evfile_conf_read(const char *file, evfile_conf *c)
{
    FILE *fp = fopen(file, "r");
    char line[4096];
    int engine = 0;
    if (!fp)
        return;
    while (fgets(line, sizeof line, fp)) {
        char *p = line + strspn(line, " \t");
        if (*p == '[')
            engine = strncmp(p, "[engine]", 8) == 0;
        else if (engine && !evfile_conf_value(p, "events_logfile_path", c->path, sizeof c->path))
            evfile_conf_value(p, "tmp_dir", c->tmp, sizeof c->tmp);
    }
    fclose(fp);
}

/* The containers.conf files Podman reads, in order: later ones win. */
static void evfile_conf_load(evfile_conf *c)
{
    const char *only = getenv("CONTAINERS_CONF");
    if (only && *only) {
        evfile_conf_read(only, c);
        return;
    }
    evfile_conf_read("/usr/share/containers/containers.conf", c);
    evfile_conf_read("/etc/containers/containers.conf", c);
    if (geteuid() == 0)
        return;
    char user[4096];
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(user, sizeof user, "%s/containers/containers.conf", xdg);
    else if (home && *home)
        snprintf(user, sizeof user, "%s/.config/containers/containers.conf", home);
    else
        return;
    evfile_conf_read(user, c);
}

int evfile_podman_path(char *out, size_t len)
{
    evfile_conf c = {"", ""};
    evfile_conf_load(&c);
    if (*c.path)
        return snprintf(out, len, "%s", c.path) < (int)len ? 0 : -1;
    if (!*c.tmp) {
        const char *run = getenv("XDG_RUNTIME_DIR");
        if (geteuid() == 0)
            snprintf(c.tmp, sizeof c.tmp, "/run/libpod");
        else if (run && *run)
            snprintf(c.tmp, sizeof c.tmp, "%s/libpod/tmp", run);
        else
            return -1;
    }
    return snprintf(out, len, "%s/events/events.log", c.tmp) < (int)len ? 0 : -1;
}
