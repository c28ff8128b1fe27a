// demo.c - the demo network and its device simulator. See demo.h.
//
// The simulator keeps a mirror of what it put where (per warehouse and sku:
// units on the shelf, in the receiving zone, reserved, the open purchase order
// and customer order), so that its weight readings agree with the ledger
// except when it means them not to: a bump on a LEDGER shelf (WEIGHT_ANOMALY,
// DISCREPANCY, maybe OVER_CAPACITY) or a vanished unit on a WEIGHT shelf (the
// scale wins: an adjustment). Every action goes through st_shards_submit and
// waits for its statuses; the mirror changes only for accepted events.
#include "server/demo.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "server/server.h"
#include "server/wire.h"

#define DEMO_WAREHOUSES 2
#define DEMO_PRODUCTS 8
#define DEMO_PAIRS (DEMO_WAREHOUSES * DEMO_PRODUCTS)
#define DEMO_BATCH_MAX 256u
#define DEMO_ALERT_LINES 128u
#define DEMO_LINE_MAX 200u
#define DEMO_TICK_MS 100
#define DEMO_WINDOW_MS 10000

typedef struct demo_product {
    const char *sku, *name, *category;
    int64_t unit_mg, reorder_point, cost_cents;
} demo_product;

// The seed article's Product model: sku, productName, unitWeight, reorderPoint.
static const demo_product products[DEMO_PRODUCTS] = {
    {"SKU-1001", "Widget A", "widgets", 250000, 20, 450},
    {"SKU-1002", "Gadget B", "gadgets", 1200000, 12, 2900},
    {"SKU-1003", "Bolt pack M8", "fasteners", 500000, 15, 320},
    {"SKU-1004", "USB-C cable 2 m", "cables", 180000, 25, 690},
    {"SKU-1005", "Sensor module", "electronics", 90000, 10, 1850},
    {"SKU-1006", "Battery pack", "power", 2000000, 8, 5400},
    {"SKU-1007", "Label roll", "supplies", 300000, 18, 250},
    {"SKU-1008", "Pallet wrap", "supplies", 4000000, 6, 1500},
};

typedef struct demo_wh {
    const char *id, *name, *city, *shelf_letter;
    const char *zones[4]; // receiving, storage, picking, shipping
    const char *rfid_in, *rfid_out;
    int64_t capacity;
} demo_wh;

static const demo_wh warehouses[DEMO_WAREHOUSES] = {
    {"wh-berlin", "Berlin DC", "Berlin, DE", "A",
     {"ber-receiving", "ber-storage", "ber-picking", "ber-shipping"}, "rfid-ber-in", "rfid-ber-out", 50000},
    {"wh-munich", "Munich DC", "Munich, DE", "M",
     {"muc-receiving", "muc-storage", "muc-picking", "muc-shipping"}, "rfid-muc-in", "rfid-muc-out", 40000},
};

static const st_zone_type zone_types[4] = {ST_ZONE_RECEIVING, ST_ZONE_STORAGE, ST_ZONE_PICKING,
                                           ST_ZONE_SHIPPING};
static const char *const zone_names[4] = {"Receiving", "Storage", "Picking", "Shipping"};

// The mirror of one (warehouse, sku).
typedef struct demo_pair {
    int wh, prod;
    char shelf[16], scale[16], zone[16];
    bool weight_authority;
    int64_t tare_mg, max_mg, threshold_mg, order_up_to;
    int64_t shelf_qty, recv_qty, reserved;
    bool po_open;
    char po_id[32];
    int64_t po_qty, po_arrive_ms;
    uint32_t po_count;
    bool order_open;
    char order_id[32];
    int64_t order_qty, order_due_ms;
    uint32_t order_count;
} demo_pair;

typedef struct demo_view_line {
    char sku[ST_ID_LEN_MAX + 1];
    int64_t available, reorder_point;
    bool below;
} demo_view_line;

