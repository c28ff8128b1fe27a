// query_test.c - the read side of state.h: inventory paging and filters, a
// sku across warehouses, recent alerts, twins, stats.
#include "fixture.h"

TestSuite(query, .init = setup_world, .fini = teardown_world);

typedef struct collect {
    int n;
    char skus[16][16];
    uint32_t locs[16];
    st_stock_view views[16];
    st_location_qty first_loc[16];
    int stop_after;
} collect;

static bool
collect_cb(void *arg, const st_stock_view *v)
{
    collect *c = arg;
    cr_assert_lt(c->n, 16);
    cr_assert_eq(v->sku_len, strlen(v->sku), "views carry their strings' lengths");
    cr_assert_eq(v->name_len, strlen(v->name));
    for (uint32_t i = 0; i < v->location_count; i++) {
        cr_assert_eq(v->locations[i].zone_len, strlen(v->locations[i].zone));
        cr_assert_eq(v->locations[i].shelf_len, strlen(v->locations[i].shelf));
    }
    snprintf(c->skus[c->n], sizeof c->skus[0], "%s", v->sku);
    c->locs[c->n] = v->location_count;
    c->views[c->n] = *v;
    if (v->location_count)
        c->first_loc[c->n] = v->locations[0];
    c->n++;
    return !(c->stop_after && c->n >= c->stop_after);
}

Test(query, inventory_order_paging_and_locations)
{
    OK(ap(RECEIVE("SKU3", 1, "RCV")));
    OK(ap(RECEIVE("SKU1", 20, "S1")));
    OK(ap(RECEIVE("SKU1", 2, "RCV")));
    OK(ap(RECEIVE("SKU2", 3, "STO")));
    collect c = {0};
    uint32_t total = 0;
    st_inventory_query q = {.warehouse = "wh1"};
    OK(st_state_inventory(S, &q, collect_cb, &c, &total));
    cr_assert_eq(total, 3);
    cr_assert_eq(c.n, 3);
    cr_assert_str_eq(c.skus[0], "SKU3"); // first-touch order, not sku order
    cr_assert_str_eq(c.skus[1], "SKU1");
    cr_assert_str_eq(c.skus[2], "SKU2");
    cr_assert_eq(c.locs[1], 2);
    cr_assert_str_eq(c.first_loc[1].zone, "STO");
    cr_assert_str_eq(c.first_loc[1].shelf, "S1");
    cr_assert_eq(c.first_loc[1].qty, 20);
    cr_assert_str_eq(c.first_loc[2].zone, "STO");
    cr_assert_str_eq(c.first_loc[2].shelf, "");
    cr_assert_str_eq(c.views[1].name, "name of SKU1");
    collect p = {0};
    q.offset = 1;
    q.limit = 1;
    OK(st_state_inventory(S, &q, collect_cb, &p, &total));
    cr_assert_eq(total, 3);
    cr_assert_eq(p.n, 1);
    cr_assert_str_eq(p.skus[0], "SKU1");
    collect b = {0};
    st_inventory_query low = {.warehouse = "wh1", .below_reorder_only = true};
    OK(st_state_inventory(S, &low, collect_cb, &b, &total));
    cr_assert_eq(total, 0, "SKU3 1>0, SKU1 22>5, SKU2 3>0");
    OK(ap(PICK("SKU1", 18, "S1")));
    OK(st_state_inventory(S, &low, collect_cb, &b, &total));
    cr_assert_eq(total, 1);
    cr_assert_str_eq(b.skus[0], "SKU1");
    cr_assert(b.views[0].below_reorder);
    collect s = {.stop_after = 1};
    OK(st_state_inventory(S, &q, collect_cb, &s, &total));
    cr_assert_eq(s.n, 1, "the callback stopped the walk");
    collect e = {0};
    q.offset = 3; // past the end: no line, the count still says 3
    q.limit = 0;
    OK(st_state_inventory(S, &q, collect_cb, &e, &total));
    cr_assert_eq(total, 3);
    cr_assert_eq(e.n, 0);
    q.offset = 2;
    OK(st_state_inventory(S, &q, collect_cb, &e, &total));
    cr_assert_eq(total, 3);
    cr_assert_eq(e.n, 1);
    cr_assert_str_eq(e.skus[0], "SKU2");
    OK(ap(PICK("SKU3", 1, "RCV"))); // SKU3 is low too now (0 <= 0)
    collect f = {0};
    low.offset = 1; // the offset counts matching records only
    OK(st_state_inventory(S, &low, collect_cb, &f, &total));
    cr_assert_eq(total, 2);
    cr_assert_eq(f.n, 1);
    cr_assert_str_eq(f.skus[0], "SKU1");
    st_inventory_query none = {.warehouse = "nope"};
    cr_assert_eq(st_state_inventory(S, &none, collect_cb, &s, NULL), ST_UNKNOWN_WAREHOUSE);
}

