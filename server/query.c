// query.c - queries: run on the worker owning the warehouse, or on every
// worker (scatter), each callback leaving its part in its own slot of the
// request (copied out of core's borrowed views into the slot's arena); the
// done callback then merges the slots into one Response.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/assert.h"
#include "replication/replication.h"
#include "server/request.h"
#include "server/wire.h"

static void
slot_push(st_query_slot *s, void *item)
{
    if (s->count == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 64;
        void **items = st_arena_alloc(&s->arena, cap * sizeof *items);
        if (s->count)
            memcpy(items, s->items, s->count * sizeof *items);
        s->items = items;
        s->cap = cap;
    }
    s->items[s->count++] = item;
}

static st_query_slot *
slot_of(st_request *r, const st_shards_worker_info *info)
{
    ST_ASSERT(info->worker < r->svc->workers);
    st_query_slot *s = &r->slots[info->worker];
    s->ran = true;
    return s;
}

// --- callbacks, on worker threads ---

static void
twin_view_cb(void *arg, const st_twin_view *view)
{
    st_query_slot *s = arg;
    s->twin = st_arena_alloc(&s->arena, sizeof *s->twin);
    st_wire_twin_to_pb(view, &s->arena, s->twin);
}

static void
twin_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_request *r = arg;
    st_query_slot *s = slot_of(r, info);
    const Stocktwin__TwinQuery *q = r->pb->query->twin;
    s->status = st_state_twin(state, q->warehouse, q->id, twin_view_cb, s);
}

// line_cb encodes the line (wire.h); past the reply limit it stops the walk,
// and st_request_finish answers TOO_LARGE.
static bool
line_cb(void *arg, const st_stock_view *view)
{
    st_query_slot *s = arg;
    st_wire_line_encode(view, &s->lines);
    s->count++;
    return s->lines.len <= ST_SERVER_MSG_MAX;
}

static uint32_t
inventory_limit(const Stocktwin__InventoryQuery *q)
{
    return q->limit ? q->limit : ST_SERVER_INVENTORY_LIMIT_DEFAULT;
}

static void
inventory_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_request *r = arg;
    st_query_slot *s = slot_of(r, info);
    const Stocktwin__InventoryQuery *q = r->pb->query->inventory;
    st_inventory_query iq = {
        .warehouse = q->warehouse,
        .below_reorder_only = q->below_reorder_only,
        .offset = q->offset,
        .limit = inventory_limit(q),
    };
    s->status = st_state_inventory(state, &iq, line_cb, s, &s->total);
}

static bool
sku_view_cb(void *arg, const st_stock_view *view)
{
    st_query_slot *s = arg;
    Stocktwin__SkuWarehouse *w = st_arena_alloc(&s->arena, sizeof *w);
    st_wire_sku_to_pb(view, &s->arena, w);
    slot_push(s, w);
    if (s->twin == NULL) { // keep the product's name once
        s->twin = st_arena_calloc(&s->arena, 1, sizeof *s->twin);
        stocktwin__twin_result__init(s->twin);
        s->twin->id = st_arena_strdup(&s->arena, view->name);
    }
    return true;
}

static void
sku_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_request *r = arg;
    st_query_slot *s = slot_of(r, info);
    s->status = st_state_sku(state, r->pb->query->sku->sku, sku_view_cb, s);
}

static bool
alert_view_cb(void *arg, const st_alert *alert)
{
    st_query_slot *s = arg;
    Stocktwin__Alert *a = st_arena_alloc(&s->arena, sizeof *a);
    st_wire_alert_to_pb(alert, &s->arena, a);
    slot_push(s, a);
    return true;
}

static uint32_t
alerts_limit(const Stocktwin__AlertsQuery *q)
{
    return q->limit ? q->limit : ST_SERVER_ALERTS_LIMIT_DEFAULT;
}

static void
alerts_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_request *r = arg;
    st_query_slot *s = slot_of(r, info);
    const Stocktwin__AlertsQuery *q = r->pb->query->alerts;
    s->status = st_state_alerts(state, q->warehouse, alerts_limit(q), alert_view_cb, s);
}