struct st_demo {
    st_demo_config cfg;
    st_shards *shards;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_bool loading; // alerts of the model's first state are counted, not printed
    uint64_t seq;
    uint64_t rng;
    demo_pair pairs[DEMO_PAIRS];
    // One batch at a time, submitted and waited for.
    st_event batch[DEMO_BATCH_MAX];
    st_err statuses[DEMO_BATCH_MAX];
    st_rfid_tag tags[DEMO_BATCH_MAX];
    uint32_t count, tag_count;
    st_shards_req req;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    uint64_t accepted, refused;
    // Alerts from the workers, printed by the simulator thread.
    pthread_mutex_t alert_mu;
    char alert_lines[DEMO_ALERT_LINES][DEMO_LINE_MAX];
    uint32_t alert_head, alert_tail;
    uint64_t alerts_total;
    // Live view scratch, written by one worker at a time.
    demo_view_line view[DEMO_PRODUCTS * 4];
    uint32_t view_count;
    const char *view_wh;
    uint64_t worker_accepted[ST_SHARDS_WORKERS_MAX], worker_rejected[ST_SHARDS_WORKERS_MAX];
};

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
rnd(st_demo *d)
{
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return d->rng;
}

// rnd_in returns a number in [lo, hi].
static int64_t
rnd_in(st_demo *d, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd(d) % (uint64_t)(hi - lo + 1));
}

