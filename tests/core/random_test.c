// random_test.c - randomized property test of core: ≥100,000 random events,
// valid and invalid mixed, over six warehouses in one state, with the
// transfer outbox fed back (INBOUND delayed and sometimes redelivered,
// ARRIVED at once). After every event: st_state_verify() and the network
// conservation of DESIGN.md §3 (units change only by receipts, shipments and
// adjustments; the test tracks the expected total). At the end the accepted
// events replay into a fresh state with an identical digest (the lookahead
// walking ahead of the apply, as in a worker), and into two
// states splitting the warehouses (like two workers) whose catalog digest
// plus warehouse digests equal the single state's.
//
// Seed: ST_SEED in the environment (decimal or 0x hex), else a fixed default;
// failures print it. ST_EVENTS overrides the event count.
#include <stdio.h>
#include <stdlib.h>

#include "fixture.h"
#include "core/lookahead.h"
#include "core/reshard.h"
#include "core/snapshot.h"

#define WH_N 6
#define SKU_N 12
#define ORDER_N 20
#define PO_IDS 200
#define XFER_IDS 4000
#define DEFAULT_SEED 0x5eedULL

static uint64_t seed, rng;
static uint64_t step_no;
static uint64_t tick_seq, ticks_applied, alerts_timed;

#define CHECK(cond, ...)                                                                           \
    cr_assert((cond), "seed=0x%llx (rerun with ST_SEED=0x%llx) step %llu: %s",                     \
              (unsigned long long)seed, (unsigned long long)seed, (unsigned long long)step_no,     \
              #cond)

#define next() rng_next(&rng)
#define rnd(n) rng_below(&rng, (n))
#define chance(percent) (rng_below(&rng, 100) < (percent))

// --- names: static tables, so logged events keep valid pointers ------------

static const char *WH[WH_N + 1] = {"w0", "w1", "w2", "w3", "w4", "w5", "w-unknown"};
static char SKU[SKU_N + 1][8];
static const char *ZONES[] = {"z-r", "z-s", "z-x", "NOPE"};
static const char *LOCS[] = {"z-r", "z-s", "s1", "s2", "s3", "z-x", "NOPE"};
static char ORDER[ORDER_N][8];
static char PO[PO_IDS][8];
static char XFER[XFER_IDS][8];
static char RFID_DEV[WH_N + 1][16], WT1_DEV[WH_N + 1][16], WT2_DEV[WH_N + 1][16];
static const char *SOURCES[] = {"erp", "wms", "scanner"};
static uint64_t seqs[64];

static void
names_init(void)
{
    for (int i = 0; i < SKU_N; i++)
        snprintf(SKU[i], sizeof SKU[i], "P%d", i);
    snprintf(SKU[SKU_N], sizeof SKU[SKU_N], "BAD");
    for (int i = 0; i < ORDER_N; i++)
        snprintf(ORDER[i], sizeof ORDER[i], "o%d", i);
    for (int i = 0; i < PO_IDS; i++)
        snprintf(PO[i], sizeof PO[i], "p%d", i);
    for (int i = 0; i < XFER_IDS; i++)
        snprintf(XFER[i], sizeof XFER[i], "t%d", i);
    for (int w = 0; w <= WH_N; w++) {
        snprintf(RFID_DEV[w], sizeof RFID_DEV[w], "rfid-%s", WH[w]);
        snprintf(WT1_DEV[w], sizeof WT1_DEV[w], "wt1-%s", WH[w]);
        snprintf(WT2_DEV[w], sizeof WT2_DEV[w], "wt2-%s", WH[w]);
    }
}

// --- the log of accepted events ---------------------------------------------

typedef struct logged {
    st_event ev;
    st_err status;
} logged;

static logged *LOG;
static size_t log_n, log_cap;

static void
log_event(const st_event *ev, st_err status)
{
    if (log_n == log_cap) {
        log_cap = log_cap ? log_cap * 2 : 4096;
        LOG = realloc(LOG, log_cap * sizeof *LOG);
    }
    LOG[log_n].ev = *ev;
    if (ev->kind == ST_EV_RFID) {
        st_rfid_tag *tags = malloc(ev->u.rfid.tag_count * sizeof *tags + 1);
        memcpy(tags, ev->u.rfid.tags, ev->u.rfid.tag_count * sizeof *tags);
        LOG[log_n].ev.u.rfid.tags = tags;
    }
    LOG[log_n++].status = status;
}

static void
log_free(void)
{
    for (size_t i = 0; i < log_n; i++)
        if (LOG[i].ev.kind == ST_EV_RFID)
            free((void *)LOG[i].ev.u.rfid.tags);
    free(LOG);
    LOG = NULL;
    log_n = log_cap = 0;
}

// --- model bookkeeping the test needs ----------------------------------------

typedef struct xfer_info {
    int from, to;
    int64_t qty;
} xfer_info;

static xfer_info xfers[XFER_IDS];
static int xfer_next;
static st_event pending[XFER_IDS];
static int pending_n;
static st_event delivered[64];
static int delivered_n;
static int64_t expected_units;

static uint64_t status_seen[ST_NOT_FOUND + 1];

static st_err
apply_logged(st_event *ev)
{
    st_err err = st_state_apply(S, ev, &OUT);
    cr_assert(err <= ST_NOT_FOUND);
    status_seen[err]++;
    if (st_err_accepted(err))
        log_event(ev, err);
    return err;
}

static int
wh_index(const char *id)
{
    for (int w = 0; w <= WH_N; w++) // the unknown one may be created by an upsert
        if (strcmp(WH[w], id) == 0)
            return w;
    return -1;
}

// --- setup --------------------------------------------------------------------

static void
setup_apply(st_event ev)
{
    ev.source = ev.source ? ev.source : "setup";
    ev.seq = ++seqs[63];
    ev.event_time_ms = 1;
    st_err err = apply_logged(&ev);
    CHECK(err == ST_OK);
}

static void
world(void)
{
    for (int i = 0; i < SKU_N; i++) {
        st_event p = PRODUCT("x", 0, 0);
        p.u.product_upsert.sku = SKU[i];
        p.u.product_upsert.unit_weight_mg = i < 2 ? 1000 : (int64_t)rnd(3) * 250;
        p.u.product_upsert.reorder_point = rnd(8);
        setup_apply(p);
    }
    setup_apply(SUPPLIER("sup-a"));
    setup_apply(SUPPLIER("sup-b"));
    for (int w = 0; w < WH_N; w++) {
        st_event e = WAREHOUSE("x");
        e.warehouse = WH[w];
        setup_apply(e);
        st_event z = ZONE("x", ST_ZONE_STORAGE);
        z.warehouse = WH[w];
        if (w % 2 == 0) {
            z.u.zone_upsert.zone_id = "z-r";
            z.u.zone_upsert.type = ST_ZONE_RECEIVING;
            setup_apply(z);
        }
        z.u.zone_upsert.zone_id = "z-s";
        z.u.zone_upsert.type = ST_ZONE_STORAGE;
        setup_apply(z);
        shelf_spec specs[] = {
            {.id = "s1",
             .zone = "z-s",
             .sku = SKU[0],
             .max_mg = 30000,
             .tare_mg = 500,
             .tolerance = 1},
            {.id = "s2",
             .zone = "z-s",
             .sku = SKU[1],
             .authority = ST_AUTH_WEIGHT,
             .window_ms = 500,
             .threshold_mg = 3000},
            {.id = "s3", .zone = "z-s"},
        };
        for (int i = 0; i < 3; i++) {
            st_event sh = shelf_ev(specs[i]);
            sh.warehouse = WH[w];
            setup_apply(sh);
        }
        st_event d = DEVICE("x", ST_DEV_RFID, w % 2 == 0 ? "z-r" : "s3");
        d.warehouse = WH[w];
        d.u.device_upsert.device_id = RFID_DEV[w];
        setup_apply(d);
        d = DEVICE("x", ST_DEV_WEIGHT, "s1");
        d.warehouse = WH[w];
        d.u.device_upsert.device_id = WT1_DEV[w];
        setup_apply(d);
        d = DEVICE("x", ST_DEV_SMART_SHELF, "s2");
        d.warehouse = WH[w];
        d.u.device_upsert.device_id = WT2_DEV[w];
        setup_apply(d);
    }
}

// --- random events -------------------------------------------------------------

static const char *
any_sku(void)
{
    return SKU[chance(3) ? SKU_N : rnd(SKU_N)];
}

static const char *
any_loc(void)
{
    return LOCS[rnd(sizeof LOCS / sizeof LOCS[0] - (chance(5) ? 0 : 1))];
}

static int64_t
any_qty(void)
{
    if (chance(3))
        return chance(50) ? -1 : ST_QTY_MAX + 1;
    return rnd(12) + (chance(10) ? 0 : 1);
}

static st_rfid_tag rfid_tags[ST_RFID_TAGS_MAX + 1];

// random_stock_event makes one event of the stock and order families.
static st_event
random_stock_event(int w)
{
    st_event ev = {.warehouse = WH[w]};
    switch (rnd(12)) {
    case 0:
    case 1:
        return MOVE(ST_MOVE_RECEIVE, any_sku(), any_qty(), NULL, any_loc());
    case 2:
        return MOVE(ST_MOVE_PICK, any_sku(), any_qty(), any_loc(), NULL);
    case 3:
        return MOVE(chance(50) ? ST_MOVE_PUTAWAY : ST_MOVE_RELOCATE, any_sku(), any_qty(),
                    any_loc(), any_loc());
    case 4:
        ev = ADJUST(any_sku(), (int64_t)rnd(11) - 6, any_loc());
        return ev;
    case 5:
        return COUNT(any_loc(), any_sku(), any_qty());
    case 6:
    case 7:
        ev = RESERVE(ORDER[rnd(ORDER_N)], any_sku(), any_qty());
        if (chance(30)) // the ticks of one_step expire it
            ev.u.reserve.expires_at_ms = NOW + rnd(3000);
        return ev;
    case 8:
        return RELEASE(ORDER[rnd(ORDER_N)], any_sku(), rnd(5));
    case 9:
        return FULFIL(ORDER[rnd(ORDER_N)], any_sku(), rnd(4), chance(50) ? any_loc() : NULL);
    case 10: {
        uint32_t n = chance(2) ? ST_RFID_TAGS_MAX + 1 : rnd(5) + (chance(3) ? 0 : 1);
        for (uint32_t i = 0; i < n; i++)
            rfid_tags[i] = (st_rfid_tag){.sku = any_sku(), .qty = rnd(4)};
        ev.kind = ST_EV_RFID;
        ev.source = chance(95) ? RFID_DEV[w] : WT1_DEV[w];
        ev.u.rfid.direction = chance(3) ? ST_DIR_UNSPECIFIED : 1 + rnd(2);
        ev.u.rfid.tag_count = n;
        ev.u.rfid.tags = rfid_tags;
        return ev;
    }
    default: {
        bool s1 = chance(50);
        ev = WEIGHT(s1 ? WT1_DEV[w] : WT2_DEV[w], s1 ? "s1" : (chance(95) ? "s2" : "s1"),
                    (int64_t)rnd(40) * 1000 + rnd(1000));
        return ev;
    }
    }
}

static const char *
any_xfer(void)
{
    uint32_t n = (uint32_t)xfer_next + 1;
    return XFER[rnd(n < XFER_IDS ? n : XFER_IDS)];
}

static st_event
random_order_event(void)
{
    st_event ev = {0};
    switch (rnd(8)) {
    case 0:
    case 1:
        ev.kind = ST_EV_PO_CREATE;
        ev.u.po_create.po_id = PO[rnd(PO_IDS)];
        ev.u.po_create.supplier = chance(95) ? "sup-a" : "sup-x";
        ev.u.po_create.sku = any_sku();
        ev.u.po_create.qty = any_qty();
        ev.u.po_create.eta_ms = rnd(1000);
        return ev;
    case 2:
        ev.kind = ST_EV_PO_ETA;
        ev.u.po_eta.po_id = PO[rnd(PO_IDS)];
        ev.u.po_eta.eta_ms = rnd(100000);
        return ev;
    case 3:
    case 4:
        ev.kind = ST_EV_PO_RECEIVE;
        ev.u.po_receive.po_id = PO[rnd(PO_IDS)];
        ev.u.po_receive.qty = rnd(6) + 1;
        ev.u.po_receive.location = chance(50) ? NULL : any_loc();
        return ev;
    case 5:
        ev.kind = ST_EV_TRANSFER_DISPATCH;
        // A fresh id, or (rarely) one its source already used: CONFLICT there.
        ev.u.transfer_dispatch.transfer_id = XFER[xfer_next < XFER_IDS ? xfer_next : 0];
        if (xfer_next > 0 && (xfer_next >= XFER_IDS || chance(3))) {
            int r = (int)rnd((uint32_t)xfer_next);
            ev.u.transfer_dispatch.transfer_id = XFER[r];
            ev.warehouse = WH[xfers[r].from];
        }
        ev.u.transfer_dispatch.to_warehouse = WH[rnd(WH_N)];
        ev.u.transfer_dispatch.sku = any_sku();
        ev.u.transfer_dispatch.qty = any_qty();
        ev.u.transfer_dispatch.from_location = chance(50) ? NULL : any_loc();
        return ev;
    case 6:
        ev.kind = ST_EV_TRANSFER_POSITION;
        ev.u.transfer_position.transfer_id = any_xfer();
        ev.u.transfer_position.lat = (double)rnd(200) - 100.0;
        ev.u.transfer_position.lon = (double)rnd(360) - 180.0;
        return ev;
    default:
        ev.kind = ST_EV_TRANSFER_RECEIVE;
        ev.u.transfer_receive.transfer_id = any_xfer();
        ev.u.transfer_receive.location = chance(70) ? NULL : any_loc();
        return ev;
    }
}

static st_event
random_upsert_event(int w)
{
    st_event ev;
    switch (rnd(7)) {
    case 0:
        ev = PRODUCT("x", 0, 0);
        ev.u.product_upsert.sku = any_sku();
        ev.u.product_upsert.unit_weight_mg = rnd(3) * 500;
        ev.u.product_upsert.reorder_point = chance(3) ? -1 : (int64_t)rnd(8);
        if (ev.u.product_upsert.sku == SKU[0] || ev.u.product_upsert.sku == SKU[1])
            ev.u.product_upsert.unit_weight_mg = 1000;
        return ev;
    case 1:
        return SUPPLIER("sup-b");
    case 2:
        ev = POLICY("x", rnd(10));
        ev.u.stock_policy.sku = any_sku();
        return ev;
    case 3:
        ev = ZONE("x", rnd(8));
        ev.u.zone_upsert.zone_id = ZONES[rnd(4)];
        return ev;
    case 4:
        ev = DEVICE("x", ST_DEV_RFID, any_loc());
        ev.u.device_upsert.device_id = RFID_DEV[w];
        return ev;
    case 5: {
        shelf_spec sp = {.id = "s2",
                         .zone = "z-s",
                         .sku = SKU[1],
                         .authority = chance(50) ? ST_AUTH_WEIGHT : ST_AUTH_LEDGER,
                         .tolerance = rnd(3),
                         .window_ms = 500,
                         .threshold_mg = 3000};
        return shelf_ev(sp);
    }
    default:
        ev = WAREHOUSE("x");
        ev.warehouse = WH[w];
        return ev;
    }
}

// --- applying with conservation bookkeeping ------------------------------------

typedef struct rec {
    int64_t on_hand, reserved, bin;
} rec;

static rec
record(int w, const char *sku, const char *loc)
{
    if (!st_state_has_warehouse(S, WH[w]))
        return (rec){0};
    stock_probe p = stock_in(S, WH[w], sku, loc);
    return (rec){p.view.on_hand, p.view.reserved, p.bin_qty};
}

static void
deliver_arrived(void)
{
    CHECK(OUT.outbox_count == 1 && OUT.outbox[0].kind == ST_EV_TRANSFER_ARRIVED);
    st_event arrived = OUT.outbox[0];
    int src = wh_index(arrived.warehouse);
    int id = atoi(arrived.u.transfer_arrived.transfer_id + 1);
    CHECK(src >= 0 && xfers[id].from == src);
    st_err err = apply_logged(&arrived);
    CHECK(err == ST_OK);
    expected_units -= xfers[id].qty;
}

// expect_delta measures the local effect of the stock event just applied on
// the one record it may change and checks it against the event's meaning.
static void
account(const st_event *ev, int w, rec before, rec after, st_err err)
{
    if (err != ST_OK)
        return;
    int64_t d = after.on_hand - before.on_hand;
    switch (ev->kind) {
    case ST_EV_MOVEMENT:
        if (ev->u.movement.kind == ST_MOVE_RECEIVE)
            expected_units += ev->u.movement.qty;
        else if (ev->u.movement.kind == ST_MOVE_PICK)
            expected_units -= ev->u.movement.qty;
        else if (ev->u.movement.kind == ST_MOVE_ADJUST)
            expected_units += ev->u.movement.delta;
        break;
    case ST_EV_COUNT:
        cr_assert(
            d == ev->u.count.qty - before.bin,
            "seed=0x%llx step %llu: count %s/%s in %s to %lld: bin %lld, on_hand %lld -> %lld",
            (unsigned long long)seed, (unsigned long long)step_no, ev->u.count.location,
            ev->u.count.sku, ev->warehouse, (long long)ev->u.count.qty, (long long)before.bin,
            (long long)before.on_hand, (long long)after.on_hand);
        expected_units += d;
        break;
    case ST_EV_FULFIL:
        CHECK(d == -(before.reserved - after.reserved) && d < 0);
        CHECK(ev->u.fulfil.qty == 0 || d == -ev->u.fulfil.qty);
        expected_units += d;
        break;
    case ST_EV_WEIGHT:
        if (strcmp(ev->u.weight.shelf, "s1") == 0)
            CHECK(d == 0); // s1 is under LEDGER authority: readings never move stock
        expected_units += d;
        break;
    case ST_EV_PO_RECEIVE:
        expected_units += ev->u.po_receive.qty;
        break;
    case ST_EV_TRANSFER_DISPATCH: {
        int id = atoi(ev->u.transfer_dispatch.transfer_id + 1);
        xfers[id] = (xfer_info){.from = w,
                                .to = wh_index(ev->u.transfer_dispatch.to_warehouse),
                                .qty = ev->u.transfer_dispatch.qty};
        if (id >= xfer_next)
            xfer_next = id + 1;
        CHECK(OUT.outbox_count == 1 && pending_n < XFER_IDS);
        pending[pending_n++] = OUT.outbox[0];
        break;
    }
    case ST_EV_TRANSFER_RECEIVE:
        expected_units += xfers[atoi(ev->u.transfer_receive.transfer_id + 1)].qty;
        deliver_arrived();
        break;
    default:
        break;
    }
}

// rfid_apply handles scans tag by tag sku: each sku's record may only lose up
// to what was asked (outbound) or gain exactly it (inbound).
static st_err
rfid_apply(st_event *ev, int w)
{
    rec before[ST_RFID_TAGS_MAX];
    uint32_t n = ev->u.rfid.tag_count > ST_RFID_TAGS_MAX ? 0 : ev->u.rfid.tag_count;
    int64_t total_before = st_state_network_units(S);
    for (uint32_t i = 0; i < n; i++)
        before[i] = record(w, ev->u.rfid.tags[i].sku, NULL);
    st_err err = apply_logged(ev);
    if (err != ST_OK)
        return err;
    int64_t asked_total = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t q = ev->u.rfid.tags[i].qty ? ev->u.rfid.tags[i].qty : 1;
        asked_total += q;
        rec after = record(w, ev->u.rfid.tags[i].sku, NULL);
        if (ev->u.rfid.direction == ST_DIR_OUTBOUND)
            CHECK(after.on_hand <= before[i].on_hand && after.reserved <= after.on_hand);
    }
    int64_t d = st_state_network_units(S) - total_before;
    if (ev->u.rfid.direction == ST_DIR_INBOUND)
        CHECK(d == asked_total);
    else
        CHECK(d <= 0 && d >= -asked_total);
    expected_units += d;
    return err;
}

