// stocktwin.h - libstocktwin, the C client of stocktwind: acknowledged event
// batches and queries over the RPC door (nng REQ/REP), fire-and-forget
// telemetry over the ingest door (nng PUSH/PULL), and the alert and stock
// feed (nng SUB/PUB). The wire contract is proto/stocktwin.proto.
//
// Types: events, queries and replies are the protobuf-c generated structs of
// stocktwin.proto (Stocktwin__Event, Stocktwin__Response, ...). Callers build
// events with the generated initializers (STOCKTWIN__EVENT__INIT, ...); the
// library never keeps a pointer to them after a call returns.
//
// Statuses: every function that can fail returns an int, 0 on success, else a
// Stocktwin__Status number (STOCKTWIN__STATUS__STATUS_UNAVAILABLE when the server
// cannot be reached or does not answer in time, MALFORMED when its reply is not
// valid, TOO_LARGE for a batch over ST_CLIENT_BATCH_MAX, ...). Only st_sub_recv
// also returns ST_CLIENT_TIMEOUT. st_client_last_error() then says why, in one
// sentence.
//
// Ownership: handles are opaque and owned by the caller from *_open until
// *_close; closing NULL is a no-op. A Stocktwin__Response returned through
// resp_out belongs to the caller, who frees it with st_client_response_free();
// a feed message with st_feed_message_free() and its topic with free().
//
// Threads: an st_client and an st_push may be used by any number of threads at
// once, except that *_close must be called once, by one thread, after the
// others stopped using the handle. An st_sub belongs to one thread at a time.
#ifndef STOCKTWIN_H
#define STOCKTWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stocktwin.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_CLIENT_API __attribute__((visibility("default")))

#define ST_CLIENT_VERSION "0.1.0"
// The wire protocol version every request carries.
#define ST_CLIENT_PROTOCOL_VERSION 1u
// The server's limits (stocktwin.proto): larger batches are refused here,
// before anything is sent, with STOCKTWIN__STATUS__STATUS_TOO_LARGE.
#define ST_CLIENT_BATCH_MAX 4096u
#define ST_CLIENT_REQUEST_BYTES_MAX (4u * 1024u * 1024u)
// Replies may be much larger than requests (an inventory page of 100000 skus).
#define ST_CLIENT_REPLY_BYTES_MAX (64u * 1024u * 1024u)
// st_sub_recv only: nothing arrived within the timeout. Distinct from every
// Stocktwin__Status number.
#define ST_CLIENT_TIMEOUT 1000

#define ST_CLIENT_DEFAULT_URL "tcp://127.0.0.1:7400"
#define ST_CLIENT_DEFAULT_INGEST_URL "tcp://127.0.0.1:7401"
#define ST_CLIENT_DEFAULT_FEED_URL "tcp://127.0.0.1:7402"

typedef struct st_client st_client;
typedef struct st_push st_push;
typedef struct st_sub st_sub;

// Options of st_client_open and st_push_open. A zeroed struct means "all
// defaults" (`st_client_opts o = {0};`), and so does passing NULL.
typedef struct st_client_opts {
    // The credential sent with every request; NULL = "" (accepted until the
    // server checks credentials). Copied by open.
    const char *credential;
    // How long one request may take once it has a context: sending (waiting
    // for a connection included) plus waiting for the reply. 0 = 5000 ms.
    // Pushes use it as the send timeout.
    int timeout_ms;
    // At most this many requests in flight on one st_client (one nng context
    // each); a submit beyond it waits for one to complete. 0 = 256, max 65536.
    unsigned max_in_flight;
    // nng's REQ resend: a request without reply is sent again after this many
    // ms, and at once on a new connection when the one it went out on drops.
    // Safe because events are idempotent by (source, seq). 0 = nng's 60 s
    // (so with the default timeout a request is resent only on reconnect);
    // -1 = never resend: a dropped connection fails the request.
    int resend_ms;
    // Reconnect back-off after a connection drops. 0 = 100 ms and 5000 ms.
    int reconnect_min_ms;
    int reconnect_max_ms;
    // false (default): open fails with UNAVAILABLE when nobody listens at the
    // url, so a mistyped url is reported at once. true: open succeeds and
    // nng keeps dialing in the background; requests wait (up to timeout_ms).
    bool lazy_connect;
} st_client_opts;