static void
done_cb(void *arg)
{
    st_demo *d = arg;
    pthread_mutex_lock(&d->mu);
    d->done = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void
wait_done(st_demo *d)
{
    pthread_mutex_lock(&d->mu);
    while (!d->done)
        pthread_cond_wait(&d->cv, &d->mu);
    d->done = false;
    pthread_mutex_unlock(&d->mu);
}

// ev appends an event with a fresh (source, seq) and the real clock's time.
static st_event *
ev(st_demo *d, st_event_kind kind, const char *source, const char *warehouse)
{
    ST_ASSERT(d->count < DEMO_BATCH_MAX);
    st_event *e = &d->batch[d->count++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->source = source;
    e->seq = ++d->seq;
    e->event_time_ms = now_ms();
    e->warehouse = warehouse;
    return e;
}

// flush submits the batch and waits for its statuses; returns how many were
// refused (the statuses stay readable until the next ev()).
static uint32_t
flush(st_demo *d)
{
    uint32_t n = d->count, bad = 0;
    if (n == 0)
        return 0;
    st_shards_submit(d->shards, &d->req, d->batch, d->statuses, n, done_cb, d);
    wait_done(d);
    for (uint32_t i = 0; i < n; i++) {
        if (st_err_accepted(d->statuses[i])) {
            d->accepted++;
        } else {
            d->refused++;
            bad++;
        }
    }
    d->count = 0;
    d->tag_count = 0;
    return bad;
}

// --- the model ---

// make_id names an order of a shelf: "po-A3-7", "so-M1-12".
static void
make_id(char out[32], const char *prefix, const demo_pair *x, uint32_t n)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%s-%s-%u", prefix, x->shelf + 6, n);
    memcpy(out, buf, sizeof buf);
}

static void
init_pairs(st_demo *d)
{
    for (int w = 0; w < DEMO_WAREHOUSES; w++) {
        for (int p = 0; p < DEMO_PRODUCTS; p++) {
            demo_pair *x = &d->pairs[w * DEMO_PRODUCTS + p];
            const demo_product *pr = &products[p];
            x->wh = w;
            x->prod = p;
            snprintf(x->shelf, sizeof x->shelf, "shelf-%s%d", warehouses[w].shelf_letter, p + 1);
            snprintf(x->scale, sizeof x->scale, "scale-%s%d", warehouses[w].shelf_letter, p + 1);
            // Shelves 1-4 in storage, 5-8 in picking.
            snprintf(x->zone, sizeof x->zone, "%s", warehouses[w].zones[p < 4 ? 1 : 2]);
            x->weight_authority = (p % 2) == 0; // odd shelves: the scale is truth
            x->order_up_to = pr->reorder_point * 3;
            x->tare_mg = 15000000 + p * 1000000;
            // A putaway up to order-up-to never crosses the anomaly threshold;
            // a bump of more than it does.
            x->threshold_mg = pr->unit_mg * (x->order_up_to + 5);
            x->max_mg = x->tare_mg + 2 * x->order_up_to * pr->unit_mg;
        }
    }
}

static void
load_catalog(st_demo *d)
{
    for (int p = 0; p < DEMO_PRODUCTS; p++) {
        st_event *e = ev(d, ST_EV_PRODUCT_UPSERT, "demo-erp", NULL);
        e->u.product_upsert.sku = products[p].sku;
        e->u.product_upsert.name = products[p].name;
        e->u.product_upsert.category = products[p].category;
        e->u.product_upsert.unit_weight_mg = products[p].unit_mg;
        e->u.product_upsert.unit_cost_cents = products[p].cost_cents;
        e->u.product_upsert.reorder_point = products[p].reorder_point;
    }
    st_event *e = ev(d, ST_EV_SUPPLIER_UPSERT, "demo-erp", NULL);
    e->u.supplier_upsert.supplier_id = "sup-acme";
    e->u.supplier_upsert.name = "ACME Components GmbH";
    e = ev(d, ST_EV_SUPPLIER_UPSERT, "demo-erp", NULL);
    e->u.supplier_upsert.supplier_id = "sup-nordic";
    e->u.supplier_upsert.name = "Nordic Supply AB";
}

static void
device(st_demo *d, const char *wh, const char *id, st_device_kind kind, const char *bound_to)
{
    st_event *e = ev(d, ST_EV_DEVICE_UPSERT, "demo-erp", wh);
    e->u.device_upsert.device_id = id;
    e->u.device_upsert.kind = kind;
    e->u.device_upsert.bound_to = bound_to;
}

static void
load_warehouse(st_demo *d, int w)
{
    const demo_wh *wh = &warehouses[w];
    st_event *e = ev(d, ST_EV_WAREHOUSE_UPSERT, "demo-erp", wh->id);
    e->u.warehouse_upsert.name = wh->name;
    e->u.warehouse_upsert.location = wh->city;
    e->u.warehouse_upsert.total_capacity = wh->capacity;
    for (int z = 0; z < 4; z++) {
        e = ev(d, ST_EV_ZONE_UPSERT, "demo-erp", wh->id);
        e->u.zone_upsert.zone_id = wh->zones[z];
        e->u.zone_upsert.name = zone_names[z];
        e->u.zone_upsert.type = zone_types[z];
    }
    device(d, wh->id, wh->rfid_in, ST_DEV_RFID, wh->zones[0]);
    device(d, wh->id, wh->rfid_out, ST_DEV_RFID, wh->zones[3]);
    for (int p = 0; p < DEMO_PRODUCTS; p++) {
        demo_pair *x = &d->pairs[w * DEMO_PRODUCTS + p];
        e = ev(d, ST_EV_SHELF_UPSERT, "demo-erp", wh->id);
        e->u.shelf_upsert.shelf_id = x->shelf;
        e->u.shelf_upsert.zone_id = x->zone;
        e->u.shelf_upsert.max_weight_mg = x->max_mg;
        e->u.shelf_upsert.tare_mg = x->tare_mg;
        e->u.shelf_upsert.sku = products[p].sku;
        e->u.shelf_upsert.authority = x->weight_authority ? ST_AUTH_WEIGHT : ST_AUTH_LEDGER;
        e->u.shelf_upsert.tolerance_units = 0;
        e->u.shelf_upsert.anomaly_window_ms = DEMO_WINDOW_MS;
        e->u.shelf_upsert.anomaly_threshold_mg = x->threshold_mg;
        device(d, wh->id, x->scale, ST_DEV_WEIGHT, x->shelf);
        e = ev(d, ST_EV_STOCK_POLICY, "demo-erp", wh->id);
        e->u.stock_policy.sku = products[p].sku;
        e->u.stock_policy.reorder_point = products[p].reorder_point;
        e->u.stock_policy.safety_stock = products[p].reorder_point / 2;
        e->u.stock_policy.order_up_to = x->order_up_to;
    }
}

// first_receipts fills every shelf a little above its reorder point through
// purchase orders received straight onto the shelf, so LOW_STOCK comes
// within seconds once picking starts.
static void
first_receipts(st_demo *d)
{
    for (int i = 0; i < DEMO_PAIRS; i++) {
        demo_pair *x = &d->pairs[i];
        const char *wh = warehouses[x->wh].id;
        int64_t qty = products[x->prod].reorder_point + rnd_in(d, 6, 14);
        make_id(x->po_id, "po", x, ++x->po_count);
        st_event *e = ev(d, ST_EV_PO_CREATE, "demo-erp", wh);
        e->u.po_create.po_id = x->po_id;
        e->u.po_create.supplier = (x->prod % 2) ? "sup-nordic" : "sup-acme";
        e->u.po_create.sku = products[x->prod].sku;
        e->u.po_create.qty = qty;
        e->u.po_create.eta_ms = now_ms();
        e = ev(d, ST_EV_PO_RECEIVE, "demo-erp", wh);
        e->u.po_receive.po_id = x->po_id;
        e->u.po_receive.qty = qty;
        e->u.po_receive.location = x->shelf;
        x->shelf_qty = qty;
    }
}

// load submits the model phase by phase (the catalog first, so the
// warehouses' events find their products) and insists that all of it was
// accepted: a refusal here is a bug in the demo or in core.
static st_err
load(st_demo *d, char *err, size_t err_len)
{
    init_pairs(d);
    for (int phase = 0; phase < 3; phase++) {
        if (phase == 0)
            load_catalog(d);
        else if (phase == 1)
            for (int w = 0; w < DEMO_WAREHOUSES; w++)
                load_warehouse(d, w);
        else
            first_receipts(d);
        uint32_t n = d->count;
        if (flush(d) == 0)
            continue;
        for (uint32_t i = 0; i < n; i++) {
            if (st_err_accepted(d->statuses[i]))
                continue;
            uint32_t m = atomic_load(&d->req.message_count);
            const char *why = "";
            for (uint32_t k = 0; k < m && k < ST_SHARDS_MESSAGES_MAX; k++)
                if (d->req.messages[k].index == i)
                    why = d->req.messages[k].text;
            snprintf(err, err_len, "demo: loading the model, event %u (kind %d) was refused: %s %s", i,
                     (int)d->batch[i].kind, st_err_str(d->statuses[i]), why);
            return ST_INTERNAL;
        }
    }
    return ST_OK;
}

// --- the simulator ---

static int64_t
available(const demo_pair *x)
{
    return x->shelf_qty + x->recv_qty - x->reserved;
}

// weight_reading makes the shelf's scale report: the true weight plus a
// little noise (less than a unit, so weight to quantity is exact), plus
// `extra_mg` when something leans on the shelf.
static void
weight_reading(st_demo *d, demo_pair *x, int64_t units, int64_t extra_mg)
{
    int64_t unit = products[x->prod].unit_mg;
    int64_t noise = rnd_in(d, 0, (unit / 4 < 20000 ? unit / 4 : 20000));
    st_event *e = ev(d, ST_EV_WEIGHT, x->scale, warehouses[x->wh].id);
    e->u.weight.shelf = x->shelf;
    e->u.weight.weight_mg = x->tare_mg + units * unit + noise + extra_mg;
}

static void
act_reading(st_demo *d, demo_pair *x)
{
    weight_reading(d, x, x->shelf_qty, 0);
    flush(d);
}

// act_order reserves a few units for a customer order, fulfilled from the
// shelf a second or three later.
static void
act_order(st_demo *d, demo_pair *x)
{
    int64_t qty = rnd_in(d, 1, 4);
    if (x->order_open || x->shelf_qty - x->reserved < qty)
        return;
    make_id(x->order_id, "so", x, ++x->order_count);
    st_event *e = ev(d, ST_EV_RESERVE, "demo-oms", warehouses[x->wh].id);
    e->u.reserve.order_id = x->order_id;
    e->u.reserve.sku = products[x->prod].sku;
    e->u.reserve.qty = qty;
    if (flush(d) == 0) {
        x->order_open = true;
        x->order_qty = qty;
        x->reserved += qty;
        x->order_due_ms = now_ms() + rnd_in(d, 1000, 3000);
    }
}

static void
fulfil_due(st_demo *d, demo_pair *x, int64_t now)
{
    if (!x->order_open || now < x->order_due_ms)
        return;
    st_event *e = ev(d, ST_EV_FULFIL, "demo-oms", warehouses[x->wh].id);
    e->u.fulfil.order_id = x->order_id;
    e->u.fulfil.sku = products[x->prod].sku;
    e->u.fulfil.qty = x->order_qty;
    e->u.fulfil.from_location = x->shelf;
    weight_reading(d, x, x->shelf_qty - x->order_qty, 0);
    flush(d);
    // Shipped, or at least the WEIGHT shelf's scale said it was gone.
    if (st_err_accepted(d->statuses[0]) || (x->weight_authority && st_err_accepted(d->statuses[1])))
        x->shelf_qty -= x->order_qty;
    x->reserved -= x->order_qty;
    x->order_open = false;
}

// act_ship moves units from the shelf to the shipping dock, where the
// outbound RFID portal sees them leave.
static void
act_ship(st_demo *d, demo_pair *x)
{
    int64_t qty = rnd_in(d, 1, 5);
    if (x->shelf_qty - x->reserved < qty)
        return;
    const demo_wh *wh = &warehouses[x->wh];
    st_event *e = ev(d, ST_EV_MOVEMENT, "demo-wms", wh->id);
    e->u.movement.kind = ST_MOVE_RELOCATE;
    e->u.movement.sku = products[x->prod].sku;
    e->u.movement.qty = qty;
    e->u.movement.from_location = x->shelf;
    e->u.movement.to_location = wh->zones[3];
    st_rfid_tag *tag = &d->tags[d->tag_count++];
    tag->sku = products[x->prod].sku;
    tag->qty = qty;
    tag->epc = NULL;
    e = ev(d, ST_EV_RFID, wh->rfid_out, wh->id);
    e->u.rfid.direction = ST_DIR_OUTBOUND;
    e->u.rfid.tag_count = 1;
    e->u.rfid.tags = tag;
    flush(d);
    if (st_err_accepted(d->statuses[0]))
        x->shelf_qty -= qty;
}

// act_return: a customer return comes through the inbound portal into the
// receiving zone; the next putaway takes it to the shelf.
static void
act_return(st_demo *d, demo_pair *x)
{
    const demo_wh *wh = &warehouses[x->wh];
    st_rfid_tag *tag = &d->tags[d->tag_count++];
    tag->sku = products[x->prod].sku;
    tag->qty = rnd_in(d, 1, 2);
    tag->epc = NULL;
    st_event *e = ev(d, ST_EV_RFID, wh->rfid_in, wh->id);
    e->u.rfid.direction = ST_DIR_INBOUND;
    e->u.rfid.tag_count = 1;
    e->u.rfid.tags = tag;
    int64_t qty = tag->qty;
    if (flush(d) == 0)
        x->recv_qty += qty;
}

// act_bump: a forklift leans on a LEDGER shelf for one reading.
static void
act_bump(st_demo *d, demo_pair *x)
{
    if (x->weight_authority)
        return;
    weight_reading(d, x, x->shelf_qty, x->threshold_mg + x->threshold_mg / 5 + 1000000);
    flush(d);
}

// act_shrink: a unit vanishes from a WEIGHT shelf; the scale is truth.
static void
act_shrink(st_demo *d, demo_pair *x)
{
    if (!x->weight_authority || x->shelf_qty - x->reserved < 1)
        return;
    weight_reading(d, x, x->shelf_qty - 1, 0);
    if (flush(d) == 0)
        x->shelf_qty -= 1;
}

// replenish runs the purchasing side: order up to the policy when available
// falls to the reorder point, receive the order when it arrives a few
// seconds later, and put away what sits in receiving.
static void
replenish(st_demo *d, demo_pair *x, int64_t now)
{
    const demo_wh *wh = &warehouses[x->wh];
    const char *sku = products[x->prod].sku;
    if (x->recv_qty > 0) {
        st_event *e = ev(d, ST_EV_MOVEMENT, "demo-wms", wh->id);
        e->u.movement.kind = ST_MOVE_PUTAWAY;
        e->u.movement.sku = sku;
        e->u.movement.qty = x->recv_qty;
        e->u.movement.from_location = wh->zones[0];
        e->u.movement.to_location = x->shelf;
        int64_t qty = x->recv_qty;
        if (flush(d) == 0) {
            x->recv_qty -= qty;
            x->shelf_qty += qty;
        }
    }
    if (x->po_open && now >= x->po_arrive_ms) {
        st_event *e = ev(d, ST_EV_PO_RECEIVE, "demo-erp", wh->id);
        e->u.po_receive.po_id = x->po_id;
        e->u.po_receive.qty = x->po_qty;
        e->u.po_receive.location = wh->zones[0];
        if (flush(d) == 0)
            x->recv_qty += x->po_qty;
        x->po_open = false;
    } else if (!x->po_open && available(x) <= products[x->prod].reorder_point) {
        make_id(x->po_id, "po", x, ++x->po_count);
        x->po_qty = x->order_up_to - available(x);
        x->po_arrive_ms = now + rnd_in(d, 6000, 12000);
        st_event *e = ev(d, ST_EV_PO_CREATE, "demo-erp", wh->id);
        e->u.po_create.po_id = x->po_id;
        e->u.po_create.supplier = (x->prod % 2) ? "sup-nordic" : "sup-acme";
        e->u.po_create.sku = sku;
        e->u.po_create.qty = x->po_qty;
        e->u.po_create.eta_ms = x->po_arrive_ms;
        x->po_open = flush(d) == 0;
    }
}

// act picks one action for a random shelf, weighted like a busy afternoon:
// mostly scale readings and orders, some shipments, the odd return, bump
// and shrinkage.
static void
act(st_demo *d)
{
    demo_pair *x = &d->pairs[rnd(d) % DEMO_PAIRS];
    uint64_t r = rnd(d) % 100;
    if (r < 40)
        act_reading(d, x);
    else if (r < 72)
        act_order(d, x);
    else if (r < 90)
        act_ship(d, x);
    else if (r < 95)
        act_return(d, x);
    else if (r < 98)
        act_bump(d, x);
    else
        act_shrink(d, x);
}

// --- the live view ---

static bool
view_line_cb(void *arg, const st_stock_view *v)
{
    st_demo *d = arg;
    if (d->view_count >= sizeof d->view / sizeof d->view[0])
        return false;
    demo_view_line *l = &d->view[d->view_count++];
    snprintf(l->sku, sizeof l->sku, "%s", v->sku);
    l->available = v->available;
    l->reorder_point = v->reorder_point;
    l->below = v->below_reorder;
    return true;
}

static void
view_query_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_demo *d = arg;
    (void)info;
    st_inventory_query q = {.warehouse = d->view_wh, .limit = DEMO_PRODUCTS * 4};
    d->view_count = 0;
    st_state_inventory(state, &q, view_line_cb, d, NULL);
}