static const char *
probe_sku(const st_event *ev)
{
    switch (ev->kind) {
    case ST_EV_COUNT:
        return ev->u.count.sku;
    case ST_EV_FULFIL:
        return ev->u.fulfil.sku;
    case ST_EV_WEIGHT:
        return strcmp(ev->u.weight.shelf, "s2") == 0 ? SKU[1] : SKU[0];
    default:
        return NULL;
    }
}

static void
deliver_pending(void)
{
    if (pending_n == 0)
        return;
    int i = (int)rnd((uint32_t)pending_n);
    st_event ev = pending[i];
    pending[i] = pending[--pending_n];
    st_err err = apply_logged(&ev);
    cr_assert(err == ST_OK, "seed=0x%llx step %llu: inbound %s: %s (%s)", (unsigned long long)seed,
              (unsigned long long)step_no, ev.u.transfer_inbound.transfer_id, st_err_str(err),
              OUT.message);
    if (err == ST_OK && delivered_n < 64)
        delivered[delivered_n++] = ev;
    else if (err == ST_OK)
        delivered[rnd(64)] = ev;
}

static void
one_step(void)
{
    int w = chance(1) ? WH_N : (int)rnd(WH_N);
    uint32_t family = rnd(100);
    st_event ev = family < 60   ? random_stock_event(w)
                  : family < 90 ? random_order_event()
                                : random_upsert_event(w);
    if (!ev.warehouse)
        ev.warehouse = WH[w];
    uint32_t src = rnd(3);
    if (!ev.source)
        ev.source = SOURCES[src];
    else
        src = 3 + (uint32_t)w * 3 + (ev.kind == ST_EV_RFID ? 0 : 1);
    ev.seq = chance(8) && seqs[src] > 2 ? seqs[src] - rnd(70) : ++seqs[src];
    if (ev.seq == 0 || ev.seq > seqs[src])
        ev.seq = ++seqs[src];
    NOW += rnd(40);
    ev.event_time_ms = chance(3) && NOW > 600 ? NOW - rnd(600) : NOW;
    bool check_digest = rnd(20) == 0;
    uint64_t digest = check_digest ? st_state_digest(S) : 0;
    st_err err;
    if (ev.kind == ST_EV_RFID) {
        err = rfid_apply(&ev, w);
    } else {
        const char *sku = probe_sku(&ev);
        const char *loc = ev.kind == ST_EV_COUNT ? ev.u.count.location : NULL;
        rec before = sku ? record(w, sku, loc) : (rec){0};
        err = apply_logged(&ev);
        rec after = sku ? record(w, sku, loc) : (rec){0};
        account(&ev, w, before, after, err);
    }
    if (check_digest && !st_err_accepted(err))
        CHECK(st_state_digest(S) == digest);
    if (chance(30))
        deliver_pending();
    if (chance(3)) { // the clock: expiries, silent devices, late orders
        st_event tick = {.kind = ST_EV_TICK,
                         .source = ST_TICK_SOURCE,
                         .seq = ++tick_seq,
                         .event_time_ms = NOW,
                         .warehouse = WH[w],
                         .u.tick.device_silent_ms = chance(10) ? 0 : 2000};
        st_err e = apply_logged(&tick);
        CHECK(e == ST_OK || (e == ST_UNKNOWN_WAREHOUSE && !st_state_has_warehouse(S, WH[w])));
        CHECK(e != ST_OK || OUT.change_count <= ST_APPLY_CHANGES_MAX);
        ticks_applied += e == ST_OK;
        alerts_timed += (uint64_t)alerts_of(ST_ALERT_DEVICE_SILENT) +
                        (uint64_t)alerts_of(ST_ALERT_SHIPMENT_DELAYED);
    }
    if (chance(2) && delivered_n) { // redelivery: the window makes it harmless
        st_event again = delivered[rnd((uint32_t)delivered_n)];
        st_err e2 = st_state_apply(S, &again, &OUT);
        CHECK(e2 == ST_DUPLICATE);
        log_event(&again, e2);
    }
    st_state_verify(S);
    CHECK(st_state_network_units(S) == expected_units);
}

