// harness.h - starts the real stocktwind as a child process on loopback TCP
// ports of its own, with a fresh temporary directory, and stops it again.
// Integration tests talk to it only through libstocktwin, the stocktwin CLI
// or raw nng sockets.
// Ownership: an it_daemon is the caller's; it_daemon_stop() releases what
// it_daemon_start() acquired (process, directory) whatever state it is in.
// Thread: the test's main thread.
#ifndef ST_TESTS_INTEGRATION_HARNESS_H
#define ST_TESTS_INTEGRATION_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "stocktwin.h"

typedef struct it_daemon {
    pid_t pid;
    char dir[128];
    char rpc[192];
    char ingest[192];
    char feed[192];
} it_daemon;

// it_daemon_start starts stocktwind with `workers` workers and waits (at most
// 10 s) until it answers a stats query. Aborts the test on failure.
void it_daemon_start(it_daemon *d, unsigned workers);

// it_daemon_start_data is it_daemon_start with a write-ahead log in
// data_dir (kept across restarts; the caller removes it) and one extra flag
// (NULL: none).
void it_daemon_start_data(it_daemon *d, unsigned workers, const char *data_dir, const char *extra);

// it_daemon_start_flags is it_daemon_start_data with several extra flags: a
// NULL-terminated list of at most IT_EXTRA_FLAGS_MAX strings (NULL: none).
#define IT_EXTRA_FLAGS_MAX 16
void it_daemon_start_flags(it_daemon *d, unsigned workers, const char *data_dir,
                           const char *const *extra);

// it_daemon_wait_exit waits up to timeout_ms for the daemon to exit by itself.
// true: it did, *status_out (may be NULL) has its wait status, d->pid is 0,
// and its directory (daemon.log) stays until it_daemon_kill9 removes it.
bool it_daemon_wait_exit(it_daemon *d, int timeout_ms, int *status_out);

// it_daemon_log copies what the daemon wrote to stdout and stderr so far
// (the start of it, at most cap - 1 bytes) into buf, NUL-terminated, and
// returns its length.
size_t it_daemon_log(const it_daemon *d, char *buf, size_t cap);

// it_daemon_kill9 kills the daemon with SIGKILL, as a power cut would, and
// removes its temporary directory (not its data directory).
void it_daemon_kill9(it_daemon *d);

// it_daemon_stop sends SIGTERM, waits up to 10 s for a clean exit (status 0,
// asserted), kills it otherwise, and removes the directory.
void it_daemon_stop(it_daemon *d);

// it_client opens a client on the daemon's RPC door (aborts on failure).
st_client *it_client(const it_daemon *d);

// it_free_port returns a loopback TCP port that was free a moment ago.
unsigned it_free_port(void);

// it_sub_close ends a test's use of a feed subscription without closing its
// socket: nng 1.5.2 can deadlock closing a SUB socket (nanomsg/nng#1543,
// #1813), after which every later close in the process hangs too, and a
// test must not hang on a library bug it does not test. The socket stays
// open until the test's process ends, which then skips nng's exit handler.
void it_sub_close(st_sub *s);

// it_path returns "$ST_BUILD_DIR/<rel>" in a static buffer.
const char *it_path(const char *rel);

// it_send_json submits n events written as JSON (st_event_from_json) in one
// batch and returns the reply (never NULL: a failed request fails the test).
Stocktwin__Response *it_send_json(st_client *c, const char *const *json, size_t n);

// it_send_one submits one JSON event and returns its status.
int it_send_one(st_client *c, const char *json);

// it_stock fetches (warehouse, sku) through the sku query; false if the
// warehouse has no stock record of it.
bool it_stock(st_client *c, const char *warehouse, const char *sku, Stocktwin__SkuWarehouse *out);

// it_setup_network loads a small network: products SKU-1 (reorder point 10)
// and SKU-2, supplier sup-1, warehouses wh-a and wh-c each with zones recv
// (RECEIVING) and stor (STORAGE), shelf s1 in stor holding SKU-1, and 100 of
// SKU-1 received into stor of wh-a. Source "setup", seqs 1...
void it_setup_network(st_client *c);

// it_run runs argv (NULL-terminated) and returns its exit status (or -1),
// capturing stdout into out[0..cap) (NUL-terminated) when out is not NULL and
// feeding `input` (may be NULL) on stdin.
int it_run(char *const argv[], const char *input, char *out, size_t cap);

#endif
