/* model_stats — one resource sample of either engine turned into the API's
 * ContainerStats, with cpu_percent computed one way for both.
 *
 * cpu_percent is container CPU time over elapsed time, × 100: 100 means one
 * full CPU, as `docker stats` and `podman stats` show it. Docker sends raw
 * counters (cpu_usage.total_usage and, from the second sample of a stream
 * on, the previous ones in precpu_stats; Docker's formula Δcpu / Δsystem ×
 * online_cpus is the same quantity, since system time advances online_cpus
 * times faster than the wall clock). Podman's libpod endpoint sends the
 * percentage already computed that way. Memory is usage without the
 * inactive page cache, as both CLIs report it. */
#include <lauxlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "models.h"

static const cJSON *ms_get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double ms_num(const cJSON *o, const char *k)
{
    const cJSON *v = ms_get(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void ms_set(lua_State *L, const char *field, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
    lua_setfield(L, -2, field);
}

/* ---- Docker ---- */

static double ms_docker_time(const cJSON *s, const char *key)
{
    const cJSON *t = ms_get(s, key);
    double v;
    return cJSON_IsString(t) && model_parse_time(t->valuestring, &v) == 0 ? v : 0;
}

/* A sample in libpod's shape whatever the engine: what moonpod makes of
 * the docker CLI's stats when no API answers (cli_backend.h). */
static int ms_libpod_shape(const cJSON *s)
{
    return ms_get(s, "ContainerID") && ms_get(s, "CPU") && !ms_get(s, "cpu_stats");
}

int model_stats_docker_cpu(const cJSON *s, model_cpu_sample *now)
{
    if (ms_libpod_shape(s)) {
        now->total_ns = ms_num(s, "CPUNano");
        now->at = ms_num(s, "SystemNano") / 1e9;
        return now->at > 0;
    }
    const cJSON *cpu = ms_get(s, "cpu_stats");
    now->total_ns = ms_num(ms_get(cpu, "cpu_usage"), "total_usage");
    now->at = ms_docker_time(s, "read");
    return now->at > 0;
}

/* Δcpu / Δsystem × online_cpus × 100 from the sample's own precpu_stats;
 * -1 when they are empty (one-shot, or the first sample of a stream). */
static double ms_docker_cpu_from_precpu(const cJSON *s)
{
    const cJSON *cpu = ms_get(s, "cpu_stats"), *pre = ms_get(s, "precpu_stats");
    double d_cpu = ms_num(ms_get(cpu, "cpu_usage"), "total_usage") - ms_num(ms_get(pre, "cpu_usage"), "total_usage");
    double d_sys = ms_num(cpu, "system_cpu_usage") - ms_num(pre, "system_cpu_usage");
    double ncpu = ms_num(cpu, "online_cpus");
    if (ms_num(pre, "system_cpu_usage") <= 0 || d_sys <= 0 || d_cpu < 0)
        return -1;
    if (ncpu <= 0)
        ncpu = cJSON_GetArraySize(ms_get(ms_get(cpu, "cpu_usage"), "percpu_usage"));
    return d_cpu / d_sys * (ncpu > 0 ? ncpu : 1) * 100.0;
}

static double ms_cpu_since(const model_cpu_sample *now, const model_cpu_sample *base)
{
    double dt = now->at - base->at;
    double d_cpu = now->total_ns - base->total_ns;
    if (dt <= 0 || d_cpu < 0)
        return -1;
    return d_cpu / (dt * 1e9) * 100.0;
}

static void ms_docker_memory(const cJSON *s, model_stats_values *v)
{
    const cJSON *mem = ms_get(s, "memory_stats"), *st = ms_get(mem, "stats");
    double usage = ms_num(mem, "usage"), limit = ms_num(mem, "limit");
    /* page cache that can be dropped: cgroup v1 and v2 name it differently */
    double cache = ms_get(st, "total_inactive_file") ? ms_num(st, "total_inactive_file") : ms_num(st, "inactive_file");
    v->memory_raw_usage = usage;
    if (cache < usage)
        usage -= cache;
    v->memory_usage = usage;
    v->memory_limit = limit;
    v->memory_percent = limit > 0 ? usage / limit * 100.0 : 0;
}

static void ms_docker_io(const cJSON *s, model_stats_values *v)
{
    const cJSON *n, *b;
    cJSON_ArrayForEach(n, ms_get(s, "networks")) {
        v->network_rx += ms_num(n, "rx_bytes");
        v->network_tx += ms_num(n, "tx_bytes");
    }
    cJSON_ArrayForEach(b, ms_get(ms_get(s, "blkio_stats"), "io_service_bytes_recursive")) {
        const cJSON *op = ms_get(b, "op");
        if (!cJSON_IsString(op))
            continue;
        if (strcasecmp(op->valuestring, "read") == 0)
            v->block_read += ms_num(b, "value");
        else if (strcasecmp(op->valuestring, "write") == 0)
            v->block_write += ms_num(b, "value");
    }
}

static void ms_docker_read(const cJSON *s, const model_cpu_sample *base, model_stats_values *v)
{
    model_cpu_sample now;
    double cpu = ms_docker_cpu_from_precpu(s);
    model_stats_docker_cpu(s, &now);
    if (cpu < 0 && base)
        cpu = ms_cpu_since(&now, base);
    if (now.at <= 0 && ms_get(s, "cpu_stats")) {
        /* a container that is not running: Docker answers with the zero
         * time and no counters; a sample of zeros, as Podman's is */
        now.at = 0;
        cpu = 0;
    }
    v->cpu_percent = cpu;
    v->cpu_total_ns = now.total_ns;
    v->timestamp = now.at;
    const cJSON *id = ms_get(s, "id"), *name = ms_get(s, "name");
    v->id = cJSON_IsString(id) ? id->valuestring : "";
    v->name = cJSON_IsString(name) ? name->valuestring + (name->valuestring[0] == '/') : "";
    ms_docker_memory(s, v);
    ms_docker_io(s, v);
    v->pids = ms_num(ms_get(s, "pids_stats"), "current");
}

/* ---- Podman (an element of libpod's Stats list) ---- */

static void ms_podman_read(const cJSON *s, model_stats_values *v)
{
    double at = ms_num(s, "SystemNano") / 1e9;
    const cJSON *id = ms_get(s, "ContainerID"), *name = ms_get(s, "Name");
    v->timestamp = at > 0 ? at : 0;
    v->id = cJSON_IsString(id) ? id->valuestring : "";
    v->name = cJSON_IsString(name) ? name->valuestring : "";
    v->memory_usage = v->memory_raw_usage = ms_num(s, "MemUsage");
    v->memory_limit = ms_num(s, "MemLimit");
    v->memory_percent = ms_num(s, "MemPerc");
    v->network_rx = ms_num(s, "NetInput");
    v->network_tx = ms_num(s, "NetOutput");
    v->block_read = ms_num(s, "BlockInput");
    v->block_write = ms_num(s, "BlockOutput");
    v->pids = ms_num(s, "PIDs");
    v->cpu_total_ns = ms_num(s, "CPUNano");
    v->cpu_percent = ms_num(s, "CPU");
}

void model_stats_read(const cJSON *s, engine_runtime rt, const model_cpu_sample *base, model_stats_values *v)
{
    memset(v, 0, sizeof *v);
    if (rt == RUNTIME_DOCKER && !ms_libpod_shape(s))
        ms_docker_read(s, base, v);
    else
        ms_podman_read(s, v);
}

void model_push_stats_values(lua_State *L, const model_stats_values *v)
{
    lua_pushnumber(L, v->timestamp);
    lua_setfield(L, -2, "timestamp");
    lua_pushstring(L, v->id ? v->id : "");
    lua_setfield(L, -2, "container_id");
    ms_set(L, "memory_usage_bytes", v->memory_usage);
    ms_set(L, "memory_limit_bytes", v->memory_limit);
    lua_pushnumber(L, v->memory_percent);
    lua_setfield(L, -2, "memory_percent");
    ms_set(L, "network_rx_bytes", v->network_rx);
    ms_set(L, "network_tx_bytes", v->network_tx);
    ms_set(L, "block_read_bytes", v->block_read);
    ms_set(L, "block_write_bytes", v->block_write);
    ms_set(L, "pids", v->pids);
    lua_pushnumber(L, v->cpu_percent < 0 ? 0 : v->cpu_percent);
    lua_setfield(L, -2, "cpu_percent");
}

int model_push_stats(lua_State *L, cJSON *s, engine_runtime rt, const model_cpu_sample *base, int skip_without_cpu)
{
    model_stats_values v;
    model_stats_read(s, rt, base, &v);
    if (v.cpu_percent < 0 && skip_without_cpu) {
        cJSON_Delete(s);
        return 0;
    }
    luaL_checkstack(L, 6, "stats model");
    lua_createtable(L, 0, 13);
    model_attach_raw(L, s); /* owned (and kept alive for v's strings) by the model from here, even on an error */
    model_push_stats_values(L, &v);
    return 1;
}