typedef struct devices_fill {
    st_query_slot *slot;
    uint32_t limit;
} devices_fill;

static bool
device_view_cb(void *arg, const st_device_view *v)
{
    devices_fill *f = arg;
    st_arena *a = &f->slot->arena;
    Stocktwin__DeviceHealth *d = st_arena_alloc(a, sizeof *d);
    stocktwin__device_health__init(d);
    d->warehouse = st_arena_strdup(a, v->warehouse);
    d->id = st_arena_strdup(a, v->id);
    d->kind = (Stocktwin__DeviceKind)v->kind;
    d->bound_to = st_arena_strdup(a, v->bound_to);
    d->last_seen_ms = v->last_seen_ms;
    d->silent = v->silent;
    slot_push(f->slot, d);
    return f->slot->count < f->limit; // each worker's first `limit`: enough to merge
}

static uint32_t
devices_limit(const Stocktwin__DevicesQuery *q)
{
    return q->limit ? q->limit : ST_SERVER_DEVICES_LIMIT_DEFAULT;
}

static void
devices_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_request *r = arg;
    st_query_slot *s = slot_of(r, info);
    const Stocktwin__DevicesQuery *q = r->pb->query->devices;
    devices_fill f = {.slot = s, .limit = devices_limit(q)};
    s->status =
        st_state_devices(state, q->warehouse, q->silent_only, device_view_cb, &f, &s->total);
}

static void
stats_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_request *r = arg;
    st_query_slot *s = slot_of(r, info);
    st_state_stats stats;
    st_state_stats_get(state, &stats);
    s->worker = st_arena_alloc(&s->arena, sizeof *s->worker);
    st_wire_worker_to_pb(info, &stats, s->worker);
    s->products = stats.products;
    s->suppliers = stats.suppliers;
    s->status = ST_OK;
}

// A worker's part of a digest, pushed as the slot's one item: the catalog
// digest is computed by worker 0 only (every worker holds the same catalog),
// and each worker sums the digests of the warehouses it owns.
typedef struct digest_part {
    Stocktwin__WorkerDigest pb;
    uint64_t catalog;    // worker 0 only; 0 elsewhere
    uint32_t warehouses; // owned by this worker
} digest_part;

static void
digest_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_request *r = arg;
    st_query_slot *s = slot_of(r, info);
    ST_ASSERT(s->count == 0);
    st_state_stats stats;
    st_state_stats_get(state, &stats);
    digest_part *part = st_arena_alloc(&s->arena, sizeof *part);
    stocktwin__worker_digest__init(&part->pb);
    part->pb.worker = info->worker;
    part->pb.durable_lsn = info->durable_lsn;
    part->pb.applied_lsn = info->applied_lsn;
    part->pb.warehouses_digest = st_state_warehouses_digest(state);
    part->catalog = info->worker == 0 ? st_state_catalog_digest(state) : 0;
    part->warehouses = stats.warehouses;
    slot_push(s, part);
    s->status = ST_OK;
}

// A worker's part of a snapshot request: the LSN its snapshot will cover.
static void
snapshot_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    (void)state;
    st_request *r = arg;
    st_query_slot *s = slot_of(r, info);
    ST_ASSERT(s->count == 0);
    uint64_t *lsn = st_arena_alloc(&s->arena, sizeof *lsn);
    *lsn = info->applied_lsn;
    slot_push(s, lsn);
    s->status = ST_OK;
}

// --- merging, in the done callback ---

// tally counts over every slot that ran: *count_out the items, *first_err_out
// the first non-OK status seen (ST_OK if none), *ok_out how many answered
// ST_OK.
static void
tally(const st_request *r, uint32_t *count_out, st_err *first_err_out, uint32_t *ok_out)
{
    uint32_t n = 0, ok = 0;
    st_err first = ST_OK;
    for (uint32_t w = 0; w < r->svc->workers; w++) {
        if (!r->slots[w].ran)
            continue;
        n += r->slots[w].count;
        if (r->slots[w].status == ST_OK)
            ok++;
        else if (first == ST_OK)
            first = r->slots[w].status;
    }
    *count_out = n;
    *first_err_out = first;
    *ok_out = ok;
}

