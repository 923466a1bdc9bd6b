/* timer — time for scripts: moonpod.sleep, every, now, monotonic. */
#ifndef MOONPOD_TIMER_H
#define MOONPOD_TIMER_H

#include <lua.h>

/* Creates the timer metatable; adds sleep, every, now and monotonic to the module
 * table on top. */
void timer_register(lua_State *L);

#endif