// st_client_done_cb - the completion of st_client_submit_async or
// st_client_query_async. `status` is what the blocking call would have
// returned; `resp` is the decoded reply when one arrived (also when status is
// the reply's own non-OK status), else NULL; `error` is a sentence when status
// is not 0, else NULL. Both are borrowed until the callback returns, after
// which the library frees them. Runs on an nng thread: do not block in it for
// long, and do not call st_client_drain or st_client_close from it.
typedef void (*st_client_done_cb)(void *arg, int status, const Stocktwin__Response *resp,
                                  const char *error);

// st_client_open - creates a client whose REQ socket dials `url` (any nng
// transport: tcp://, ipc://, tls+tcp://). opts: NULL = defaults. On 0, *out is
// a new handle for st_client_close; on failure *out is NULL.
ST_CLIENT_API int st_client_open(const char *url, const st_client_opts *opts, st_client **out);

// st_client_close - waits for every request in flight to complete (each is
// bounded by its timeout; callbacks never run after close returns), closes the
// socket and frees the handle. NULL is a no-op.
ST_CLIENT_API void st_client_close(st_client *c);

// st_client_last_error - a sentence describing the last failure of a call
// made by this thread (""), valid until this thread's next libstocktwin call.
// Errors are kept per thread, because one handle is shared by many threads;
// `c` may be NULL (for a failed open).
ST_CLIENT_API const char *st_client_last_error(const st_client *c);

// st_client_submit - sends events[0..n) as one batch (1 <= n <=
// ST_CLIENT_BATCH_MAX) and waits for the reply. Returns 0 when the server
// understood the request: *resp_out then has exactly n statuses, one per
// event in order (check each: st_status_accepted()). Returns the reply's own
// status (with *resp_out set) when the server refused the whole request, or a
// transport/validation status (with *resp_out NULL). The events are borrowed
// for the call only. Sets version = 1 and the credential; assigns request_id.
ST_CLIENT_API int st_client_submit(st_client *c, Stocktwin__Event **events, size_t n,
                                   Stocktwin__Response **resp_out);

// st_client_submit_async - like st_client_submit, but returns once the batch is
// encoded and queued; `cb(arg, ...)` then runs exactly once, on an nng thread.
// Blocks while max_in_flight requests are in flight. Returns 0 when queued;
// otherwise the batch was not sent and cb will not run. Events are borrowed
// for the call only (they are encoded before it returns).
ST_CLIENT_API int st_client_submit_async(st_client *c, Stocktwin__Event **events, size_t n,
                                         st_client_done_cb cb, void *arg);

// st_client_drain - waits until every request submitted on this client so far
// has completed and its callback returned. Not from a callback.
ST_CLIENT_API void st_client_drain(st_client *c);

// st_client_query - sends one query (borrowed for the call) and waits for the
// reply. Returns 0 with *resp_out holding the result (resp->result_case
// matches the query's kind), the reply's status with *resp_out set when the
// server said no (NOT_FOUND, UNKNOWN_WAREHOUSE, ...), or a transport or
// validation status with *resp_out NULL.
ST_CLIENT_API int st_client_query(st_client *c, const Stocktwin__Query *q,
                                  Stocktwin__Response **resp_out);
ST_CLIENT_API int st_client_query_async(st_client *c, const Stocktwin__Query *q,
                                        st_client_done_cb cb, void *arg);

// Query wrappers (strings borrowed for the call; NULL = empty where allowed).
// limit 0 = the server's default (inventory 1000, alerts 100).
ST_CLIENT_API int st_client_inventory(st_client *c, const char *warehouse, bool below_reorder_only,
                                      uint32_t offset, uint32_t limit,
                                      Stocktwin__Response **resp_out);
ST_CLIENT_API int st_client_sku(st_client *c, const char *sku, Stocktwin__Response **resp_out);

// A line of an inventory page as st_client_inventory_each hands it out.
// Strings are NUL-terminated and borrowed until the callback returns.
typedef struct st_inventory_location {
    const char *zone;
    const char *shelf; // "" when the stock sits in the zone, not on a shelf
    int64_t qty;
} st_inventory_location;

typedef struct st_inventory_line {
    const char *sku;
    const char *name;
    int64_t on_hand, reserved, available, inbound, in_transit_out, reorder_point;
    bool below_reorder; // available <= reorder_point
    const st_inventory_location *locations;
    size_t n_locations;
} st_inventory_line;

