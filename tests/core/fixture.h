// fixture.h - shared helpers of the core unit tests: a state with a small
// catalog and one warehouse, shorthand to apply events, and readers of a
// stock record's numbers and bins through the public query API, and a
// buffer for state images.
#ifndef ST_TESTS_CORE_FIXTURE_H
#define ST_TESTS_CORE_FIXTURE_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/state.h"

static st_state *S;
static st_apply_out OUT;
static uint64_t SEQ;
static int64_t NOW = 1000;

// ap applies `ev` with defaults: source "test", the next seq, warehouse
// "wh1" and the current NOW when not set.
__attribute__((unused)) static st_err
ap(st_event ev)
{
    if (!ev.source)
        ev.source = "test";
    if (!ev.seq)
        ev.seq = ++SEQ;
    if (!ev.warehouse && !st_event_is_catalog(ev.kind))
        ev.warehouse = "wh1";
    if (!ev.event_time_ms)
        ev.event_time_ms = NOW;
    return st_state_apply(S, &ev, &OUT);
}

__attribute__((unused)) static st_err
ap_in(st_state *state, st_event ev)
{
    st_state *saved = S;
    S = state;
    st_err err = ap(ev);
    S = saved;
    return err;
}

#define OK(expr) cr_assert_eq((expr), ST_OK, "%s: %s (%s)", #expr, st_err_str(expr), OUT.message)
#define IS(expr, code)                                                                             \
    do {                                                                                           \
        st_err e_ = (expr);                                                                        \
        cr_assert_eq(e_, (code), "%s: got %s, want %s (%s)", #expr, st_err_str(e_),                \
                     st_err_str(code), OUT.message);                                               \
    } while (0)

#define PRODUCT(sku_, uw, rp)                                                                      \
    ((st_event){.kind = ST_EV_PRODUCT_UPSERT,                                                      \
                .u.product_upsert = {.sku = (sku_),                                                \
                                     .name = "name of " sku_,                                      \
                                     .unit_weight_mg = (uw),                                       \
                                     .reorder_point = (rp)}})
#define SUPPLIER(id_)                                                                              \
    ((st_event){.kind = ST_EV_SUPPLIER_UPSERT,                                                     \
                .u.supplier_upsert = {.supplier_id = (id_), .name = "supplier " id_}})
#define WAREHOUSE(id_)                                                                             \
    ((st_event){                                                                                   \
        .kind = ST_EV_WAREHOUSE_UPSERT,                                                            \
        .warehouse = (id_),                                                                        \
        .u.warehouse_upsert = {.name = "the " id_, .location = "Berlin", .total_capacity = 1000}})
#define ZONE(id_, type_)                                                                           \
    ((st_event){.kind = ST_EV_ZONE_UPSERT,                                                         \
                .u.zone_upsert = {.zone_id = (id_), .name = "zone " id_, .type = (type_)}})
#define DEVICE(id_, kind_, bound_)                                                                 \
    ((st_event){.kind = ST_EV_DEVICE_UPSERT,                                                       \
                .u.device_upsert = {.device_id = (id_), .kind = (kind_), .bound_to = (bound_)}})
#define MOVE(kind_, sku_, qty_, from_, to_)                                                        \
    ((st_event){.kind = ST_EV_MOVEMENT,                                                            \
                .u.movement = {.kind = (kind_),                                                    \
                               .sku = (sku_),                                                      \
                               .qty = (qty_),                                                      \
                               .from_location = (from_),                                           \
                               .to_location = (to_)}})
#define ADJUST(sku_, delta_, loc_)                                                                 \
    ((st_event){.kind = ST_EV_MOVEMENT,                                                            \
                .u.movement = {.kind = ST_MOVE_ADJUST,                                             \
                               .sku = (sku_),                                                      \
                               .delta = (delta_),                                                  \
                               .to_location = (loc_),                                              \
                               .reason = "damage"}})
#define RECEIVE(sku_, qty_, to_) MOVE(ST_MOVE_RECEIVE, sku_, qty_, NULL, to_)
#define PICK(sku_, qty_, from_) MOVE(ST_MOVE_PICK, sku_, qty_, from_, NULL)
#define COUNT(loc_, sku_, qty_)                                                                    \
    ((st_event){.kind = ST_EV_COUNT, .u.count = {.location = (loc_), .sku = (sku_), .qty = (qty_)}})
#define RESERVE(order_, sku_, qty_)                                                                \
    ((st_event){.kind = ST_EV_RESERVE,                                                             \
                .u.reserve = {.order_id = (order_), .sku = (sku_), .qty = (qty_)}})
#define RELEASE(order_, sku_, qty_)                                                                \
    ((st_event){.kind = ST_EV_RELEASE,                                                             \
                .u.release = {.order_id = (order_), .sku = (sku_), .qty = (qty_)}})
#define FULFIL(order_, sku_, qty_, from_)                                                          \
    ((st_event){                                                                                   \
        .kind = ST_EV_FULFIL,                                                                      \
        .u.fulfil = {                                                                              \
            .order_id = (order_), .sku = (sku_), .qty = (qty_), .from_location = (from_)}})
#define POLICY(sku_, rp_)                                                                          \
    ((st_event){                                                                                   \
        .kind = ST_EV_STOCK_POLICY,                                                                \
        .u.stock_policy = {                                                                        \
            .sku = (sku_), .reorder_point = (rp_), .safety_stock = 1, .order_up_to = 100}})
#define WEIGHT(dev_, shelf_, mg_)                                                                  \
    ((st_event){.kind = ST_EV_WEIGHT,                                                              \
                .source = (dev_),                                                                  \
                .u.weight = {.shelf = (shelf_), .weight_mg = (mg_)}})

