// feed.h - the change and alert feed: an nng PUB socket on which every worker
// batch's alerts and stock changes are published once released.
//
// Framing (proto/stocktwin.proto, "The feed"): each nng message is an ASCII
// topic, one NUL byte, then an encoded stocktwin.FeedMessage. Topics:
//   alert/<warehouse>/<KIND>   one Alert (KIND as in AlertKind: LOW_STOCK, ...)
//   stock/<warehouse>          the StockChanges of one worker batch for it
// so a subscriber filters with nng's prefix subscriptions ("alert/",
// "stock/wh-berlin"). A slow subscriber loses messages (PUB never blocks the
// workers); the state itself is always one query away. While no subscriber
// is connected, nothing is encoded (PUB would drop it all).
//
// Ownership: st_feed_start() returns an st_feed; st_feed_stop() frees it.
// Thread: st_feed_publish_cb() runs on shard worker threads, each using only
// its own scratch (one per worker); start/stop from the server's thread, stop
// only after the shards are destroyed.
#ifndef ST_SERVER_FEED_H
#define ST_SERVER_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/event.h"
#include "shards/shards.h"

typedef struct st_feed st_feed;

// Called for every alert as it is published (on the worker's thread), e.g.
// by the demo to print it. Must not block for long.
typedef void (*st_feed_alert_cb)(void *arg, const st_alert *alert);

// st_feed_start listens on `url` (NULL: no socket, only alert_cb) for
// `workers` workers. ST_IO with a sentence in err if it cannot listen.
st_err st_feed_start(const char *url, uint32_t workers, st_feed_alert_cb alert_cb, void *alert_arg,
                     st_feed **feed_out, char *err, size_t err_len);

// st_feed_publish_cb is the st_shards_feed_cb; `arg` is the st_feed.
void st_feed_publish_cb(void *arg, const st_feed_batch *batch);

// st_feed_stop closes the socket and frees the feed; NULL is a no-op.
void st_feed_stop(st_feed *feed);

// st_feed_topic writes "alert/<warehouse>/<KIND>" or "stock/<warehouse>"
// (alert NULL) into buf; returns its length, or 0 if it did not fit.
size_t st_feed_topic(char *buf, size_t len, const char *warehouse, const st_alert *alert);

#endif
