/* serve — the `moonpod serve POLICY.lua… | DIR` front end.
 *
 * Runs each policy in a state of its own (policy.h) on the one loop, with
 * one event stream per engine shared by all of them (event_source's
 * share()); SIGTERM/SIGINT drain the running handlers, within a bound, and
 * exit 0; SIGHUP reloads changed policy files (and a directory's new and
 * removed ones) without touching the event stream; systemd readiness and
 * watchdog through sd_notify.h.
 *
 * /metrics and /healthz are served from the host state (lua/moonpod/serve.lua)
 * on --listen, reading the policies and serve_healthy through serve_lua.h. */
#ifndef MOONPOD_SERVE_H
#define MOONPOD_SERVE_H

/* argv[0] is "serve". Returns the process's exit status. */
int serve_main(int argc, char **argv);

/* 1 once every policy has set itself up and until the service stops. */
int serve_healthy(void);
/* Why serve_healthy is what it is: "ok", "starting", "reloading" or "draining". */
const char *serve_health_reason(void);

#endif
