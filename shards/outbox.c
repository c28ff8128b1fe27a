// outbox.c - delivering cross-warehouse effects (a transfer's inbound half at
// its destination, the arrival notice back at its source) from the worker
// that applied the event to the worker that owns the other warehouse.
//
// Each worker has a pool of ST_SHARDS_OUTBOX_POOL fixed-size messages. After
// a batch is released, the messages it staged are pushed into the target
// worker's inbox (an MPSC ring separate from the client job ring, so worker-
// to-worker traffic never waits behind clients and cannot deadlock against
// them). A full inbox leaves the message on the sender's pending list, tried
// again every loop iteration in order: nothing is dropped and nobody blocks.
// The receiver applies the message, and after its own commit hands it back to
// the owner's `returns` ring (sized to hold the whole pool, so it never
// fills); the owner refills its free list from it when the list runs dry.
//
// Bounded: a worker whose pool is empty refuses client transfer events (the
// kinds that stage messages) with ST_BUSY (st_outbox_ready) rather than
// stage more. Internal events arriving from other workers cannot be refused;
// if one of those (or any other kind) ever needs a message while the pool is
// empty, it gets a heap message (counted and reported once) - core stages
// outbox messages only for dispatch and transfer receive, so this does not
// occur today.
//
// Ownership: pool messages belong to their owner worker's pool for life; a
// message in flight is borrowed by whoever holds it (sender lists, target
// inbox, receiver batch, returns ring).
// After a restart, a leader stages again every transfer half the other
// warehouse still lacks (st_outbox_resend): replay re-stages the halves of
// the entries it replays and a snapshot holds those in flight when it was
// taken, but a promoted follower's snapshots hold none (a follower delivers
// nothing), so a half in flight when the old leader died would be lost.
//
// Thread: every function runs on the worker named by its argument, except
// st_outbox_resend (before the workers start).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "shards/worker.h"

static void
list_append(st_msg_list *list, st_outbox_msg *msg)
{
    ST_ASSERT(msg != NULL);
    ST_ASSERT((list->head == NULL) == (list->tail == NULL));
    msg->next = NULL;
    if (list->tail != NULL)
        list->tail->next = msg;
    else
        list->head = msg;
    list->tail = msg;
}

void
st_outbox_init(st_outbox *ob, uint32_t owner)
{
    ST_ASSERT(ob != NULL);
    memset(ob, 0, sizeof(*ob));
    ob->pool = st_calloc(ST_SHARDS_OUTBOX_POOL, sizeof(*ob->pool));
    for (uint32_t i = 0; i < ST_SHARDS_OUTBOX_POOL; i++) {
        ob->pool[i].owner = owner;
        ob->pool[i].next = i + 1 < ST_SHARDS_OUTBOX_POOL ? &ob->pool[i + 1] : NULL;
    }
    ob->free_list = &ob->pool[0];
    st_ring_init(&ob->returns, 2 * ST_SHARDS_OUTBOX_POOL);
    ST_ASSERT(st_ring_capacity(&ob->returns) >= ST_SHARDS_OUTBOX_POOL);
}

static void
list_free_heap(st_msg_list *list)
{
    for (st_outbox_msg *msg = list->head, *next; msg != NULL; msg = next) {
        next = msg->next;
        st_outbox_free_heap(msg);
    }
    list->head = list->tail = NULL;
}

// st_outbox_deinit runs at destroy, after every worker stopped; undelivered
// messages are dropped (with the WAL, recovery re-derives them from the log).
void
st_outbox_deinit(st_outbox *ob)
{
    if (ob->pool == NULL)
        return;
    list_free_heap(&ob->send);
    list_free_heap(&ob->pending);
    st_ring_deinit(&ob->returns);
    st_free(ob->pool);
    ob->pool = NULL;
}

void
st_outbox_free_heap(st_outbox_msg *msg)
{
    if (msg->heap)
        st_free(msg);
}

// Moves messages other workers consumed back onto the free list.
void
st_outbox_reclaim(st_outbox *ob)
{
    st_outbox_msg *msg;
    while ((msg = st_ring_pop(&ob->returns)) != NULL) {
        ST_ASSERT(!msg->heap);
        msg->next = ob->free_list;
        ob->free_list = msg;
    }
}

// st_outbox_ready tells whether a client event may be applied: one apply
// stages at most ST_APPLY_OUTBOX_MAX messages, and one free message is enough.
bool
st_outbox_ready(st_outbox *ob)
{
    _Static_assert(ST_APPLY_OUTBOX_MAX == 1, "readiness checks for one free message");
    if (ob->free_list == NULL)
        st_outbox_reclaim(ob);
    return ob->free_list != NULL;
}

