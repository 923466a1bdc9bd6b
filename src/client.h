/* client — the Lua client object: moonpod.connect() and its methods. */
#ifndef MOONPOD_CLIENT_H
#define MOONPOD_CLIENT_H

#include <lua.h>

/* Creates the client metatables; adds connect to the module table on top. */
void client_register(lua_State *L);

#endif
