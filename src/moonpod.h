/* moonpod — the runtime a front end drives: one Lua state wired to the loop.
 *
 * Creates a state with the standard libraries, the embedded Lua modules,
 * the task scheduler and the `moonpod` module; runs the loop; tears it all
 * down so that nothing leaks (valgrind and LeakSanitizer stay quiet). */
#ifndef MOONPOD_MOONPOD_H
#define MOONPOD_MOONPOD_H

#include <lua.h>

/* A fresh state, or NULL when out of memory. */
lua_State *moonpod_new_state(void);
/* The same with an allocator of the caller's (moonpod serve caps each
 * policy's memory with one). */
lua_State *moonpod_new_state_with(lua_Alloc alloc, void *ud);

/* The C half of the `moonpod` module ("moonpod.core"). */
int moonpod_open_core(lua_State *L);

/* Runs the loop until nothing is left to do or moonpod.exit was called.
 * Returns the exit code asked for, or -1 when none was. */
int moonpod_run(void);

/* Cancels what is left, closes the state and releases the loop. */
void moonpod_close_state(lua_State *L);

#endif
