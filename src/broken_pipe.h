/* broken_pipe — SIGPIPE ends the process only when its own output is gone. */
#ifndef MOONPOD_BROKEN_PIPE_H
#define MOONPOD_BROKEN_PIPE_H

/* Installs the SIGPIPE handler; 0, or -1 with errno set. */
int broken_pipe_install(void);

#endif
