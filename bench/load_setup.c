// load_setup.c - the load generator's own twins, before anything is measured:
// the catalog (SKU-000000.. with a unit weight and a reorder point), the
// warehouses wh-00.., in each a RECEIVING zone "recv", a STORAGE zone "stor"
// and a shelf "shelf-1" in stor holding SKU-000000 (ledger authority, a
// tolerance and an anomaly threshold so large that the constant readings of
// the load never raise alerts), and for every in-flight slot an RFID reader
// bound to recv and a scale bound to shelf-1. The initial stock (one RECEIVE
// into stor per warehouse and sku) is sent by load_gen.c's setup loop.
//
// Names of warehouses, zones, shelves and products are the same in every run,
// so a later run may skip this (--no-setup); sources and devices carry the
// run id, so runs against the same daemon never collide on (source, seq).
//
// Thread: the main thread, with one blocking st_client of its own.
#include <string.h>
#include <time.h>

#include "load.h"

#define SETUP_BATCH ST_CLIENT_BATCH_MAX

// The setup's own source and seq (blocking requests, one at a time).
typedef struct setup_ctx {
    load_run *r;
    st_client *c;
    char source[LOAD_ID_MAX + 1];
    uint64_t seq;
    int64_t time_ms;
    Stocktwin__Event ev[SETUP_BATCH];
    Stocktwin__Event *ptr[SETUP_BATCH];
    uint32_t n;
    // Submessages, one per event of the batch being built.
    Stocktwin__ProductUpsert pu[SETUP_BATCH];
    Stocktwin__DeviceUpsert du[SETUP_BATCH];
    char ids[SETUP_BATCH][LOAD_ID_MAX + 1];
} setup_ctx;

static Stocktwin__Event *
setup_next(setup_ctx *x, const char *warehouse)
{
    LOAD_ASSERT(x->n < SETUP_BATCH);
    Stocktwin__Event *e = &x->ev[x->n];
    stocktwin__event__init(e);
    e->source = x->source;
    e->seq = ++x->seq;
    e->event_time_ms = x->time_ms;
    e->warehouse = (char *)(warehouse ? warehouse : "");
    x->ptr[x->n++] = e;
    return e;
}

// Sends the events gathered so far; every one must be accepted (OK,
// DUPLICATE or STALE: a topology upsert of a rerun is STALE, which is fine).
static int
setup_flush(setup_ctx *x, const char *what)
{
    if (x->n == 0)
        return 0;
    Stocktwin__Response *resp = NULL;
    int rc = st_client_submit(x->c, x->ptr, x->n, &resp);
    int bad = rc != 0;
    if (rc != 0)
        fprintf(stderr, "stocktwin-load: setup (%s): %s: %s\n", what, st_status_name(rc),
                st_client_last_error(x->c));
    for (size_t i = 0; !bad && i < resp->n_statuses; i++) {
        if (!st_status_accepted(resp->statuses[i]->status)) {
            fprintf(stderr, "stocktwin-load: setup (%s): event %zu refused: %s: %s\n", what, i,
                    st_status_name(resp->statuses[i]->status), resp->statuses[i]->message);
            bad = 1;
        }
    }
    st_client_response_free(resp);
    x->n = 0;
    return bad;
}

static setup_ctx *
setup_ctx_new(load_run *r, st_client *c, const char *suffix)
{
    setup_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->r = r;
    x->c = c;
    LOAD_FMT(x->source, "%s-%s", r->run_id, suffix);
    x->time_ms = (int64_t)time(NULL) * 1000;
    return x;
}

static int
setup_catalog(setup_ctx *x)
{
    load_run *r = x->r;
    for (uint32_t s = 0; s < r->o.skus; s++) {
        Stocktwin__Event *e = setup_next(x, NULL);
        Stocktwin__ProductUpsert *p = &x->pu[x->n - 1];
        stocktwin__product_upsert__init(p);
        p->sku = r->sku_ids[s];
        p->name = r->sku_ids[s];
        p->unit_weight_mg = 500;
        p->reorder_point = 10;
        e->kind_case = STOCKTWIN__EVENT__KIND_PRODUCT_UPSERT;
        e->product_upsert = p;
        if ((x->n == SETUP_BATCH || s + 1 == r->o.skus) && setup_flush(x, "catalog"))
            return 1;
    }
    return 0;
}

