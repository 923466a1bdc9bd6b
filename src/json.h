/* json — conversion between cJSON trees and Lua values, and the moonpod.json module.
 *
 * Engines speak JSON; scripts see Lua tables. Everything that crosses goes
 * through here so that null, arrays and numbers are treated one way. */
#ifndef MOONPOD_JSON_H
#define MOONPOD_JSON_H

#include <stddef.h>
#include <cJSON.h>
#include <lua.h>

/* Pushes `item` as a Lua value (always exactly one value).
 * - objects become tables with string keys; members whose value is null are
 *   omitted (so `t.Labels == nil` for `"Labels": null`);
 * - arrays become sequences 1..n; a null element becomes json.null so that
 *   positions are kept;
 * - numbers that are integral and fit in a lua_Integer become integers,
 *   others floats (cJSON parses to double: integers beyond 2^53, such as
 *   Docker's timeNano, arrive rounded); true/false become booleans;
 * - a top-level null becomes json.null, a NULL item pushes nil.
 * Raises a Lua error only on memory exhaustion or C stack exhaustion. */
void json_push(lua_State *L, const cJSON *item);

/* Builds a cJSON tree from the Lua value at `idx`. Tables whose keys are
 * exactly 1..n (n >= 1) become arrays, other tables objects (integer keys are
 * written as strings), an empty table is an object unless it carries the
 * json.array metatable. json.null becomes null. Numbers that cJSON would
 * print inexactly (16+ significant digits, integers past 2^53) are written
 * as cJSON_Raw items holding their exact text. Returns NULL and writes a
 * message to err on an unencodable value (function, cycle, NaN/inf,
 * non-string/number key, nesting deeper than JSON_MAX_DEPTH). Never raises. */
cJSON *json_from_lua(lua_State *L, int idx, char *err, size_t errlen);

/* The same bound cJSON puts on what it parses, so whatever was decoded
 * can be encoded again. */
#define JSON_MAX_DEPTH 1000

/* Pushes the json.null sentinel (a light userdata unique to the process). */
void json_push_null(lua_State *L);
int json_is_null(lua_State *L, int idx);

/* Pushes the table served as moonpod.json:
 *   encode(value) -> string            raises "json.encode: <why>" on bad input
 *   decode(text)  -> value             returns nil, "json.decode: <why> at byte N" on bad text
 *   null                               the sentinel
 *   array(t?) -> t                     marks t (or a new table) as an array for encode */
int json_open(lua_State *L);

#endif