// gather is tally, plus the items of every slot that ran concatenated into
// the request's arena.
static void **
gather(st_request *r, uint32_t *count_out, st_err *first_err_out, uint32_t *ok_out)
{
    tally(r, count_out, first_err_out, ok_out);
    uint32_t n = *count_out;
    void **all = st_arena_alloc(&r->arena, (n + 1) * sizeof *all);
    uint32_t k = 0;
    for (uint32_t w = 0; w < r->svc->workers; w++) {
        st_query_slot *s = &r->slots[w];
        if (s->ran && s->count) {
            memcpy(all + k, s->items, s->count * sizeof *all);
            k += s->count;
        }
    }
    ST_ASSERT(k == n);
    return all;
}

// gather_or_fail gathers the workers' items of a query that may name a
// warehouse, or, when no worker could answer, fails the request with the
// first refusal (an unknown warehouse by name) and returns NULL.
static void **
gather_or_fail(st_request *r, const char *what, const char *warehouse, uint32_t *n)
{
    uint32_t ok;
    st_err err;
    void **items = gather(r, n, &err, &ok);
    if (ok == 0 && err != ST_OK) {
        if (err == ST_UNKNOWN_WAREHOUSE)
            st_request_fail(r, err, "warehouse %s is not known", warehouse);
        else
            st_request_fail(r, err, "%s query failed: %s", what, st_err_str(err));
        return NULL;
    }
    return items;
}

// busy answers BUSY when a worker's ring was full; true if it did.
static bool
busy(st_request *r)
{
    if (r->req.status == ST_OK)
        return false;
    if (r->req.status == ST_BUSY)
        st_request_fail(r, ST_BUSY, "a worker's queue is full; retry shortly");
    else
        st_request_fail(r, r->req.status, "the query could not run: %s", st_err_str(r->req.status));
    return true;
}

// twin_done picks one answer among the workers': a warehouse (only its owner
// has it), else a catalog twin (every worker has the same), else the lowest
// worker's zone, shelf or device.
static void
twin_done(void *arg)
{
    st_request *r = arg;
    if (busy(r))
        return;
    const Stocktwin__TwinQuery *q = r->pb->query->twin;
    Stocktwin__TwinResult *best = NULL;
    for (uint32_t w = 0; w < r->svc->workers; w++) {
        st_query_slot *s = &r->slots[w];
        if (!s->ran || s->status != ST_OK || s->twin == NULL)
            continue;
        if (best == NULL || (s->twin->kind == STOCKTWIN__TWIN_KIND__TWIN_WAREHOUSE &&
                             best->kind != STOCKTWIN__TWIN_KIND__TWIN_WAREHOUSE))
            best = s->twin;
    }
    if (best == NULL) {
        if (q->warehouse[0])
            st_request_fail(r, ST_NOT_FOUND, "no twin %s in warehouse %s", q->id, q->warehouse);
        else
            st_request_fail(r, ST_NOT_FOUND, "no twin %s", q->id);
        return;
    }
    r->resp.result_case = STOCKTWIN__RESPONSE__RESULT_TWIN;
    r->resp.twin = best;
    st_request_finish(r);
}