Test(query, sku_across_warehouses_sorted)
{
    OK(ap(WAREHOUSE("wh0")));
    OK(ap(WAREHOUSE("wh9")));
    st_event z = ZONE("Z", ST_ZONE_STORAGE);
    z.warehouse = "wh9";
    OK(ap(z));
    z.warehouse = "wh0";
    OK(ap(z));
    st_event r = RECEIVE("SKU1", 7, "Z");
    r.warehouse = "wh9";
    OK(ap(r));
    r.warehouse = "wh0";
    r.u.movement.qty = 3;
    OK(ap(r));
    OK(ap(RECEIVE("SKU1", 5, "RCV")));
    collect c = {0};
    OK(st_state_sku(S, "SKU1", collect_cb, &c));
    cr_assert_eq(c.n, 3);
    cr_assert_str_eq(c.views[0].warehouse, "wh0");
    cr_assert_eq(c.views[0].on_hand, 3);
    cr_assert_str_eq(c.views[1].warehouse, "wh1");
    cr_assert_str_eq(c.views[2].warehouse, "wh9");
    cr_assert_eq(c.views[2].available, 7);
    cr_assert_eq(c.locs[0], 0, "locations not filled");
    cr_assert_eq(st_state_sku(S, "NOPE", collect_cb, &c), ST_UNKNOWN_PRODUCT);
}

typedef struct alerts {
    int n;
    st_alert a[32];
} alerts;

static bool
alert_cb(void *arg, const st_alert *a)
{
    alerts *c = arg;
    cr_assert_lt(c->n, 32);
    c->a[c->n++] = *a;
    return true;
}

Test(query, alerts_newest_first_and_bounded)
{
    st_state_destroy(S);
    st_state_config cfg = {.alerts_kept = 4};
    cr_assert_eq(st_state_create(&cfg, &S), ST_OK);
    OK(ap(PRODUCT("SKU1", 0, 0)));
    OK(ap(WAREHOUSE("wh1")));
    OK(ap(ZONE("Z", ST_ZONE_STORAGE)));
    OK(ap(WAREHOUSE("wh0")));
    for (int i = 0; i < 6; i++) { // each count raises a discrepancy
        NOW += 10;
        OK(ap(COUNT("Z", "SKU1", i + 1)));
    }
    alerts c = {0};
    OK(st_state_alerts(S, "wh1", 0, alert_cb, &c));
    cr_assert_eq(c.n, 4, "ring keeps the last 4");
    cr_assert_eq(c.a[0].alert_seq, 6);
    cr_assert_eq(c.a[3].alert_seq, 3);
    cr_assert_eq(c.a[0].kind, ST_ALERT_DISCREPANCY);
    cr_assert_eq(c.a[0].actual, 6);
    alerts l = {0};
    OK(st_state_alerts(S, NULL, 2, alert_cb, &l));
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.a[1].alert_seq, 5);
    cr_assert_eq(st_state_alerts(S, "nope", 0, alert_cb, &l), ST_UNKNOWN_WAREHOUSE);
    st_state_stats st;
    st_state_stats_get(S, &st);
    cr_assert_eq(st.alerts_raised, 6, "one discrepancy per count");
}

typedef struct twin_probe {
    st_twin_view view;
    char rels[8][32];
    int rel_n;
} twin_probe;

static void
twin_cb(void *arg, const st_twin_view *v)
{
    twin_probe *p = arg;
    p->view = *v;
    p->rel_n = (int)v->rel_count;
    for (uint32_t i = 0; i < v->rel_count && i < 8; i++)
        snprintf(p->rels[i], sizeof p->rels[i], "%s:%s", v->rels[i].name, v->rels[i].target);
    p->view.rels = NULL;
}