// --- replay -------------------------------------------------------------------------

// fresh makes a state whose bin lookups walk `walk` bins before the index
// (st_state_config.bin_walk): the run itself uses the default (8, more than
// any chain here), the replays 1 to 3, so bin_index is exercised and must
// not change a single status or the digest.
static st_state *
fresh(uint32_t walk)
{
    st_state *r;
    st_state_config cfg = {.bin_walk = walk};
    cr_assert_eq(st_state_create(&cfg, &r), ST_OK);
    return r;
}

// replay_single replays the log into one state with the lookahead walking
// the next events' records (core/lookahead.h), as workers apply: the run
// itself had none, so every status and the digest must come out the same.
// Now and then the walks go on with nothing applied: they change nothing.
static void
replay_single(uint64_t want)
{
    st_state *r = fresh(1);
    st_lookahead la;
    st_lookahead_reset(&la);
    for (size_t i = 0; i + 1 < ST_LOOKAHEAD && i < log_n; i++)
        st_lookahead_push(r, &la, &LOG[i].ev);
    for (size_t i = 0; i < log_n; i++) {
        size_t k = i + ST_LOOKAHEAD - 1;
        st_lookahead_push(r, &la, k < log_n ? &LOG[k].ev : NULL);
        if (i % 997 == 0) {
            uint64_t before = st_state_digest(r);
            st_lookahead idle = la;
            for (size_t n = 0; n < ST_LOOKAHEAD; n++)
                st_lookahead_push(r, &idle, &LOG[(i + n) % log_n].ev);
            CHECK(st_state_digest(r) == before);
        }
        st_err err = st_state_apply(r, &LOG[i].ev, &OUT);
        step_no = i;
        CHECK(err == LOG[i].status);
    }
    st_state_verify(r);
    CHECK(st_state_digest(r) == want);
    st_state_destroy(r);
}