static void
inventory_done(void *arg)
{
    st_request *r = arg;
    if (busy(r))
        return;
    const Stocktwin__InventoryQuery *q = r->pb->query->inventory;
    uint32_t n, ok, total = 0;
    st_err err;
    tally(r, &n, &err, &ok);
    if (ok == 0) {
        if (err == ST_UNKNOWN_WAREHOUSE || err == ST_OK)
            st_request_fail(r, ST_UNKNOWN_WAREHOUSE, "warehouse %s is not known", q->warehouse);
        else
            st_request_fail(r, err, "inventory of %s failed: %s", q->warehouse, st_err_str(err));
        return;
    }
    // The result goes out as hand-encoded parts (wire.h): its head, then
    // each worker's lines in worker order; resp itself carries no result.
    size_t lines_bytes = 0;
    for (uint32_t w = 0; w < r->svc->workers; w++) {
        const st_query_slot *s = &r->slots[w];
        if (s->ran) {
            total += s->total;
            lines_bytes += s->lines.len;
        }
    }
    uint8_t *head = st_arena_alloc(&r->arena, ST_WIRE_INVENTORY_HEAD_MAX(strlen(q->warehouse)));
    size_t head_len = st_wire_inventory_head(head, q->warehouse, total, lines_bytes);
    r->parts[0] = (st_request_part){.bytes = head, .len = head_len};
    r->parts_n = 1;
    r->parts_bytes = head_len + lines_bytes;
    for (uint32_t w = 0; w < r->svc->workers; w++) {
        const st_query_slot *s = &r->slots[w];
        if (s->ran && s->lines.len != 0) {
            ST_ASSERT(r->parts_n < ST_REQUEST_PARTS_MAX);
            r->parts[r->parts_n++] =
                (st_request_part){.bytes = s->lines.bytes, .len = s->lines.len};
        }
    }
    st_request_finish(r);
}

static int
by_warehouse(const void *a, const void *b)
{
    const Stocktwin__SkuWarehouse *x = *(Stocktwin__SkuWarehouse *const *)a;
    const Stocktwin__SkuWarehouse *y = *(Stocktwin__SkuWarehouse *const *)b;
    return strcmp(x->warehouse, y->warehouse);
}

static void
sku_done(void *arg)
{
    st_request *r = arg;
    if (busy(r))
        return;
    const char *sku = r->pb->query->sku->sku;
    uint32_t n, ok;
    st_err err;
    void **items = gather(r, &n, &err, &ok);
    if (ok == 0) {
        if (err == ST_UNKNOWN_PRODUCT || err == ST_OK)
            st_request_fail(r, ST_UNKNOWN_PRODUCT, "sku %s is not in the catalog", sku);
        else
            st_request_fail(r, err, "sku query for %s failed: %s", sku, st_err_str(err));
        return;
    }
    qsort(items, n, sizeof *items, by_warehouse);
    Stocktwin__SkuResult *res = st_arena_alloc(&r->arena, sizeof *res);
    stocktwin__sku_result__init(res);
    res->sku = (char *)sku;
    for (uint32_t w = 0; w < r->svc->workers; w++)
        if (r->slots[w].ran && r->slots[w].twin != NULL) {
            res->name = r->slots[w].twin->id;
            break;
        }
    res->n_warehouses = n;
    res->warehouses = (Stocktwin__SkuWarehouse **)items;
    r->resp.result_case = STOCKTWIN__RESPONSE__RESULT_SKU;
    r->resp.sku = res;
    st_request_finish(r);
}

// Newest first: by event time, then by the warehouse's alert sequence.
static int
newest_first(const void *a, const void *b)
{
    const Stocktwin__Alert *x = *(Stocktwin__Alert *const *)a;
    const Stocktwin__Alert *y = *(Stocktwin__Alert *const *)b;
    if (x->event_time_ms != y->event_time_ms)
        return x->event_time_ms > y->event_time_ms ? -1 : 1;
    if (x->alert_seq != y->alert_seq)
        return x->alert_seq > y->alert_seq ? -1 : 1;
    return strcmp(x->warehouse, y->warehouse);
}

static void
alerts_done(void *arg)
{
    st_request *r = arg;
    if (busy(r))
        return;
    const Stocktwin__AlertsQuery *q = r->pb->query->alerts;
    uint32_t n;
    void **items = gather_or_fail(r, "alerts", q->warehouse, &n);
    if (items == NULL)
        return;
    qsort(items, n, sizeof *items, newest_first);
    uint32_t limit = alerts_limit(q);
    Stocktwin__AlertsResult *res = st_arena_alloc(&r->arena, sizeof *res);
    stocktwin__alerts_result__init(res);
    res->n_alerts = n < limit ? n : limit;
    res->alerts = (Stocktwin__Alert **)items;
    r->resp.result_case = STOCKTWIN__RESPONSE__RESULT_ALERTS;
    r->resp.alerts = res;
    st_request_finish(r);
}