static void
stats_query_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    st_demo *d = arg;
    (void)state;
    d->worker_accepted[info->worker] = info->events_accepted;
    d->worker_rejected[info->worker] = info->events_rejected;
}

// print_view prints the counters and, per warehouse, each sku's available
// units against its reorder point ("!" marks those at or below it).
static void
print_view(st_demo *d)
{
    FILE *out = d->cfg.out;
    st_shards_query(d->shards, &d->req, NULL, stats_query_cb, d, done_cb, d);
    wait_done(d);
    uint64_t acc = 0, rej = 0;
    for (uint32_t w = 0; w < st_shards_workers(d->shards) && w < ST_SHARDS_WORKERS_MAX; w++) {
        acc += d->worker_accepted[w];
        rej += d->worker_rejected[w];
    }
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    pthread_mutex_lock(&d->alert_mu);
    uint64_t alerts = d->alerts_total;
    pthread_mutex_unlock(&d->alert_mu);
    fprintf(out, "-- %02d:%02d:%02d  events accepted %" PRIu64 ", refused %" PRIu64 ", alerts %" PRIu64
                 "  (sku available/reorder point, ! = at or below)\n",
            tm.tm_hour, tm.tm_min, tm.tm_sec, acc, rej, alerts);
    for (int w = 0; w < DEMO_WAREHOUSES; w++) {
        d->view_wh = warehouses[w].id;
        st_shards_query(d->shards, &d->req, d->view_wh, view_query_cb, d, done_cb, d);
        wait_done(d);
        for (uint32_t i = 0; i < d->view_count; i++) {
            const demo_view_line *l = &d->view[i];
            if (i % 4 == 0)
                fprintf(out, "   %-10s", i == 0 ? warehouses[w].id : "");
            fprintf(out, "  %s %3" PRId64 "/%-3" PRId64 "%s", l->sku, l->available, l->reorder_point,
                    l->below ? "!" : " ");
            if (i % 4 == 3 || i + 1 == d->view_count)
                fputc('\n', out);
        }
    }
    fflush(out);
}

