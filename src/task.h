/* task — the coroutine scheduler.
 *
 * Every piece of Lua moonpod runs is a task: a Lua thread resumed from loop
 * callbacks. A C function that has to wait (an HTTP request, a timer, another
 * task) starts its operation, then yields the task with a continuation and a
 * `task_wait` describing how to abandon the operation. A loop callback calls
 * task_wake() when the result is there; the scheduler resumes the task on
 * the next turn of the loop, never from inside the callback, and the
 * continuation pushes the results.
 *
 * Yields made this way carry a sentinel so that they cross user coroutines:
 * coroutine.resume/wrap pass them up to the task (lua/moonpod/coroutine.lua).
 */
#ifndef MOONPOD_TASK_H
#define MOONPOD_TASK_H

#include <lua.h>

typedef struct task task;
typedef struct task_wait task_wait;

/* What a task waits on. Embedded in the operation's own struct. The
 * operation is released exactly once: by the continuation after a normal
 * resume, or by `cancel` when the task is cancelled first (in which case the
 * continuation never runs). `cancel` may be called after task_wake. */
struct task_wait {
    task *owner;
    void (*cancel)(task_wait *w);
};

typedef enum {
    TASK_READY,      /* queued to run */
    TASK_RUNNING,
    TASK_WAITING,    /* yielded on a task_wait */
    TASK_DONE,
    TASK_FAILED,
    TASK_CANCELLED,
} task_status;

/* Per-state setup: the task metatable and the coroutine wrappers. */
void task_open(lua_State *L);

/* Creates a task running the function below `nargs` arguments on top of L's
 * stack (both popped) and queues it. `name` may be NULL. The task is kept
 * alive until it ends. Pushes nothing when `push_handle` is 0, else pushes
 * the task's Lua handle. */
task *task_spawn(lua_State *L, int nargs, const char *name, int push_handle);

/* Raises a Lua error unless L can wait: inside a task and yieldable (not in
 * a metamethod called from C, a finalizer, `require`'s loader ...). Call it
 * before starting the operation. */
void task_check_wait(lua_State *L, const char *what);

/* Yields the current task until task_wake(w). Use as `return task_yield(...)`
 * from a lua_CFunction; `k` runs on resume with `ctx`. */
int task_yield(lua_State *L, task_wait *w, lua_KFunction k, lua_KContext ctx);

/* Called from loop callbacks (never from Lua): the waiting task becomes
 * ready. Safe to call more than once. */
void task_wake(task_wait *w);

/* Parks the calling task for good (used by moonpod.exit, which stops the loop). */
int task_park(lua_State *L);

/* The main thread of L's state: the only lua_State a C structure that
 * outlives a call may keep (any other thread may be collected). */
lua_State *task_main_thread(lua_State *L);

/* The task whose Lua is running now, or NULL outside any task. */
task *task_current(void);

task_status task_get_status(const task *t);
/* The task whose handle is at idx, or NULL when it is something else. */
task *task_test_handle(lua_State *L, int idx);
const char *task_get_name(const task *t);

/* Called once when the task ends (done, failed or cancelled), before its
 * error, if any, is reported. Return non-zero to say the error was handled
 * and must not be reported on stderr. */
typedef int (*task_exit_fn)(task *t, task_status st, void *ud);
void task_on_exit(task *t, task_exit_fn fn, void *ud);

/* Replaces the report of a failed task: fn(L, name, "message\ntraceback")
 * returns non-zero when it reported it (moonpod serve names the policy
 * and counts the fault); 0 leaves it to the default report. */
typedef int (*task_report_fn)(lua_State *L, const char *name, const char *text);
void task_set_reporter(task_report_fn fn);

/* Number of tasks that have not ended: in all, and those of the state L. */
int task_alive_count(void);
int task_alive_count_of(lua_State *L);

/* Changes at every resume of any task: tells a run slice from the next
 * (moonpod serve times each slice of a policy's handlers). */
unsigned long task_resume_serial(void);

/* What a task opened (streams) and is closed with it. Off by default: a
 * task that opens a stream may hand it to another. task_track_opened turns
 * it on for t (the REPL, for each chunk): from then on task_opened (called
 * by whatever opens such a value, the value at idx; a no-op for tasks that
 * don't track) remembers it, without keeping it alive, and when t is
 * cancelled each one still there is closed (its __close). The REPL also
 * calls task_close_opened itself for a chunk stopped inside Lua. */
void task_track_opened(task *t);
void task_opened(lua_State *L, int idx);
void task_close_opened(lua_State *L, task *t);

/* Cancels every task of the state L (shutdown). */
void task_cancel_all(lua_State *L);

/* Adds spawn, yield and current_task to the module table on top of L. */
void task_register(lua_State *L);

/* Drops the ready queue's loop handle (shutdown). */
void task_shutdown(void);

#endif
