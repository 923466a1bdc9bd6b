/* timer — time for scripts: moonpod.sleep, moonpod.every, moonpod.now. */
#ifndef MOONPOD_TIMER_H
#define MOONPOD_TIMER_H

#include <lua.h>

/* Creates the timer metatable; adds sleep, every and now to the module
 * table on top. */
void timer_register(lua_State *L);

#endif