static st_outbox_msg *
outbox_take(st_outbox *ob, uint32_t owner)
{
    if (ob->free_list == NULL)
        st_outbox_reclaim(ob);
    st_outbox_msg *msg = ob->free_list;
    if (msg != NULL) {
        ob->free_list = msg->next;
        return msg;
    }
    if (ob->heap_messages++ == 0)
        fprintf(stderr, "stocktwin: worker %u: outbox pool of %u exhausted; using the heap\n",
                owner, ST_SHARDS_OUTBOX_POOL);
    msg = st_calloc(1, sizeof(*msg));
    msg->heap = true;
    msg->owner = owner;
    return msg;
}

// Copies *field into dst and points *field at the copy.
static void
copy_field(char *dst, size_t cap, const char **field)
{
    const char *src = *field != NULL ? *field : "";
    size_t len = strlen(src);
    ST_ASSERT(len < cap); // core bounds ids by ST_ID_LEN_MAX
    memcpy(dst, src, len + 1);
    *field = dst;
}

static void
msg_copy(st_outbox_msg *msg, const st_event *event)
{
    msg->event = *event;
    st_event *ev = &msg->event;
    copy_field(msg->source, sizeof(msg->source), &ev->source);
    copy_field(msg->warehouse, sizeof(msg->warehouse), &ev->warehouse);
    switch (ev->kind) {
    case ST_EV_TRANSFER_INBOUND:
        copy_field(msg->transfer_id, sizeof(msg->transfer_id), &ev->u.transfer_inbound.transfer_id);
        copy_field(msg->from_warehouse, sizeof(msg->from_warehouse),
                   &ev->u.transfer_inbound.from_warehouse);
        copy_field(msg->sku, sizeof(msg->sku), &ev->u.transfer_inbound.sku);
        break;
    case ST_EV_TRANSFER_ARRIVED:
        copy_field(msg->transfer_id, sizeof(msg->transfer_id), &ev->u.transfer_arrived.transfer_id);
        break;
    default:
        ST_ASSERT(!"core's outbox carries only internal transfer events");
    }
}

// st_outbox_stage copies one outbox event of the batch being filled; the
// batch's slot takes it when sealed, and it is delivered by st_outbox_flush
// once the slot is released (durable).
void
st_outbox_stage(st_worker *w, const st_event *event)
{
    ST_ASSERT(event->kind == ST_EV_TRANSFER_INBOUND || event->kind == ST_EV_TRANSFER_ARRIVED);
    st_outbox_msg *msg = outbox_take(&w->outbox, w->id);
    ST_ASSERT(msg->owner == w->id);
    msg_copy(msg, event);
    msg->target = st_shards_route(w->shards, msg->warehouse);
    list_append(&w->outbox.send, msg);
}