static int
by_warehouse_then_id(const void *a, const void *b)
{
    const Stocktwin__DeviceHealth *x = *(Stocktwin__DeviceHealth *const *)a;
    const Stocktwin__DeviceHealth *y = *(Stocktwin__DeviceHealth *const *)b;
    int c = strcmp(x->warehouse, y->warehouse);
    return c != 0 ? c : strcmp(x->id, y->id);
}

static void
devices_done(void *arg)
{
    st_request *r = arg;
    if (busy(r))
        return;
    const Stocktwin__DevicesQuery *q = r->pb->query->devices;
    uint32_t n;
    void **items = gather_or_fail(r, "devices", q->warehouse, &n);
    if (items == NULL)
        return;
    qsort(items, n, sizeof *items, by_warehouse_then_id);
    uint32_t limit = devices_limit(q), total = 0;
    for (uint32_t w = 0; w < r->svc->workers; w++)
        if (r->slots[w].ran && r->slots[w].status == ST_OK)
            total += r->slots[w].total;
    Stocktwin__DevicesResult *res = st_arena_alloc(&r->arena, sizeof *res);
    stocktwin__devices_result__init(res);
    res->n_devices = n < limit ? n : limit;
    res->devices = (Stocktwin__DeviceHealth **)items;
    res->total = total;
    r->resp.result_case = STOCKTWIN__RESPONSE__RESULT_DEVICES;
    r->resp.devices = res;
    st_request_finish(r);
}

// resident_bytes: VmRSS from /proc/self/statm (its second field, in pages);
// 0 if it cannot be read.
static uint64_t
resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

static void
stats_done(void *arg)
{
    st_request *r = arg;
    if (busy(r))
        return;
    uint32_t nw = r->svc->workers;
    Stocktwin__StatsResult *res = st_arena_alloc(&r->arena, sizeof *res);
    stocktwin__stats_result__init(res);
    res->workers = st_arena_alloc(&r->arena, nw * sizeof *res->workers);
    for (uint32_t w = 0; w < nw; w++) {
        st_query_slot *s = &r->slots[w];
        if (!s->ran || s->worker == NULL)
            continue;
        res->workers[res->n_workers++] = s->worker;
        if (s->products > res->products)
            res->products = s->products;
        if (s->suppliers > res->suppliers)
            res->suppliers = s->suppliers;
    }
    res->uptime_ms = (uint64_t)(st_service_now_ms() - r->svc->start_ms);
    res->resident_bytes = resident_bytes();
    res->rpc_contexts_ready = atomic_load(&r->svc->rpc_contexts_ready);
    res->role = r->svc->follower ? "follower" : r->svc->leader ? "leader" : "standalone";
    if (r->svc->leader != NULL) {
        st_repl_follower_info info[ST_REPL_FOLLOWERS_MAX];
        uint32_t n = st_repl_leader_followers(r->svc->leader, info, ST_REPL_FOLLOWERS_MAX);
        Stocktwin__FollowerStats *fs = st_arena_alloc(&r->arena, (n ? n : 1) * sizeof *fs);
        res->followers = st_arena_alloc(&r->arena, (n ? n : 1) * sizeof *res->followers);
        for (uint32_t i = 0; i < n; i++) {
            stocktwin__follower_stats__init(&fs[i]);
            fs[i].follower = st_arena_strdup(&r->arena, info[i].name);
            fs[i].lag_entries = info[i].lag_entries;
            fs[i].lag_ms = info[i].lag_ms;
            fs[i].last_seen_ms = info[i].last_seen_ms;
            res->followers[i] = &fs[i];
        }
        res->n_followers = n;
    }
    r->resp.result_case = STOCKTWIN__RESPONSE__RESULT_STATS;
    r->resp.stats = res;
    st_request_finish(r);
}