// replay_split routes the same log over two states (even and odd warehouses),
// catalog events to both, like two workers.
static void
replay_split(uint64_t want)
{
    st_state *part[2] = {fresh(2), fresh(0)};
    for (size_t i = 0; i < log_n; i++) {
        const st_event *ev = &LOG[i].ev;
        step_no = i;
        if (st_event_is_catalog(ev->kind)) {
            CHECK(st_state_apply(part[0], ev, &OUT) == LOG[i].status);
            CHECK(st_state_apply(part[1], ev, &OUT) == LOG[i].status);
            continue;
        }
        int w = wh_index(ev->warehouse);
        CHECK(w >= 0);
        CHECK(st_state_apply(part[w % 2], ev, &OUT) == LOG[i].status);
    }
    uint64_t c0 = st_state_catalog_digest(part[0]);
    CHECK(c0 == st_state_catalog_digest(part[1]));
    uint64_t sum = c0;
    for (int w = 0; w <= WH_N; w++) {
        CHECK(st_state_warehouse_digest(part[1 - w % 2], WH[w]) == 0);
        sum += st_state_warehouse_digest(part[w % 2], WH[w]);
    }
    CHECK(sum == want);
    st_state_destroy(part[0]);
    st_state_destroy(part[1]);
}

// replay_reshard replays the first half split over two states (even and odd
// warehouses), moves the warehouses to three states (st_state_adopt_*: the
// catalog from the first, each warehouse to w % 3), replays the second half
// over the three: every status and the summed digest must be the
// uninterrupted run's, and each state must pass the invariant checks.
static void
replay_reshard(uint64_t want)
{
    st_state *two[2], *three[3];
    for (int k = 0; k < 2; k++)
        two[k] = fresh(k ? 0 : 3);
    for (int k = 0; k < 3; k++)
        three[k] = fresh((uint32_t)k + 1);
    size_t half = log_n / 2;
    for (size_t i = 0; i < log_n; i++) {
        const st_event *ev = &LOG[i].ev;
        step_no = i;
        if (i == half) {
            char why[256];
            for (int k = 0; k < 3; k++)
                CHECK(st_state_adopt_catalog(three[k], two[0]) == ST_OK);
            for (int k = 0; k < 2; k++)
                for (uint32_t j = 0; st_state_warehouse_id(two[k], j) != NULL; j++) {
                    int w = wh_index(st_state_warehouse_id(two[k], j));
                    CHECK(w >= 0);
                    cr_assert_eq(st_state_adopt_warehouse(three[w % 3], two[k], j, why, sizeof why),
                                 ST_OK, "%s", why);
                }
            for (int k = 0; k < 3; k++)
                st_state_verify(three[k]);
        }
        st_state **part = i < half ? two : three;
        int parts = i < half ? 2 : 3;
        if (st_event_is_catalog(ev->kind)) {
            for (int k = 0; k < parts; k++)
                CHECK(st_state_apply(part[k], ev, &OUT) == LOG[i].status);
            continue;
        }
        int w = wh_index(ev->warehouse);
        CHECK(w >= 0);
        CHECK(st_state_apply(part[w % parts], ev, &OUT) == LOG[i].status);
    }
    uint64_t sum = st_state_catalog_digest(three[0]);
    for (int w = 0; w <= WH_N; w++)
        sum += st_state_warehouse_digest(three[w % 3], WH[w]);
    CHECK(sum == want);
    for (int k = 0; k < 3; k++) {
        st_state_verify(three[k]);
        st_state_destroy(three[k]);
    }
    for (int k = 0; k < 2; k++)
        st_state_destroy(two[k]);
}

