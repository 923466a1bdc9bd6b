/* cli_backend — the engine's API requests carried out by the podman or
 * docker CLI, when no API socket answers (config use_cli_fallback).
 *
 * engine_call() hands a request here when the endpoint's transport is
 * TRANSPORT_CLI. The request — method, path, query and body, exactly as the
 * client methods build them for the API — is mapped to one CLI invocation
 * (two for a Docker container list), run through child.h (argv only, JSON
 * output), and the reply is given the shape the API would have answered
 * with, so that the client and the models need not know: a list, an
 * inspect, {"StatusCode": n} for a wait, {"Id": ...} for a create,
 * {"Stats": [...]} for libpod stats, Docker's or libpod's event objects,
 * and multiplexed log frames synthesised from the CLI's stdout and stderr.
 * Docker's raw stats counters are not available from the CLI: its samples
 * come in libpod's shape (models.h reads both).
 *
 * How the CLI is run: podman with the global flags in $MOONPOD_PODMAN_ARGS
 * (word-split, e.g. "--root X --runroot Y") and without CONTAINER_HOST
 * (the API already tried it); docker with `--host $MOONPOD_DOCKER_HOST`
 * when that is set (a daemon for the CLI only), else as docker itself
 * would choose (DOCKER_HOST, its current context). Every child is killed
 * when moonpod exits; a stream's child when the stream is closed. */
#ifndef MOONPOD_CLI_BACKEND_H
#define MOONPOD_CLI_BACKEND_H

#include "engine.h"

typedef struct cli_backend cli_backend;
typedef struct cli_op cli_op;

/* The CLI of `rt` at `program` (a full path). NULL when out of memory. */
cli_backend *cli_backend_new(engine_runtime rt, const char *program);
void cli_backend_free(cli_backend *b);

/* "cli:podman" or "cli:docker" */
const char *cli_backend_display(const cli_backend *b);

/* Starts the CLI invocation for `rq`; on completion fills *reply and calls
 * done(ud) from a loop callback (streams: rq->on_data gets the body as it
 * comes, as from an HTTP response). `timeout_ms` bounds a non-streaming
 * request whose own timeout_ms is 0. Returns NULL (reply filled) when it
 * can't start: "unsupported" for a request the CLI has no equivalent for,
 * "connection" when the CLI can't be run. */
cli_op *cli_call(cli_backend *b, const engine_request *rq, long timeout_ms, engine_reply *reply,
                 void (*done)(void *ud), void *ud);

/* Abandons an operation: its child is killed and reaped; done is not
 * called. NULL is a no-op. */
void cli_cancel(cli_op *op);

/* Lets a stream whose on_data returned HTTP_DATA_PAUSE go on. */
void cli_resume(cli_op *op);

#endif