// Return false to skip the rest of the page.
typedef bool (*st_inventory_line_cb)(void *arg, const st_inventory_line *line);

// st_client_inventory_each - st_client_inventory for large pages: the lines
// are decoded one at a time, straight from the reply, and handed to `cb` on
// the caller's thread, without building a Stocktwin__InventoryLine per line
// (about 4x less client CPU on a 25,000-line page). *total_out (may be NULL)
// gets the page's total_skus, *lines_out (may be NULL) the lines handed out.
// Returns like st_client_inventory; a reply that is not a valid inventory
// answer is MALFORMED, and cb may already have seen the lines before the
// flaw.
ST_CLIENT_API int st_client_inventory_each(st_client *c, const char *warehouse,
                                           bool below_reorder_only, uint32_t offset, uint32_t limit,
                                           st_inventory_line_cb cb, void *arg, uint32_t *total_out,
                                           uint32_t *lines_out);
// st_client_inventory_all - every line of a warehouse (or every line at or
// below its reorder point), in pages of `page` lines decoded as with
// st_client_inventory_each, in order, on the caller's thread. While a page
// is decoded the next one is already being built by the server (two
// requests in flight), which hides a round trip and the server's work per
// page. *total_out (may be NULL) gets the last page's total_skus,
// *lines_out (may be NULL) the lines handed out. Lines that join the
// warehouse during the read may be missed, never repeated.
ST_CLIENT_API int st_client_inventory_all(st_client *c, const char *warehouse,
                                          bool below_reorder_only, uint32_t page,
                                          st_inventory_line_cb cb, void *arg, uint32_t *total_out,
                                          uint32_t *lines_out);
// warehouse NULL: look for a warehouse, product or supplier of that id first.
ST_CLIENT_API int st_client_twin(st_client *c, const char *id, const char *warehouse,
                                 Stocktwin__Response **resp_out);
// warehouse NULL: alerts of every warehouse, newest first.
ST_CLIENT_API int st_client_alerts(st_client *c, const char *warehouse, uint32_t limit,
                                   Stocktwin__Response **resp_out);
// st_client_devices - device health: on 0, resp->devices lists the devices of
// `warehouse` (NULL: every warehouse), only the silent ones if silent_only,
// sorted by warehouse then id, at most `limit` (0: 1000); total counts all.
ST_CLIENT_API int st_client_devices(st_client *c, const char *warehouse, bool silent_only,
                                    uint32_t limit, Stocktwin__Response **resp_out);
ST_CLIENT_API int st_client_stats(st_client *c, Stocktwin__Response **resp_out);
// st_client_digest - the state digest: on 0, resp->digest holds the hash of
// the whole state (equal on two servers that applied the same events, whatever
// their worker counts), the catalog's, and per worker its durable LSN and the
// digest of its warehouses. Costs the server one pass over its whole state.
ST_CLIENT_API int st_client_digest(st_client *c, Stocktwin__Response **resp_out);
// st_client_snapshot - asks the server to snapshot every worker now: on 0,
// resp->snapshot->from_lsn[w] is the LSN worker w's snapshot covers at least.
// The snapshots are written in the background (the server's stderr says when
// each is published); status INVALID_ARGUMENT on a server without --data.
ST_CLIENT_API int st_client_snapshot(st_client *c, Stocktwin__Response **resp_out);
// st_client_promote - makes the follower it talks to the leader: on 0,
// resp->promote->epoch is the new epoch. The server stops following, records
// the epoch and restarts as leader (its RPC door closes for a moment).
// INVALID_ARGUMENT when the server is not a follower.
ST_CLIENT_API int st_client_promote(st_client *c, Stocktwin__Response **resp_out);

// st_client_response_free - frees a reply from resp_out. NULL is a no-op.
ST_CLIENT_API void st_client_response_free(Stocktwin__Response *resp);

// st_status_name - "OK", "DUPLICATE", ..., "TIMEOUT" (ST_CLIENT_TIMEOUT), or
// "UNKNOWN" for numbers this library does not know. A static string.
ST_CLIENT_API const char *st_status_name(int status);

// st_status_accepted - true for OK, DUPLICATE and STALE: the event is (or
// already was) part of the state.
ST_CLIENT_API bool st_status_accepted(int status);

