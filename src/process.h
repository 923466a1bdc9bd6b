/* process — child processes on the loop: moonpod.run(argv, opts). */
#ifndef MOONPOD_PROCESS_H
#define MOONPOD_PROCESS_H

#include <lua.h>

/* Adds run to the module table on top of L. */
void process_register(lua_State *L);

#endif