static void
print_alerts(st_demo *d)
{
    char line[DEMO_LINE_MAX];
    for (;;) {
        pthread_mutex_lock(&d->alert_mu);
        bool any = d->alert_head != d->alert_tail;
        if (any) {
            memcpy(line, d->alert_lines[d->alert_tail % DEMO_ALERT_LINES], sizeof line);
            d->alert_tail++;
        }
        pthread_mutex_unlock(&d->alert_mu);
        if (!any)
            break;
        fprintf(d->cfg.out, "%s\n", line);
    }
    fflush(d->cfg.out);
}

void
st_demo_note_alert(void *arg, const st_alert *a)
{
    st_demo *d = arg;
    char text[ST_WIRE_MESSAGE_MAX];
    st_wire_alert_text(a, text, sizeof text);
    pthread_mutex_lock(&d->alert_mu);
    d->alerts_total++;
    if (!d->cfg.quiet && !atomic_load(&d->loading) && d->alert_head - d->alert_tail < DEMO_ALERT_LINES) {
        const char *what = a->sku && a->sku[0] ? a->sku : (a->location ? a->location : "");
        const char *where = a->sku && a->sku[0] && a->location && a->location[0] ? a->location : "";
        snprintf(d->alert_lines[d->alert_head % DEMO_ALERT_LINES], DEMO_LINE_MAX, "ALERT %s %s %s %s%s%s",
                 st_wire_alert_kind_name(a->kind), a->warehouse ? a->warehouse : "", what, text,
                 where[0] ? " at " : "", where);
        d->alert_head++;
    }
    pthread_mutex_unlock(&d->alert_mu);
}