// st_push_open - a PUSH socket dialing the ingest door (fire-and-forget: no
// reply, no per-event status; rejected events are counted by the server only).
// Uses opts->credential, timeout_ms (send timeout when the server does not
// take messages), reconnect_* and lazy_connect. On 0, *out is a new handle.
ST_CLIENT_API int st_push_open(const char *url, const st_client_opts *opts, st_push **out);

// st_push_send - encodes events[0..n) (borrowed, 1 <= n <= ST_CLIENT_BATCH_MAX)
// into one Request and hands it to nng. 0 means queued for sending, not
// applied. UNAVAILABLE when it could not be queued within the timeout.
ST_CLIENT_API int st_push_send(st_push *p, Stocktwin__Event **events, size_t n);

// st_push_close - closes and frees. Messages nng has not yet written to the
// connection are dropped (nng has no linger): fire-and-forget. NULL is a no-op.
ST_CLIENT_API void st_push_close(st_push *p);

// st_sub_open - a SUB socket dialing the feed door, subscribed to every topic
// starting with topic_prefix (NULL or "" = everything; "alert/" = every alert;
// "stock/wh-1" = stock changes of wh-1). Fails fast (UNAVAILABLE) when nobody
// listens; after that nng reconnects by itself. The feed is lossy by nature
// (PUB drops for slow subscribers): recover state with queries.
ST_CLIENT_API int st_sub_open(const char *url, const char *topic_prefix, st_sub **out);

// st_sub_recv - waits up to timeout_ms (-1 = forever, 0 = poll) for the next
// feed message. 0: *topic_out is a NUL-terminated copy of the topic (free()
// it) and *msg_out the decoded message (st_feed_message_free). ST_CLIENT_TIMEOUT
// when nothing arrived, MALFORMED when a message had no NUL separator or no
// valid FeedMessage (that message is dropped; keep calling), UNAVAILABLE when
// the socket is closed. On failure both outputs are NULL.
ST_CLIENT_API int st_sub_recv(st_sub *s, int timeout_ms, char **topic_out,
                              Stocktwin__FeedMessage **msg_out);

// st_sub_close - closes and frees. NULL is a no-op. Prefer a tcp:// feed URL:
// with Debian 12's nng 1.5.2, closing a SUB socket dialed over ipc:// can
// deadlock (nanomsg/nng#1543, #1813); a process about to exit may skip it.
ST_CLIENT_API void st_sub_close(st_sub *s);

// st_feed_parse - splits one feed message `buf[0..len)` (borrowed) into its
// topic and FeedMessage, as st_sub_recv does. Same outputs and statuses.
ST_CLIENT_API int st_feed_parse(const void *buf, size_t len, char **topic_out,
                                Stocktwin__FeedMessage **msg_out);

// st_feed_message_free - frees a message from st_sub_recv. NULL is a no-op.
ST_CLIENT_API void st_feed_message_free(Stocktwin__FeedMessage *msg);

// st_event_from_json - parses one event from a JSON object whose keys are the
// proto's field names in snake_case, with enums by name (case-insensitive,
// '-' for '_') or number and 64-bit integers as numbers or decimal strings,
// e.g. {"source":"erp","seq":1,"warehouse":"wh-1","movement":{"kind":"RECEIVE",
// "sku":"SKU1","qty":5,"to_location":"z1"}}. Unknown keys, wrong types, two
// kinds of one oneof and out-of-range numbers are errors. On 0, *out is a new
// event for st_event_free; otherwise INVALID_ARGUMENT (MALFORMED when the text
// is not JSON) and st_client_last_error() names the offending key.
ST_CLIENT_API int st_event_from_json(const char *json, Stocktwin__Event **out);

// st_event_free - frees an event from st_event_from_json. NULL is a no-op.
ST_CLIENT_API void st_event_free(Stocktwin__Event *event);

// st_message_to_json - any stocktwin message (Response, FeedMessage, Event,
// ...) as a JSON object in the same mapping: every field of the message
// (zeros included) except unset oneof members, enums by name, 64-bit integers
// as numbers. Returns a malloc'ed string (free()) or NULL when out of memory.
ST_CLIENT_API char *st_message_to_json(const ProtobufCMessage *msg, bool pretty);

#ifdef __cplusplus
}
#endif

#endif // STOCKTWIN_H