// digest_done adds the parts up: worker 0's catalog digest plus every
// worker's warehouses, mod 2^64, which is what one state holding everything
// would hash to (core/state.h), whatever the worker count.
static void
digest_done(void *arg)
{
    st_request *r = arg;
    if (busy(r))
        return;
    uint32_t nw = r->svc->workers;
    Stocktwin__DigestResult *res = st_arena_alloc(&r->arena, sizeof *res);
    stocktwin__digest_result__init(res);
    res->workers = st_arena_alloc(&r->arena, nw * sizeof *res->workers);
    for (uint32_t w = 0; w < nw; w++) {
        st_query_slot *s = &r->slots[w];
        // Not busy: every worker ran its callback, which left one part.
        ST_ASSERT(s->ran && s->status == ST_OK && s->count == 1);
        digest_part *part = s->items[0];
        ST_ASSERT(part->pb.worker == w && (w == 0 || part->catalog == 0));
        res->workers[res->n_workers++] = &part->pb;
        res->catalog_digest += part->catalog;
        res->digest += part->pb.warehouses_digest;
        res->warehouses += part->warehouses;
    }
    res->digest += res->catalog_digest;
    r->resp.result_case = STOCKTWIN__RESPONSE__RESULT_DIGEST;
    r->resp.digest = res;
    st_request_finish(r);
}

static void
snapshot_done(void *arg)
{
    st_request *r = arg;
    if (busy(r))
        return;
    uint32_t nw = r->svc->workers;
    Stocktwin__SnapshotResult *res = st_arena_alloc(&r->arena, sizeof *res);
    stocktwin__snapshot_result__init(res);
    res->from_lsn = st_arena_alloc(&r->arena, nw * sizeof *res->from_lsn);
    for (uint32_t w = 0; w < nw; w++) {
        st_query_slot *s = &r->slots[w];
        ST_ASSERT(s->ran && s->status == ST_OK && s->count == 1);
        res->from_lsn[res->n_from_lsn++] = *(const uint64_t *)s->items[0];
    }
    r->resp.result_case = STOCKTWIN__RESPONSE__RESULT_SNAPSHOT;
    r->resp.snapshot = res;
    st_request_finish(r);
}

// id_ok checks a required id of a query; on failure the request is answered.
static bool
id_ok(st_request *r, const char *what, const char *id, bool required)
{
    size_t n = strnlen(id, ST_ID_LEN_MAX + 1);
    if (required && n == 0) {
        st_request_fail(r, ST_INVALID_ARGUMENT, "%s is required", what);
        return false;
    }
    if (n > ST_ID_LEN_MAX) {
        st_request_fail(r, ST_INVALID_ARGUMENT, "%s is longer than %u bytes", what, ST_ID_LEN_MAX);
        return false;
    }
    return true;
}

// promote_run turns this follower into the leader (server.c does the work:
// stop following, record the next epoch, restart as leader after replying).
static void
promote_run(st_request *r)
{
    uint64_t epoch = 0;
    char why[512] = "";
    st_err err = ST_OK;
    if (r->svc->follower == NULL) {
        // Already a leader: promotion is idempotent, so that a client whose
        // reply was lost in the restart (nng's REQ sends again) learns the
        // outcome. Without a log there is no epoch to speak of.
        if (st_shards_sync_mode(r->svc->shards) == ST_SHARDS_SYNC_NONE) {
            st_request_fail(r, ST_INVALID_ARGUMENT, "this node is not a follower: nothing to promote");
            return;
        }
        epoch = st_shards_epoch(r->svc->shards);
    } else if (r->svc->promote == NULL) {
        st_request_fail(r, ST_INVALID_ARGUMENT, "this follower cannot restart itself as leader");
        return;
    } else {
        err = r->svc->promote(r->svc, &epoch, why, sizeof why);
    }
    if (err != ST_OK) {
        st_request_fail(r, err, "cannot promote: %s", why);
        return;
    }
    Stocktwin__PromoteResult *res = st_arena_alloc(&r->arena, sizeof *res);
    stocktwin__promote_result__init(res);
    res->epoch = epoch;
    r->resp.result_case = STOCKTWIN__RESPONSE__RESULT_PROMOTE;
    r->resp.promote = res;
    r->resp.status = STOCKTWIN__STATUS__STATUS_OK;
    st_request_finish(r);
}

