/* policy — one policy of `moonpod serve`, isolated in a Lua state of its own.
 *
 * Each state has an allocator that refuses to grow past the policy's
 * memory cap and an instruction-count hook that stops a handler which runs
 * longer than its time budget without waiting. Either fault stops that
 * policy only: its tasks are cancelled and its state closed, the fault is
 * logged and counted, and every other policy goes on. A policy that fails
 * stays stopped until its file changes and the service is told to reload.
 *
 * The file itself is run by lua/moonpod/policy.lua inside the state. */
#ifndef MOONPOD_POLICY_H
#define MOONPOD_POLICY_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

typedef struct policy policy;

typedef struct policy_limits {
    size_t memory_bytes;  /* cap of the state's allocations */
    double slice_seconds; /* longest run of a handler between two waits */
} policy_limits;

/* What a later /metrics reads (see policy_foreach). */
typedef struct policy_counters {
    uint64_t starts;          /* the file was started (first start and reloads) */
    uint64_t errors;          /* errors raised by handlers and tasks, reported */
    uint64_t timeouts;        /* stopped: a handler ran past the time budget */
    uint64_t memory_faults;   /* stopped: the memory cap was reached */
    uint64_t reloads;         /* a changed file replaced the running version */
    uint64_t reload_failures; /* a changed file did not load: the old one runs on */
    uint64_t events_dropped;  /* its listeners' queues were full: the oldest went */
} policy_counters;

typedef enum { POLICY_IDLE, POLICY_RUNNING, POLICY_STOPPED, POLICY_FAILED } policy_status;

/* Told once per start when the policy has set itself up (its file has
 * returned) or failed doing so. */
typedef void (*policy_ready_fn)(policy *p, void *ud);

policy *policy_new(const char *path, const policy_limits *lim, policy_ready_fn on_ready, void *ud);

/* Loads the file into a fresh state and starts it, replacing the running
 * version when there is one. When the file can't be loaded (missing, a
 * syntax error) the running version, if any, is kept and -1 returned with
 * the reason in err. */
int policy_start(policy *p, char *err, size_t errlen);

/* Has the file changed (or gone) since the running version was loaded? */
int policy_file_changed(const policy *p);

/* Asks the policy to take no new work (events, timers); what runs goes on. */
void policy_drain(policy *p);
/* Tasks of the policy that have not ended. */
int policy_busy(const policy *p);

/* Cancels the policy's tasks and closes its state now. */
void policy_stop(policy *p);
void policy_free(policy *p);

const char *policy_name(const policy *p);
const char *policy_path(const policy *p);
policy_status policy_get_status(const policy *p);
const char *policy_status_name(policy_status st);
const policy_counters *policy_get_counters(const policy *p);
/* Bytes the policy's state holds now. */
size_t policy_memory(const policy *p);

/* Every policy of the process, in no particular order. */
void policy_foreach(void (*fn)(policy *p, void *ud), void *ud);

#endif