static int
setup_warehouse(setup_ctx *x, const char *wh)
{
    Stocktwin__WarehouseUpsert wu = STOCKTWIN__WAREHOUSE_UPSERT__INIT;
    Stocktwin__ZoneUpsert zr = STOCKTWIN__ZONE_UPSERT__INIT, zs = STOCKTWIN__ZONE_UPSERT__INIT;
    Stocktwin__ShelfUpsert sh = STOCKTWIN__SHELF_UPSERT__INIT;
    Stocktwin__Event *e = setup_next(x, wh);
    wu.name = (char *)wh, wu.location = "stocktwin-load";
    e->kind_case = STOCKTWIN__EVENT__KIND_WAREHOUSE_UPSERT, e->warehouse_upsert = &wu;
    e = setup_next(x, wh);
    zr.zone_id = "recv", zr.name = "receiving", zr.type = STOCKTWIN__ZONE_TYPE__RECEIVING;
    e->kind_case = STOCKTWIN__EVENT__KIND_ZONE_UPSERT, e->zone_upsert = &zr;
    e = setup_next(x, wh);
    zs.zone_id = "stor", zs.name = "storage", zs.type = STOCKTWIN__ZONE_TYPE__STORAGE;
    e->kind_case = STOCKTWIN__EVENT__KIND_ZONE_UPSERT, e->zone_upsert = &zs;
    e = setup_next(x, wh);
    sh.shelf_id = "shelf-1", sh.zone_id = "stor", sh.sku = x->r->sku_ids[0];
    sh.authority = STOCKTWIN__WEIGHT_AUTHORITY__LEDGER;
    sh.tolerance_units = 1000000000;
    sh.anomaly_threshold_mg = 1000000000000;
    e->kind_case = STOCKTWIN__EVENT__KIND_SHELF_UPSERT, e->shelf_upsert = &sh;
    return setup_flush(x, "warehouse");
}

// load_setup_topology - catalog and warehouses (not the devices, not the
// stock). Returns 0 or 1 after saying why.
int
load_setup_topology(load_run *r, st_client *c)
{
    setup_ctx *x = setup_ctx_new(r, c, "setup");
    if (!x)
        return 1;
    int bad = setup_catalog(x);
    for (uint32_t w = 0; !bad && w < r->o.warehouses; w++)
        bad = setup_warehouse(x, r->wh_ids[w]);
    free(x);
    return bad;
}

// load_setup_devices - one RFID reader (bound to recv) and one scale (bound
// to shelf-1) per in-flight slot and warehouse, named after the run, so their
// (source, seq) windows are fresh. Done on every run, --no-setup included.
int
load_setup_devices(load_run *r, st_client *c)
{
    setup_ctx *x = setup_ctx_new(r, c, "devices");
    if (!x)
        return 1;
    int bad = 0;
    for (uint32_t w = 0; !bad && w < r->o.warehouses; w++) {
        for (uint32_t ci = 0; !bad && ci < r->o.connections; ci++) {
            for (uint32_t s = 0; !bad && s < r->o.depth; s++) {
                for (int scale = 0; scale < 2; scale++) {
                    Stocktwin__Event *e = setup_next(x, r->wh_ids[w]);
                    uint32_t i = x->n - 1;
                    Stocktwin__DeviceUpsert *d = &x->du[i];
                    LOAD_FMT(x->ids[i], "%s-c%us%u-%s", r->run_id, ci, s, scale ? "scale" : "rfid");
                    stocktwin__device_upsert__init(d);
                    d->device_id = x->ids[i];
                    d->kind = scale ? STOCKTWIN__DEVICE_KIND__WEIGHT_SENSOR
                                    : STOCKTWIN__DEVICE_KIND__RFID;
                    d->bound_to = scale ? "shelf-1" : "recv";
                    e->kind_case = STOCKTWIN__EVENT__KIND_DEVICE_UPSERT, e->device_upsert = d;
                }
                if (x->n + 2 > SETUP_BATCH)
                    bad = setup_flush(x, "devices");
            }
        }
    }
    if (!bad)
        bad = setup_flush(x, "devices");
    free(x);
    return bad;
}