// --- snapshots -------------------------------------------------------------------------

static st_state *
image_load(const image *im, st_err want, uint32_t walk)
{
    st_state *r = fresh(walk);
    char why[256];
    st_err err = st_state_load(r, im->buf, im->len, why, sizeof why);
    if (err != want)
        cr_log_error("loading %zu bytes: %s (%s)", im->len, st_err_str(err), why);
    CHECK(err == want);
    CHECK((err == ST_OK) == (why[0] == '\0'));
    if (err != ST_OK) {
        st_state_destroy(r);
        return NULL;
    }
    return r;
}

// replay_snapshot replays the first half of the log, saves the state, loads
// the image into a fresh state and replays the second half there: every
// status and the final digest must be those of the uninterrupted run. Then
// the image cut at many offsets is refused, and flipped bytes are refused or
// loaded, never trusted past the checks (ASan watches the loads).
static void
replay_snapshot(uint64_t want)
{
    st_state *r = fresh(2);
    size_t half = log_n / 2;
    for (size_t i = 0; i < half; i++)
        CHECK(st_state_apply(r, &LOG[i].ev, &OUT) == LOG[i].status);
    image im = {0};
    CHECK(st_state_save(r, image_put, &im));
    st_state *loaded = image_load(&im, ST_OK, 1);
    st_state_verify(loaded);
    CHECK(st_state_digest(loaded) == st_state_digest(r));
    for (size_t i = half; i < log_n; i++) {
        step_no = i;
        st_err err = st_state_apply(loaded, &LOG[i].ev, &OUT);
        CHECK(err == LOG[i].status);
    }
    st_state_verify(loaded);
    CHECK(st_state_digest(loaded) == want);
    // The image of the loaded state loads to the same state again.
    image again = {0};
    CHECK(st_state_save(loaded, image_put, &again));
    st_state *twice = image_load(&again, ST_OK, 0);
    CHECK(st_state_digest(twice) == want);
    st_state_destroy(twice);
    st_state_destroy(loaded);
    st_state_destroy(r);
    cr_log_info("snapshot at entry %zu: %zu bytes", half, im.len);

    size_t full = im.len;
    for (size_t k = 0; k < 600; k++) {
        im.len = k < 300 ? k : (size_t)(next() % full);
        CHECK(image_load(&im, ST_MALFORMED, 2) == NULL);
    }
    im.len = full;
    for (int k = 0; k < 300; k++) {
        size_t at = (size_t)(next() % full);
        uint8_t was = im.buf[at];
        im.buf[at] ^= (uint8_t)(1u << (next() % 8));
        st_state *f;
        char why[256];
        cr_assert_eq(st_state_create(NULL, &f), ST_OK);
        (void)st_state_load(f, im.buf, im.len, why, sizeof why);
        st_state_destroy(f);
        im.buf[at] = was;
    }
    free(im.buf);
    free(again.buf);
}

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