// st_outbox_splice moves every message of `from` to the end of `to`.
void
st_outbox_splice(st_msg_list *to, st_msg_list *from)
{
    ST_ASSERT((to->head == NULL) == (to->tail == NULL));
    ST_ASSERT((from->head == NULL) == (from->tail == NULL));
    if (from->head == NULL)
        return;
    if (to->tail != NULL)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

// st_outbox_flush pushes pending messages, then this batch's, into their
// targets' inboxes. Once a push to a target fails, later messages for that
// target wait behind it, so each target receives one sender's messages in
// the order they were produced (a source's seqs arrive increasing).
void
st_outbox_flush(st_worker *w)
{
    st_outbox *ob = &w->outbox;
    st_msg_list all = ob->pending, keep = {NULL, NULL};
    if (all.tail != NULL)
        all.tail->next = ob->send.head;
    else
        all.head = ob->send.head;
    ob->send.head = ob->send.tail = NULL;
    uint64_t blocked = 0, pushed = 0;
    for (st_outbox_msg *msg = all.head, *next; msg != NULL; msg = next) {
        next = msg->next; // msg belongs to the target once pushed
        uint64_t bit = 1ull << msg->target;
        ST_ASSERT(msg->target < w->shards->worker_count);
        if ((blocked & bit) == 0 && st_ring_push(&w->shards->workers[msg->target].inbox, msg)) {
            pushed |= bit;
            continue;
        }
        blocked |= bit;
        list_append(&keep, msg);
    }
    ob->pending = keep;
    for (uint32_t t = 0; pushed != 0; t++, pushed >>= 1) {
        if ((pushed & 1) != 0 && t != w->id)
            st_worker_wake(&w->shards->workers[t]);
    }
}

// st_outbox_consumed hands a message the receiver has applied (and made
// durable) back to the pool it came from.
void
st_outbox_consumed(struct st_shards *shards, st_outbox_msg *msg)
{
    if (msg->heap) {
        st_free(msg);
        return;
    }
    ST_ASSERT(msg->owner < shards->worker_count);
    bool ok = st_ring_push(&shards->workers[msg->owner].outbox.returns, msg);
    ST_ASSERT(ok); // returns holds the whole pool
}

// --- after a restart ---------------------------------------------------------

#define RESEND_SAY_MAX 8u // lines naming a transfer; a count says the rest

typedef struct resend {
    st_shards *shards;
    st_worker *from;
    uint32_t staged, said, from_staged;
} resend;

static const char *
half_transfer(const st_event *half)
{
    return half->kind == ST_EV_TRANSFER_INBOUND ? half->u.transfer_inbound.transfer_id
                                                : half->u.transfer_arrived.transfer_id;
}

// staged_anywhere: a worker's send list holds this half already (the
// snapshot's events in flight or replay staged it; after a change of the
// worker count, on another worker than the sender's).
static bool
staged_anywhere(const st_shards *shards, const st_event *half)
{
    const char *id = half_transfer(half);
    for (uint32_t w = 0; w < shards->worker_count; w++)
        for (const st_outbox_msg *m = shards->workers[w].outbox.send.head; m != NULL; m = m->next)
            if (m->event.kind == half->kind && strcmp(m->transfer_id, id) == 0 &&
                strcmp(m->warehouse, half->warehouse) == 0 && strcmp(m->source, half->source) == 0)
                return true;
    return false;
}

static void
resend_half(void *arg, const st_event *half)
{
    resend *r = arg;
    st_worker *to = &r->shards->workers[st_shards_route(r->shards, half->warehouse)];
    if (!st_state_transfer_half_needed(to->state, half) || staged_anywhere(r->shards, half))
        return;
    const char *id = half_transfer(half);
    const char *which = half->kind == ST_EV_TRANSFER_INBOUND ? "inbound" : "arrival";
    if (half->seq == 0) { // a record from a snapshot older than format 4: always said
        fprintf(stderr,
                "stocktwind: transfer %s: %s never got its %s half, and it cannot be sent again "
                "(its record comes from a snapshot older than format 4): correct %s by hand\n",
                id, half->warehouse, which, half->warehouse);
        return;
    }
    st_outbox_stage(r->from, half);
    r->staged++;
    r->from_staged++;
    if (r->said++ >= RESEND_SAY_MAX)
        return;
    fprintf(stderr,
            "stocktwind: transfer %s: %s lacks its %s half: sent again (%s, seq %" PRIu64 ")\n", id,
            half->warehouse, which, half->source, half->seq);
}

static int
msg_order(const void *a, const void *b)
{
    const st_outbox_msg *x = *(const st_outbox_msg *const *)a;
    const st_outbox_msg *y = *(const st_outbox_msg *const *)b;
    int c = strcmp(x->source, y->source);
    if (c != 0)
        return c;
    return x->event.seq < y->event.seq ? -1 : x->event.seq > y->event.seq;
}

// sort_send puts a worker's send list in (source, seq) order: halves sent
// again are older than what replay staged after them, and arrive first, as
// they were sent the first time (the destination would apply them later
// too: for a transfer half, the transfer decides what is a duplicate).
static void
sort_send(st_outbox *ob)
{
    size_t n = 0;
    for (st_outbox_msg *m = ob->send.head; m != NULL; m = m->next)
        n++;
    if (n < 2)
        return;
    st_outbox_msg **all = st_malloc(n * sizeof *all);
    size_t i = 0;
    for (st_outbox_msg *m = ob->send.head; m != NULL; m = m->next)
        all[i++] = m;
    qsort(all, n, sizeof *all, msg_order);
    ob->send.head = ob->send.tail = NULL;
    for (i = 0; i < n; i++)
        list_append(&ob->send, all[i]);
    st_free(all);
}

// st_outbox_resend stages again, on the worker that owns the sender, every
// transfer half whose destination lacks it and that nothing staged yet
// (st_state_transfer_halves, st_state_transfer_half_needed), under its
// first (source, seq), and orders that worker's send list by (source, seq).
// Reads every worker's state: only before the workers start. Returns how
// many halves were staged.
uint32_t
st_outbox_resend(st_shards *shards)
{
    resend r = {.shards = shards};
    for (uint32_t w = 0; w < shards->worker_count; w++) {
        r.from = &shards->workers[w];
        r.from_staged = 0;
        st_state_transfer_halves(r.from->state, resend_half, &r);
        if (r.from_staged != 0)
            sort_send(&r.from->outbox);
    }
    if (r.staged > RESEND_SAY_MAX)
        fprintf(stderr, "stocktwind: %" PRIu32 " transfer halves sent again in all\n", r.staged);
    return r.staged;
}
