/* moonpod — the runtime a front end drives (see moonpod.h). */
#include "moonpod.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "embed.h"
#include "error.h"
#include "event_source.h"
#include "http.h"
#include "history_store.h"
#include "http_request.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "models.h"
#include "process.h"
#include "stats_monitor.h"
#include "stream.h"
#include "loop.h"
#include "lua_alloc.h"
#include "task.h"
#include "term.h"
#include "timer.h"
#include "version.h"

/* moonpod.exit(code?) — ends the process at the end of this turn of the
 * loop: `true`/nil is 0, `false` is 1, a number is itself. Also installed
 * as os.exit, so that libraries that call it (busted does) shut down
 * cleanly instead of leaving the loop half-way. */
static int moonpod_l_exit(lua_State *L)
{
    int code;
    if (lua_isnoneornil(L, 1))
        code = 0;
    else if (lua_isboolean(L, 1))
        code = lua_toboolean(L, 1) ? 0 : 1;
    else
        code = (int)luaL_checkinteger(L, 1);
    loop_request_exit(code);
    if (task_park(L))
        return lua_yield(L, 0); /* not reached: task_park yields */
    /* Not inside a task, or not yieldable (a finalizer, require):
     * leave the hard way, as os.exit does. */
    fflush(NULL);
    exit(code);
}

int moonpod_open_core(lua_State *L)
{
    lua_newtable(L);
    lua_pushliteral(L, MOONPOD_VERSION);
    lua_setfield(L, -2, "version");
    model_register(L);
    stream_register(L);
    task_register(L);
    timer_register(L);
    client_register(L);
    error_register(L);
    process_register(L);
    event_source_register(L);
    stats_monitor_register(L);
    metrics_register(L);
    http_server_register(L);
    http_request_register(L);
    history_store_register(L);
    lua_pushcfunction(L, moonpod_l_exit);
    lua_setfield(L, -2, "exit");
    json_open(L);
    lua_setfield(L, -2, "json");
    log_open(L);
    lua_setfield(L, -2, "log");
    return 1;
}

static int moonpod_init_state(lua_State *L)
{
    luaL_openlibs(L);
    embed_install_searcher(L);
    task_open(L);
    luaL_requiref(L, "moonpod.core", moonpod_open_core, 0);
    /* the REPL's terminal: loaded only by the front ends that use it */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, term_open);
    lua_setfield(L, -2, "moonpod.term");
    lua_pop(L, 1);
    lua_getglobal(L, "os");
    lua_getfield(L, -2, "exit");
    lua_setfield(L, -2, "exit");
    lua_pop(L, 2);
    return 0;
}

lua_State *moonpod_new_state(void)
{
    return moonpod_new_state_with(NULL, NULL);
}

/* An error outside any protected call: say what it was before Lua aborts. */
static int moonpod_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    log_msg(LOG_ERROR, "moonpod: unprotected error in a Lua state: %s", msg ? msg : "(not a string)");
    return 0;
}

/* warn(): off until a script says "@on", as in the lua interpreter. */
static void moonpod_warn(void *ud, const char *msg, int tocont)
{
    static int on, continued;
    (void)ud;
    if (!continued && *msg == '@') {
        if (strcmp(msg, "@on") == 0)
            on = 1;
        else if (strcmp(msg, "@off") == 0)
            on = 0;
        return;
    }
    if (on)
        fprintf(stderr, "%s%s%s", continued ? "" : "Lua warning: ", msg, tocont ? "" : "\n");
    continued = tocont;
}

lua_State *moonpod_new_state_with(lua_Alloc alloc, void *ud)
{
    lua_State *L = lua_newstate(alloc ? alloc : lalloc_fn, ud);
    if (!L)
        return NULL;
    lua_atpanic(L, moonpod_panic);
    lua_setwarnf(L, moonpod_warn, NULL);
    log_configure();
    lua_pushcfunction(L, moonpod_init_state);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        log_msg(LOG_ERROR, "moonpod: cannot initialise a Lua state: %s", msg ? msg : "out of memory");
        lua_close(L);
        return NULL;
    }
    return L;
}

int moonpod_run(void)
{
    int code;
    loop_run();
    return loop_exit_requested(&code) ? code : -1;
}

void moonpod_close_state(lua_State *L)
{
    task_cancel_all(L);
    lua_close(L);
    task_shutdown();
    http_shutdown();
    loop_close();
    lalloc_trim();
}
