/* event_source — an engine's event stream, kept open for a listener.
 *
 * Reads the stream in C as fast as it comes (Docker skips a subscriber
 * that lags 100 ms), reads each event with event_scan, normalises it,
 * drops repeated health checks, filters it — all before any Lua table is
 * built — and queues it in a bounded ring that drops the oldest when full,
 * counting what it dropped. When the stream breaks it reconnects with
 * exponential backoff and jitter, asks for what it missed (since the last
 * event's exact timeNano) and skips what it already delivered.
 *
 * Lua (lua/moonpod/events.lua) takes the events with source:take(), a run
 * at a time, or one by one with source:next().
 *
 * source:share() makes a stream the one every later event_source of the
 * same engine subscribes to, in any Lua state of the process (moonpod
 * serve's policies): the stream is read and scanned once, and each
 * subscriber filters it into a bounded queue of its own. */
#ifndef MOONPOD_EVENT_SOURCE_H
#define MOONPOD_EVENT_SOURCE_H

#include <lua.h>

/* Creates the metatable; adds event_source to the module table on top:
 *   event_source(client, {
 *     types = {"container"}, actions = {"start", "die"}, name_prefix = "web-",
 *     labels = { app = "web" | true }, ids = {"3f6e"},
 *     buffer_size = 1000, auto_reconnect = true, reconnect_delay = 5,
 *     max_reconnect_attempts = 10, since = epoch seconds, deliver_all = false,
 *   }) -> source
 * With deliver_all, container events that don't match come too (for a
 * registry), flagged as not matching. */
void event_source_register(lua_State *L);

/* Called with the main thread of a subscriber's state each time that
 * subscriber drops an event because its queue is full (moonpod serve
 * counts and reports it against the policy). */
typedef void (*event_source_drop_fn)(lua_State *L);
void event_source_on_drop(event_source_drop_fn fn);

#endif