// run paces the simulator: every tick it spends the events the rate allows
// on random actions, then fulfils due orders and runs purchasing, prints the
// alerts that fired and, every view period, the live view.
static void *
run(void *arg)
{
    st_demo *d = arg;
    double budget = 0;
    int64_t next_view = now_ms() + d->cfg.view_ms;
    while (!atomic_load(&d->stop)) {
        int64_t tick_start = now_ms();
        budget += d->cfg.rate * (DEMO_TICK_MS / 1000.0);
        for (uint64_t before = d->accepted + d->refused; budget >= 1 && !atomic_load(&d->stop);) {
            act(d);
            uint64_t after = d->accepted + d->refused;
            budget -= after > before ? (double)(after - before) : 0.25;
            before = after;
        }
        for (int i = 0; i < DEMO_PAIRS; i++) {
            fulfil_due(d, &d->pairs[i], now_ms());
            replenish(d, &d->pairs[i], now_ms());
        }
        if (!d->cfg.quiet) {
            print_alerts(d);
            if (now_ms() >= next_view) {
                print_view(d);
                next_view += d->cfg.view_ms;
            }
        }
        int64_t left = DEMO_TICK_MS - (now_ms() - tick_start);
        if (left > 0)
            nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = left * 1000000}, NULL);
    }
    return NULL;
}

