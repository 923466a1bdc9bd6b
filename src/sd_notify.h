/* sd_notify — systemd's readiness protocol, without libsystemd.
 *
 * When NOTIFY_SOCKET names a unix datagram socket (a path, or an abstract
 * name starting with '@'), messages such as "READY=1" are sent to it as
 * datagrams; with WATCHDOG_USEC set (and WATCHDOG_PID unset or ours),
 * "WATCHDOG=1" is sent every half period from a loop timer, so a stuck
 * loop stops feeding the watchdog and systemd restarts the service. With no
 * NOTIFY_SOCKET everything here does nothing. */
#ifndef MOONPOD_SD_NOTIFY_H
#define MOONPOD_SD_NOTIFY_H

/* Reads the environment; starts the watchdog timer when asked for. */
void sd_notify_init(void);

/* Sends one message ("READY=1", "STOPPING=1", "STATUS=..."). Never blocks;
 * a message the socket can't take now is counted and dropped. */
void sd_notify_send(const char *msg);

/* Stops the watchdog and closes the socket. */
void sd_notify_close(void);

#endif