Test(random, conservation_verify_and_replay, .timeout = 600)
{
    seed = env_u64("ST_SEED", DEFAULT_SEED);
    uint64_t events = env_u64("ST_EVENTS", 100000);
    rng = seed;
    names_init();
    cr_assert_eq(st_state_create(NULL, &S), ST_OK);
    world();
    expected_units = 0;
    for (step_no = 0; step_no < events; step_no++)
        one_step();
    while (pending_n)
        deliver_pending();
    st_state_verify(S);
    CHECK(st_state_network_units(S) == expected_units);
    uint64_t want = st_state_digest(S);
    st_state_stats st;
    st_state_stats_get(S, &st);
    cr_log_info("seed 0x%llx: %zu accepted of %llu events, %llu stock records, %llu alerts",
                (unsigned long long)seed, log_n, (unsigned long long)events,
                (unsigned long long)st.stock_records, (unsigned long long)st.alerts_raised);
    CHECK(log_n > events / 4);
    for (int e = 0; e <= ST_NOT_FOUND; e++)
        if (status_seen[e])
            cr_log_info("  %-20s %llu", st_err_str((st_err)e), (unsigned long long)status_seen[e]);
    CHECK(st.alerts_raised > 0 && st.stock_records > 0);
    cr_log_info("  %llu ticks, %llu timer alerts", (unsigned long long)ticks_applied,
                (unsigned long long)alerts_timed);
    CHECK(ticks_applied > 0 && alerts_timed > 0);
    replay_single(want);
    replay_split(want);
    replay_reshard(want);
    replay_snapshot(want);
    st_state_destroy(S);
    S = NULL;
    log_free();
}