st_demo *
st_demo_create(const st_demo_config *cfg)
{
    ST_ASSERT(cfg != NULL && cfg->rate >= 1 && cfg->out != NULL);
    st_demo *d = st_calloc(1, sizeof *d);
    d->cfg = *cfg;
    if (d->cfg.view_ms == 0)
        d->cfg.view_ms = 5000;
    d->rng = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ull | 1u;
    // Seqs start from the clock so a restarted demo's sources look new.
    d->seq = (uint64_t)now_ms() * 1000;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    pthread_mutex_init(&d->alert_mu, NULL);
    return d;
}

static void
print_hints(st_demo *d)
{
    FILE *out = d->cfg.out;
    fprintf(out,
            "demo: %d warehouses (wh-berlin, wh-munich), %d products, %d shelves with scales, %d RFID "
            "portals; simulating about %u events/s\n",
            DEMO_WAREHOUSES, DEMO_PRODUCTS, DEMO_PAIRS, 2 * DEMO_WAREHOUSES, d->cfg.rate);
    bool custom = strcmp(d->cfg.rpc_url, ST_SERVER_RPC_URL_DEFAULT) != 0;
    fprintf(out, "look around from another terminal%s%s%s:\n", custom ? " (add --url " : "",
            custom ? d->cfg.rpc_url : "", custom ? ")" : "");
    if (custom)
        fprintf(out, "  (and --feed with the feed URL for alerts --follow)\n");
    fprintf(out, "  stocktwin inventory wh-berlin\n"
                 "  stocktwin sku SKU-1001\n"
                 "  stocktwin alerts --follow\n"
                 "  stocktwin twin shelf-A1\n"
                 "  stocktwin stats\n");
    fflush(out);
}

st_err
st_demo_start(st_demo *d, st_shards *shards, char *err, size_t err_len)
{
    ST_ASSERT(d != NULL && shards != NULL && !d->started);
    d->shards = shards;
    atomic_store(&d->loading, true);
    st_err rc = load(d, err, err_len);
    atomic_store(&d->loading, false);
    if (rc != ST_OK)
        return rc;
    if (!d->cfg.quiet)
        print_hints(d);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        snprintf(err, err_len, "demo: cannot start the simulator thread");
        return ST_INTERNAL;
    }
    d->started = true;
    return ST_OK;
}

void
st_demo_stop(st_demo *d)
{
    if (d == NULL || !d->started)
        return;
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
    d->started = false;
}

void
st_demo_destroy(st_demo *d)
{
    if (d == NULL)
        return;
    st_demo_stop(d);
    pthread_mutex_destroy(&d->alert_mu);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    st_free(d);
}
