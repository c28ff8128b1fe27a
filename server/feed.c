// feed.c - the PUB door. See feed.h.
#include "server/feed.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "server/arena.h"
#include "server/wire.h"
#include "stocktwin.pb-c.h"

#define ST_FEED_TOPIC_MAX (16u + 2u * ST_ID_LEN_MAX)

typedef struct feed_worker {
    st_arena arena; // the FeedMessages of one batch
} feed_worker;

struct st_feed {
    nng_socket sock;
    bool open;
    uint32_t workers;
    feed_worker *scratch;
    st_feed_alert_cb alert_cb;
    void *alert_arg;
    atomic_uint_fast64_t published;
    atomic_uint_fast64_t dropped;
    // Connected subscribers (pipe events). With none, PUB would drop every
    // message, so nothing is encoded at all: a daemon nobody listens to
    // does not pay for its feed.
    atomic_int subscribers;
};

static void
feed_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    st_feed *f = arg;
    atomic_fetch_add_explicit(&f->subscribers, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1,
                              memory_order_relaxed);
}

// feed_heard: the socket is open and someone is connected to it.
static bool
feed_heard(st_feed *f)
{
    return f->open && atomic_load_explicit(&f->subscribers, memory_order_relaxed) > 0;
}

size_t
st_feed_topic(char *buf, size_t len, const char *warehouse, const st_alert *alert)
{
    int n = alert ? snprintf(buf, len, "alert/%s/%s", warehouse, st_wire_alert_kind_name(alert->kind))
                  : snprintf(buf, len, "stock/%s", warehouse);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

// feed_msg_new packs topic, NUL, encoded message into one nng message, or
// returns NULL when nng has no memory for it. tests/lsan.supp names this
// function: nng 1.5.2 can lose a message it has taken (nanomsg/nng#1713).
static nng_msg *
feed_msg_new(const char *topic, size_t topic_len, const Stocktwin__FeedMessage *fm)
{
    size_t size = stocktwin__feed_message__get_packed_size(fm);
    nng_msg *m;
    if (nng_msg_alloc(&m, topic_len + 1 + size) != 0)
        return NULL;
    char *body = nng_msg_body(m);
    memcpy(body, topic, topic_len);
    body[topic_len] = '\0';
    size_t packed = stocktwin__feed_message__pack(fm, (uint8_t *)body + topic_len + 1);
    ST_ASSERT(packed == size);
    return m;
}

// publish sends one message without blocking: PUB drops for subscribers
// that cannot keep up.
static void
publish(st_feed *f, const char *topic, size_t topic_len, const Stocktwin__FeedMessage *fm)
{
    nng_msg *m = feed_msg_new(topic, topic_len, fm);
    if (m == NULL) {
        atomic_fetch_add_explicit(&f->dropped, 1, memory_order_relaxed);
        return;
    }
    if (nng_sendmsg(f->sock, m, NNG_FLAG_NONBLOCK) != 0) {
        nng_msg_free(m);
        atomic_fetch_add_explicit(&f->dropped, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&f->published, 1, memory_order_relaxed);
}

static void
publish_alert(st_feed *f, st_arena *arena, const st_alert *a)
{
    char topic[ST_FEED_TOPIC_MAX];
    size_t n = st_feed_topic(topic, sizeof topic, a->warehouse ? a->warehouse : "", a);
    if (n == 0)
        return;
    Stocktwin__Alert alert;
    st_wire_alert_to_pb(a, arena, &alert);
    Stocktwin__FeedMessage fm = STOCKTWIN__FEED_MESSAGE__INIT;
    fm.warehouse = alert.warehouse;
    fm.body_case = STOCKTWIN__FEED_MESSAGE__BODY_ALERT;
    fm.alert = &alert;
    publish(f, topic, n, &fm);
}

// publish_changes sends one stock/<warehouse> message per warehouse of the
// batch, each with that warehouse's changes in the order they happened.
static void
publish_changes(st_feed *f, st_arena *arena, const st_feed_batch *b)
{
    uint32_t n = b->change_count;
    bool *taken = st_arena_calloc(arena, n, sizeof *taken);
    Stocktwin__StockChange *pb = st_arena_alloc(arena, n * sizeof *pb);
    Stocktwin__StockChange **ptrs = st_arena_alloc(arena, n * sizeof *ptrs);
    for (uint32_t i = 0; i < n; i++) {
        if (taken[i])
            continue;
        const char *wh = b->changes[i].warehouse ? b->changes[i].warehouse : "";
        uint32_t k = 0;
        for (uint32_t j = i; j < n; j++) {
            const char *w = b->changes[j].warehouse ? b->changes[j].warehouse : "";
            if (taken[j] || (w != wh && strcmp(w, wh) != 0))
                continue;
            taken[j] = true;
            st_wire_change_to_pb(&b->changes[j], &pb[j]);
            ptrs[k++] = &pb[j];
        }
        char topic[ST_FEED_TOPIC_MAX];
        size_t tn = st_feed_topic(topic, sizeof topic, wh, NULL);
        if (tn == 0)
            continue;
        Stocktwin__StockChanges sc = STOCKTWIN__STOCK_CHANGES__INIT;
        sc.n_changes = k;
        sc.changes = ptrs;
        Stocktwin__FeedMessage fm = STOCKTWIN__FEED_MESSAGE__INIT;
        fm.warehouse = (char *)wh;
        fm.body_case = STOCKTWIN__FEED_MESSAGE__BODY_STOCK;
        fm.stock = &sc;
        publish(f, topic, tn, &fm);
    }
}

void
st_feed_publish_cb(void *arg, const st_feed_batch *b)
{
    st_feed *f = arg;
    ST_ASSERT(f != NULL && b != NULL && b->worker < f->workers);
    st_arena *arena = &f->scratch[b->worker].arena;
    for (uint32_t i = 0; i < b->alert_count; i++) {
        if (f->alert_cb != NULL)
            f->alert_cb(f->alert_arg, &b->alerts[i]);
        if (feed_heard(f))
            publish_alert(f, arena, &b->alerts[i]);
    }
    if (b->change_count > 0 && feed_heard(f))
        publish_changes(f, arena, b);
    st_arena_reset(arena);
}

st_err
st_feed_start(const char *url, uint32_t workers, st_feed_alert_cb alert_cb, void *alert_arg,
              st_feed **feed_out, char *err, size_t err_len)
{
    ST_ASSERT(workers >= 1 && workers <= ST_SHARDS_WORKERS_MAX && feed_out != NULL);
    *feed_out = NULL;
    st_feed *f = st_calloc(1, sizeof *f);
    f->workers = workers;
    f->alert_cb = alert_cb;
    f->alert_arg = alert_arg;
    f->scratch = st_calloc(workers, sizeof *f->scratch);
    for (uint32_t w = 0; w < workers; w++)
        st_arena_init(&f->scratch[w].arena, 64u * 1024u);
    if (url != NULL) {
        int rv = nng_pub0_open(&f->sock);
        if (rv != 0) {
            snprintf(err, err_len, "feed: cannot open a PUB socket: %s", nng_strerror(rv));
            goto fail;
        }
        f->open = true;
        if ((rv = nng_pipe_notify(f->sock, NNG_PIPE_EV_ADD_POST, feed_pipe_cb, f)) != 0 ||
            (rv = nng_pipe_notify(f->sock, NNG_PIPE_EV_REM_POST, feed_pipe_cb, f)) != 0) {
            snprintf(err, err_len, "feed: cannot watch subscribers: %s", nng_strerror(rv));
            goto fail;
        }
        if ((rv = nng_listen(f->sock, url, NULL, 0)) != 0) {
            snprintf(err, err_len, "feed: cannot listen on %s: %s", url, nng_strerror(rv));
            goto fail;
        }
    }
    *feed_out = f;
    return ST_OK;
fail:
    st_feed_stop(f);
    return ST_IO;
}

void
st_feed_stop(st_feed *f)
{
    if (f == NULL)
        return;
    if (f->open)
        nng_close(f->sock);
    for (uint32_t w = 0; w < f->workers; w++)
        st_arena_deinit(&f->scratch[w].arena);
    st_free(f->scratch);
    st_free(f);
}