void
st_query_run(st_request *r, const Stocktwin__Query *q)
{
    st_shards *sh = r->svc->shards;
    switch (q->kind_case) {
    case STOCKTWIN__QUERY__KIND_TWIN:
        if (!id_ok(r, "twin.id", q->twin->id, true) || !id_ok(r, "twin.warehouse", q->twin->warehouse, false))
            return;
        st_shards_query(sh, &r->req, q->twin->warehouse[0] ? q->twin->warehouse : NULL, twin_cb, r,
                        twin_done, r);
        return;
    case STOCKTWIN__QUERY__KIND_INVENTORY:
        if (!id_ok(r, "inventory.warehouse", q->inventory->warehouse, true))
            return;
        if (q->inventory->limit > ST_SERVER_INVENTORY_LIMIT_MAX) {
            st_request_fail(r, ST_INVALID_ARGUMENT, "inventory.limit %u is over the maximum of %u",
                            q->inventory->limit, ST_SERVER_INVENTORY_LIMIT_MAX);
            return;
        }
        st_shards_query(sh, &r->req, q->inventory->warehouse, inventory_cb, r, inventory_done, r);
        return;
    case STOCKTWIN__QUERY__KIND_SKU:
        if (!id_ok(r, "sku.sku", q->sku->sku, true))
            return;
        st_shards_query(sh, &r->req, NULL, sku_cb, r, sku_done, r);
        return;
    case STOCKTWIN__QUERY__KIND_ALERTS:
        if (!id_ok(r, "alerts.warehouse", q->alerts->warehouse, false))
            return;
        if (q->alerts->limit > ST_SERVER_ALERTS_LIMIT_MAX) {
            st_request_fail(r, ST_INVALID_ARGUMENT, "alerts.limit %u is over the maximum of %u",
                            q->alerts->limit, ST_SERVER_ALERTS_LIMIT_MAX);
            return;
        }
        st_shards_query(sh, &r->req, q->alerts->warehouse[0] ? q->alerts->warehouse : NULL, alerts_cb,
                        r, alerts_done, r);
        return;
    case STOCKTWIN__QUERY__KIND_DEVICES:
        if (!id_ok(r, "devices.warehouse", q->devices->warehouse, false))
            return;
        if (q->devices->limit > ST_SERVER_DEVICES_LIMIT_MAX) {
            st_request_fail(r, ST_INVALID_ARGUMENT, "devices.limit %u is over the maximum of %u",
                            q->devices->limit, ST_SERVER_DEVICES_LIMIT_MAX);
            return;
        }
        st_shards_query(sh, &r->req, q->devices->warehouse[0] ? q->devices->warehouse : NULL,
                        devices_cb, r, devices_done, r);
        return;
    case STOCKTWIN__QUERY__KIND_STATS:
        st_shards_query(sh, &r->req, NULL, stats_cb, r, stats_done, r);
        return;
    case STOCKTWIN__QUERY__KIND_DIGEST:
        st_shards_query(sh, &r->req, NULL, digest_cb, r, digest_done, r);
        return;
    case STOCKTWIN__QUERY__KIND_SNAPSHOT:
        if (st_shards_snapshot_request(sh) != ST_OK) {
            st_request_fail(r, ST_INVALID_ARGUMENT,
                            "stocktwind runs without a log (--data): there is nothing to snapshot");
            return;
        }
        st_shards_query(sh, &r->req, NULL, snapshot_cb, r, snapshot_done, r);
        return;
    case STOCKTWIN__QUERY__KIND_PROMOTE:
        promote_run(r);
        return;
    default:
        st_request_fail(r, ST_MALFORMED,
                        "the query has no kind (twin, inventory, sku, alerts, stats, digest, "
                        "snapshot, promote)");
        return;
    }
}