static const st_prop *
prop(const twin_probe *p, const char *name)
{
    for (uint32_t i = 0; i < p->view.prop_count; i++)
        if (strcmp(p->view.props[i].name, name) == 0)
            return &p->view.props[i];
    cr_assert_fail("no property %s", name);
    return NULL;
}

Test(query, twins)
{
    OK(ap(RECEIVE("SKU1", 4, "S1")));
    NOW = 2000;
    OK(ap(WEIGHT("w1", "S1", 5000)));
    twin_probe p = {0};
    OK(st_state_twin(S, NULL, "wh1", twin_cb, &p));
    cr_assert_eq(p.view.kind, ST_TWIN_WAREHOUSE);
    cr_assert_str_eq(prop(&p, "name")->text, "the wh1");
    cr_assert_eq(prop(&p, "totalCapacity")->integer, 1000);
    cr_assert_eq(p.rel_n, 2);
    cr_assert_str_eq(p.rels[0], "hasZone:RCV");
    OK(st_state_twin(S, "wh1", "STO", twin_cb, &p));
    cr_assert_eq(p.view.kind, ST_TWIN_ZONE);
    cr_assert_str_eq(prop(&p, "zoneType")->text, "STORAGE");
    cr_assert_str_eq(p.rels[0], "hasShelf:S1");
    cr_assert_str_eq(p.rels[1], "hasShelf:S2");
    OK(st_state_twin(S, NULL, "S1", twin_cb, &p)); // found by scanning warehouses
    cr_assert_eq(p.view.kind, ST_TWIN_SHELF);
    cr_assert_str_eq(p.view.warehouse, "wh1");
    cr_assert_eq(prop(&p, "currentWeight")->integer, 5000);
    cr_assert_eq(prop(&p, "maxWeight")->integer, 100000);
    cr_assert_eq(prop(&p, "currentQuantity")->integer, 4);
    cr_assert_eq(prop(&p, "unitWeight")->integer, 1000);
    cr_assert_eq(prop(&p, "reorderPoint")->integer, 5);
    cr_assert_str_eq(p.rels[0], "inZone:STO");
    cr_assert_str_eq(p.rels[1], "holdsProduct:SKU1");
    OK(st_state_twin(S, "wh1", "w1", twin_cb, &p));
    cr_assert_eq(p.view.kind, ST_TWIN_DEVICE);
    cr_assert_eq(prop(&p, "lastSeen")->integer, 2000);
    cr_assert_str_eq(p.rels[0], "boundTo:S1");
    OK(st_state_twin(S, NULL, "SKU1", twin_cb, &p));
    cr_assert_eq(p.view.kind, ST_TWIN_PRODUCT);
    cr_assert_str_eq(p.view.warehouse, "");
    cr_assert_str_eq(prop(&p, "productName")->text, "name of SKU1");
    cr_assert_eq(st_state_twin(S, "wh1", "SKU1", twin_cb, &p), ST_NOT_FOUND);
    cr_assert_eq(st_state_twin(S, NULL, "nothing", twin_cb, &p), ST_NOT_FOUND);
    cr_assert_eq(st_state_twin(S, "nope", "S1", twin_cb, &p), ST_NOT_FOUND);
    cr_assert_eq(st_state_twin(S, NULL, "", twin_cb, &p), ST_NOT_FOUND);
}

Test(query, stats)
{
    OK(ap(RECEIVE("SKU1", 4, "S1")));
    OK(ap(RECEIVE("SKU2", 4, "S1")));
    OK(ap(RESERVE("o", "SKU2", 1)));
    st_state_stats st;
    st_state_stats_get(S, &st);
    cr_assert_eq(st.warehouses, 1);
    cr_assert_eq(st.products, 3);
    cr_assert_eq(st.suppliers, 1);
    cr_assert_eq(st.stock_records, 2);
    cr_assert_eq(st.reservations, 1);
    cr_assert_eq(st.alerts_raised, 1, "SKU1 at 4 <= 5");
    cr_assert_eq(st_state_network_units(S), 8);
}