typedef struct shelf_spec {
    const char *id, *zone, *sku;
    int64_t max_mg, tare_mg;
    st_authority authority;
    int64_t tolerance, window_ms, threshold_mg;
} shelf_spec;

__attribute__((unused)) static st_event
shelf_ev(shelf_spec sp)
{
    return (st_event){.kind = ST_EV_SHELF_UPSERT,
                      .u.shelf_upsert = {.shelf_id = sp.id,
                                         .zone_id = sp.zone,
                                         .max_weight_mg = sp.max_mg,
                                         .tare_mg = sp.tare_mg,
                                         .sku = sp.sku,
                                         .authority = sp.authority,
                                         .tolerance_units = sp.tolerance,
                                         .anomaly_window_ms = sp.window_ms,
                                         .anomaly_threshold_mg = sp.threshold_mg}};
}

// setup_world: catalog SKU1 (1 g a unit, reorder point 5), SKU2 (no weight,
// reorder point 0), SKU3; supplier SUP1; warehouse wh1 with zones RCV
// (receiving) and STO (storage); shelf S1 in STO holding SKU1 (ledger, max
// 100 g, tare 1 g, tolerance 2), shelf S2 holding SKU1 under weight
// authority; devices rfid1 (RCV), w1 (S1), w2 (S2), bc1 (barcode).
__attribute__((unused)) static void
setup_world(void)
{
    SEQ = 0;
    NOW = 1000;
    cr_assert_eq(st_state_create(NULL, &S), ST_OK);
    OK(ap(PRODUCT("SKU1", 1000, 5)));
    OK(ap(PRODUCT("SKU2", 0, 0)));
    OK(ap(PRODUCT("SKU3", 500, 0)));
    OK(ap(SUPPLIER("SUP1")));
    OK(ap(WAREHOUSE("wh1")));
    OK(ap(ZONE("RCV", ST_ZONE_RECEIVING)));
    OK(ap(ZONE("STO", ST_ZONE_STORAGE)));
    OK(ap(shelf_ev((shelf_spec){.id = "S1",
                                .zone = "STO",
                                .sku = "SKU1",
                                .max_mg = 100000,
                                .tare_mg = 1000,
                                .tolerance = 2})));
    OK(ap(shelf_ev(
        (shelf_spec){.id = "S2", .zone = "STO", .sku = "SKU1", .authority = ST_AUTH_WEIGHT})));
    OK(ap(DEVICE("rfid1", ST_DEV_RFID, "RCV")));
    OK(ap(DEVICE("w1", ST_DEV_WEIGHT, "S1")));
    OK(ap(DEVICE("w2", ST_DEV_SMART_SHELF, "S2")));
    OK(ap(DEVICE("bc1", ST_DEV_BARCODE, NULL)));
}

__attribute__((unused)) static void
teardown_world(void)
{
    if (S)
        st_state_verify(S);
    st_state_destroy(S);
    S = NULL;
}

typedef struct stock_probe {
    const char *sku;
    const char *loc; // zone or shelf id to read a bin of
    bool found;
    st_stock_view view;
    int64_t bin_qty;
} stock_probe;

__attribute__((unused)) static bool
stock_probe_cb(void *arg, const st_stock_view *v)
{
    stock_probe *p = arg;
    if (strcmp(v->sku, p->sku) != 0)
        return true;
    p->found = true;
    p->view = *v;
    p->view.locations = NULL;
    for (uint32_t i = 0; p->loc && i < v->location_count; i++) {
        const st_location_qty *l = &v->locations[i];
        if (strcmp(*l->shelf ? l->shelf : l->zone, p->loc) == 0)
            p->bin_qty = l->qty;
    }
    return false;
}

// stock_in reads (warehouse, sku); found=false when there is no record.
__attribute__((unused)) static stock_probe
stock_in(st_state *state, const char *wh, const char *sku, const char *loc)
{
    stock_probe p = {.sku = sku, .loc = loc};
    st_inventory_query q = {.warehouse = wh};
    cr_assert_eq(st_state_inventory(state, &q, stock_probe_cb, &p, NULL), ST_OK);
    return p;
}

__attribute__((unused)) static stock_probe
stock(const char *sku)
{
    return stock_in(S, "wh1", sku, NULL);
}

__attribute__((unused)) static int64_t
bin(const char *sku, const char *loc)
{
    return stock_in(S, "wh1", sku, loc).bin_qty;
}

__attribute__((unused)) static int
alerts_of(st_alert_kind kind)
{
    int n = 0;
    for (uint32_t i = 0; i < OUT.alert_count; i++)
        n += OUT.alerts[i].kind == kind;
    return n;
}

__attribute__((unused)) static const st_alert *
alert_of(st_alert_kind kind)
{
    for (uint32_t i = 0; i < OUT.alert_count; i++)
        if (OUT.alerts[i].kind == kind)
            return &OUT.alerts[i];
    return NULL;
}

// rng_next: splitmix64 over *state, the tests' reproducible generator;
// rng_below: uniform enough below n (> 0) for tests.
__attribute__((unused)) static uint64_t
rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

__attribute__((unused)) static uint32_t
rng_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(rng_next(state) % n);
}

// image collects a state image written through st_state_save or the
// st_snap_* calls (image_put is their callback); the caller frees buf.
typedef struct image {
    uint8_t *buf;
    size_t len, cap;
} image;

__attribute__((unused)) static bool
image_put(void *arg, const void *buf, size_t len)
{
    image *im = arg;
    if (im->len + len > im->cap) {
        im->cap = (im->len + len) * 2;
        im->buf = realloc(im->buf, im->cap);
        cr_assert_not_null(im->buf);
    }
    memcpy(im->buf + im->len, buf, len);
    im->len += len;
    return true;
}

#endif
