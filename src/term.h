/* term — the terminal on the loop: the REPL's line editor and raw keys.
 *
 * Line editing is libedit's readline-compatible callback interface (BSD
 * licensed; GNU readline would make the binary GPL), fed from a uv_poll on
 * stdin so that timers, events and streams go on while the prompt waits.
 * Output written through term.write while a line is being edited appears
 * above it and the line is redrawn. For full-screen scripts (moonpod top)
 * it also reads raw keys and reports the window size and its changes.
 *
 * Lua sees it as the module "moonpod.term" (internal: used by
 * lua/moonpod/repl.lua and lua/moonpod/top.lua). */
#ifndef MOONPOD_TERM_H
#define MOONPOD_TERM_H

#include <lua.h>

/* The "moonpod.term" module's loader (for package.preload). */
int term_open(lua_State *L);

#endif
