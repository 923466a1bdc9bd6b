/* sd_notify — systemd's readiness protocol, without libsystemd (see sd_notify.h). */
#include "sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "loop.h"

static struct {
    int fd;
    struct sockaddr_un addr;
    socklen_t addr_len;
    uv_timer_t *watchdog;
    unsigned long dropped;
} sd_notify_st = {.fd = -1};

static int sd_notify_address(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof sd_notify_st.addr.sun_path || (name[0] != '/' && name[0] != '@'))
        return -1;
    memset(&sd_notify_st.addr, 0, sizeof sd_notify_st.addr);
    sd_notify_st.addr.sun_family = AF_UNIX;
    memcpy(sd_notify_st.addr.sun_path, name, n);
    if (name[0] == '@')
        sd_notify_st.addr.sun_path[0] = '\0'; /* abstract namespace */
    sd_notify_st.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
    return 0;
}

static void sd_notify_on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify_send("WATCHDOG=1");
}

static void sd_notify_start_watchdog(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (!usec || !*usec)
        return;
    if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
        return; /* meant for another process */
    char *end;
    unsigned long long us = strtoull(usec, &end, 10);
    if (*end || us == 0) {
        log_msg(LOG_WARN, "WATCHDOG_USEC=%s is not a number of microseconds: no watchdog", usec);
        return;
    }
    uint64_t every_ms = us / 2000 ? us / 2000 : 1;
    sd_notify_st.watchdog = malloc(sizeof *sd_notify_st.watchdog);
    if (!sd_notify_st.watchdog)
        return;
    uv_timer_init(loop_get(), sd_notify_st.watchdog);
    uv_unref((uv_handle_t *)sd_notify_st.watchdog);
    uv_timer_start(sd_notify_st.watchdog, sd_notify_on_watchdog, every_ms, every_ms);
}

void sd_notify_init(void)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !*name || sd_notify_st.fd >= 0)
        return;
    if (sd_notify_address(name) != 0) {
        log_msg(LOG_WARN, "NOTIFY_SOCKET=%s is not a socket path or abstract name: not notifying", name);
        return;
    }
    sd_notify_st.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sd_notify_st.fd < 0) {
        log_msg(LOG_WARN, "cannot notify systemd: %s", strerror(errno));
        return;
    }
    sd_notify_start_watchdog();
}

void sd_notify_send(const char *msg)
{
    if (sd_notify_st.fd < 0)
        return;
    ssize_t n = sendto(sd_notify_st.fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sd_notify_st.addr,
                       sd_notify_st.addr_len);
    if (n < 0) {
        sd_notify_st.dropped++;
        log_debug("cannot notify systemd (%s): %s", msg, strerror(errno));
    }
}

void sd_notify_close(void)
{
    if (sd_notify_st.watchdog) {
        loop_close_free((uv_handle_t *)sd_notify_st.watchdog);
        sd_notify_st.watchdog = NULL;
    }
    if (sd_notify_st.fd >= 0) {
        close(sd_notify_st.fd);
        sd_notify_st.fd = -1;
    }
}
