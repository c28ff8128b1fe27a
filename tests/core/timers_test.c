// timers_test.c - what ticks do (core/timers.c): reservations expire,
// devices fall silent once until heard again, purchase orders and inbound
// transfers run late once per eta; st_state_tick_due agrees with what a tick
// then does; a tick's work is bounded and the rest stays due; the marks
// survive an image and count in the digest.
#include "fixture.h"
#include "core/model.h" // to set a mark no build knows
#include "core/snapshot.h"

#define SILENT 300000 // the seed's five minutes

static st_err
tick_at(int64_t now, int64_t silent_ms)
{
    return ap((st_event){.kind = ST_EV_TICK,
                         .source = ST_TICK_SOURCE,
                         .seq = (uint64_t)now * 1000u + ++SEQ,
                         .event_time_ms = now,
                         .u.tick.device_silent_ms = silent_ms});
}

static void
silent_cb(void *arg, const st_twin_view *v)
{
    for (uint32_t i = 0; i < v->prop_count; i++)
        if (strcmp(v->props[i].name, "silent") == 0)
            *(int64_t *)arg = v->props[i].integer;
}

// silent_prop reads the device twin's "silent" property (-1: none).
static int64_t
silent_prop(const char *device)
{
    int64_t v = -1;
    cr_assert_eq(st_state_twin(S, "wh1", device, silent_cb, &v), ST_OK);
    return v;
}

static bool
due(int64_t now, int64_t silent_ms)
{
    return st_state_tick_due(S, 0, now, silent_ms);
}

// quiet_world: setup_world (its devices registered at 1000, never heard
// from), the clock moved to 10,000,000, and 50 of SKU1 received.
static void
quiet_world(void)
{
    setup_world();
    NOW = 10000000;
    OK(ap(RECEIVE("SKU1", 50, "RCV")));
}

TestSuite(timers, .init = quiet_world, .fini = teardown_world);

Test(timers, reservation_expires_at_its_time_and_not_before)
{
    st_event r = RESERVE("O1", "SKU1", 7);
    r.u.reserve.expires_at_ms = NOW + 5000;
    OK(ap(r));
    OK(ap(RESERVE("O2", "SKU1", 3))); // no expiry: kept forever
    cr_assert_eq(stock("SKU1").view.reserved, 10);
    cr_assert(!due(NOW + 4999, 0));
    OK(tick_at(NOW + 4999, 0));
    cr_assert_eq(stock("SKU1").view.reserved, 10, "not yet");
    cr_assert(due(NOW + 5000, 0));
    OK(tick_at(NOW + 5000, 0));
    cr_assert_eq(stock("SKU1").view.reserved, 3, "O1's 7 went back");
    cr_assert_eq(stock("SKU1").view.available, 47);
    cr_assert_eq(OUT.change_count, 1, "the record is reported on the feed");
    cr_assert_eq(OUT.changes[0].reserved, 3);
    cr_assert(!due(NOW + 999999999, 0), "O2 never expires");
    IS(ap(RELEASE("O1", "SKU1", 0)), ST_UNKNOWN_ORDER);
}

Test(timers, device_silent_once_until_heard_again)
{
    int64_t t0 = NOW;
    OK(ap((st_event){
        .kind = ST_EV_WEIGHT, .source = "w1", .u.weight = {.shelf = "S1", .weight_mg = 1000}}));
    // The other devices were registered at 1000 and never heard: silent long
    // ago. Let them raise first.
    cr_assert(due(t0, SILENT));
    OK(tick_at(t0, SILENT));
    cr_assert_eq(alerts_of(ST_ALERT_DEVICE_SILENT), 3, "rfid1, w2, bc1");
    cr_assert(!due(t0, SILENT));
    // w1 reported at t0: silent at t0 + SILENT, not a millisecond before.
    cr_assert(!due(t0 + SILENT - 1, SILENT));
    OK(tick_at(t0 + SILENT - 1, SILENT));
    cr_assert_eq(alerts_of(ST_ALERT_DEVICE_SILENT), 0);
    OK(tick_at(t0 + SILENT, SILENT));
    const st_alert *a = alert_of(ST_ALERT_DEVICE_SILENT);
    cr_assert_not_null(a);
    cr_assert_eq(OUT.alert_count, 1);
    cr_assert_str_eq(a->device, "w1");
    cr_assert_str_eq(a->location, "S1");
    cr_assert_str_eq(a->warehouse, "wh1");
    cr_assert_eq(a->expected, SILENT);
    cr_assert_eq(a->actual, SILENT);
    cr_assert_eq(a->event_time_ms, t0 + SILENT);
    cr_assert_eq(silent_prop("w1"), 1, "the twin says so");
    // Once: a later tick raises nothing.
    OK(tick_at(t0 + 2 * SILENT, SILENT));
    cr_assert_eq(alerts_of(ST_ALERT_DEVICE_SILENT), 0);
    // Heard again, then silent again: a second alert.
    NOW = t0 + 2 * SILENT + 10;
    OK(ap((st_event){
        .kind = ST_EV_WEIGHT, .source = "w1", .u.weight = {.shelf = "S1", .weight_mg = 1000}}));
    cr_assert_eq(silent_prop("w1"), 0, "heard again");
    cr_assert(!due(NOW + SILENT - 1, SILENT));
    OK(tick_at(NOW + SILENT, SILENT));
    cr_assert_eq(alerts_of(ST_ALERT_DEVICE_SILENT), 1);
    // A report older than the last one does not end a silence.
    int64_t late = NOW + SILENT;
    NOW = t0;
    st_err old = ap((st_event){
        .kind = ST_EV_WEIGHT, .source = "w1", .u.weight = {.shelf = "S1", .weight_mg = 1000}});
    cr_assert(old == ST_OK || old == ST_STALE, "%s", st_err_str(old));
    cr_assert(!due(late + 1, SILENT), "an old report is not a sign of life");
}

Test(timers, no_limit_means_never_silent)
{
    cr_assert(!due(INT64_MAX / 2, 0));
    OK(tick_at(NOW + 10 * SILENT, 0));
    cr_assert_eq(OUT.alert_count, 0);
    IS(tick_at(NOW + 20 * SILENT, -1), ST_INVALID_ARGUMENT);
    IS(tick_at(NOW + 20 * SILENT, ST_SILENT_MS_MAX + 1), ST_INVALID_ARGUMENT);
}

Test(timers, purchase_order_late_once_per_eta)
{
    st_event po = {
        .kind = ST_EV_PO_CREATE,
        .u.po_create = {
            .po_id = "PO1", .supplier = "SUP1", .sku = "SKU1", .qty = 10, .eta_ms = NOW + 1000}};
    OK(ap(po));
    OK(ap((st_event){.kind = ST_EV_PO_RECEIVE, .u.po_receive = {.po_id = "PO1", .qty = 4}}));
    cr_assert(!due(NOW + 999, 0));
    OK(tick_at(NOW + 1000, 0));
    const st_alert *a = alert_of(ST_ALERT_SHIPMENT_DELAYED);
    cr_assert_not_null(a);
    cr_assert_str_eq(a->sku, "SKU1");
    cr_assert_str_eq(a->order, "PO1", "the alert names its order");
    cr_assert_eq(a->expected, 10);
    cr_assert_eq(a->actual, 4);
    OK(tick_at(NOW + 2000, 0));
    cr_assert_eq(alerts_of(ST_ALERT_SHIPMENT_DELAYED), 0, "once");
    // A new eta is a new promise: late again when it passes.
    OK(ap((st_event){.kind = ST_EV_PO_ETA, .u.po_eta = {.po_id = "PO1", .eta_ms = NOW + 5000}}));
    cr_assert(!due(NOW + 4999, 0));
    OK(tick_at(NOW + 5000, 0));
    cr_assert_eq(alerts_of(ST_ALERT_SHIPMENT_DELAYED), 1);
    // Received in full: never late.
    st_event po2 = po;
    po2.u.po_create.po_id = "PO2";
    OK(ap(po2));
    OK(ap((st_event){.kind = ST_EV_PO_RECEIVE, .u.po_receive = {.po_id = "PO2", .qty = 10}}));
    cr_assert(!due(NOW + 99999, 0));
}

Test(timers, inbound_transfer_late_at_its_destination)
{
    st_state *dst;
    cr_assert_eq(st_state_create(NULL, &dst), ST_OK);
    OK(ap_in(dst, PRODUCT("SKU1", 1000, 5)));
    OK(ap_in(dst, WAREHOUSE("wh2")));
    OK(ap((st_event){.kind = ST_EV_TRANSFER_DISPATCH,
                     .u.transfer_dispatch = {.transfer_id = "T1",
                                             .to_warehouse = "wh2",
                                             .sku = "SKU1",
                                             .qty = 4,
                                             .eta_ms = NOW + 1000}}));
    cr_assert_eq(OUT.outbox_count, 1);
    st_event in = OUT.outbox[0];
    cr_assert_eq(st_state_apply(dst, &in, &OUT), ST_OK);
    cr_assert(!due(NOW + 5000, 0), "the source does not raise");
    cr_assert(!st_state_tick_due(dst, 0, NOW + 999, 0));
    cr_assert(st_state_tick_due(dst, 0, NOW + 1000, 0));
    st_event t = {.kind = ST_EV_TICK,
                  .source = ST_TICK_SOURCE,
                  .seq = 1,
                  .event_time_ms = NOW + 1000,
                  .warehouse = "wh2"};
    cr_assert_eq(st_state_apply(dst, &t, &OUT), ST_OK);
    const st_alert *a = alert_of(ST_ALERT_SHIPMENT_DELAYED);
    cr_assert_not_null(a);
    cr_assert_str_eq(a->warehouse, "wh2");
    cr_assert_str_eq(a->order, "T1");
    cr_assert_eq(a->expected, 4);
    cr_assert(!st_state_tick_due(dst, 0, NOW + 99999, 0), "once");
    st_state_verify(dst);
    st_state_destroy(dst);
}

// More expiries than one apply reports: each tick takes what fits, the rest
// stays due, and a few ticks finish the job.
Test(timers, a_tick_is_bounded_and_the_rest_stays_due)
{
    char sku[200][16], order[200][16];
    uint32_t n = 0;
    for (uint32_t i = 0; i < 200; i++) {
        snprintf(sku[i], sizeof sku[i], "B%u", i);
        snprintf(order[i], sizeof order[i], "O%u", i);
        OK(ap((st_event){.kind = ST_EV_PRODUCT_UPSERT, .u.product_upsert = {.sku = sku[i]}}));
        OK(ap(RECEIVE(sku[i], 1, "RCV")));
        st_event r = RESERVE(order[i], sku[i], 1);
        r.u.reserve.expires_at_ms = NOW + 1;
        OK(ap(r));
    }
    uint32_t ticks = 0;
    while (due(NOW + 1, 0)) {
        OK(tick_at(NOW + 1, 0));
        cr_assert_leq(OUT.change_count, ST_APPLY_CHANGES_MAX);
        n += OUT.change_count;
        cr_assert_lt(++ticks, 10);
    }
    cr_assert_eq(n, 200, "every reservation expired once");
    cr_assert_geq(ticks, 3);
    for (uint32_t i = 0; i < 200; i++)
        cr_assert_eq(stock(sku[i]).view.reserved, 0);
}

Test(timers, ticks_are_internal_and_deduplicated)
{
    st_event r = RESERVE("O1", "SKU1", 1);
    r.u.reserve.expires_at_ms = NOW + 1;
    OK(ap(r));
    st_event t = {.kind = ST_EV_TICK,
                  .source = ST_TICK_SOURCE,
                  .seq = 5,
                  .event_time_ms = NOW + 1,
                  .warehouse = "wh1"};
    cr_assert_eq(st_state_apply(S, &t, &OUT), ST_OK);
    cr_assert_eq(stock("SKU1").view.reserved, 0);
    cr_assert_eq(st_state_apply(S, &t, &OUT), ST_DUPLICATE, "a clock stepped back changes nothing");
    cr_assert(st_event_is_internal(ST_EV_TICK));
    t.warehouse = "nowhere";
    t.seq = 6;
    cr_assert_eq(st_state_apply(S, &t, &OUT), ST_UNKNOWN_WAREHOUSE);
}

static bool
delayed_names_po1(void *arg, const st_alert *a)
{
    if (a->kind == ST_ALERT_SHIPMENT_DELAYED)
        *(bool *)arg = strcmp(a->order, "PO1") == 0;
    return true;
}

// The marks are state: an image keeps them (no second alert after a
// restart), and the digest sees them.
Test(timers, marks_survive_an_image_and_count_in_the_digest)
{
    st_event po = {
        .kind = ST_EV_PO_CREATE,
        .u.po_create = {
            .po_id = "PO1", .supplier = "SUP1", .sku = "SKU1", .qty = 10, .eta_ms = NOW + 1000}};
    OK(ap(po));
    uint64_t before = st_state_digest(S);
    OK(tick_at(NOW + 1000, SILENT));
    cr_assert_eq(alerts_of(ST_ALERT_SHIPMENT_DELAYED), 1);
    cr_assert_gt(alerts_of(ST_ALERT_DEVICE_SILENT), 0);
    cr_assert_neq(st_state_digest(S), before);
    image im = {0};
    cr_assert(st_state_save(S, image_put, &im));
    st_state *back;
    cr_assert_eq(st_state_create(NULL, &back), ST_OK);
    char why[256];
    cr_assert_eq(st_state_load(back, im.buf, im.len, why, sizeof why), ST_OK, "%s", why);
    free(im.buf);
    cr_assert_eq(st_state_digest(back), st_state_digest(S));
    cr_assert(!st_state_tick_due(back, 0, NOW + 2000, SILENT), "nothing is raised twice");
    bool named = false; // the kept alert still names its order
    cr_assert_eq(st_state_alerts(back, "wh1", 0, delayed_names_po1, &named), ST_OK);
    cr_assert(named);
    st_state_destroy(back);
    // A mark the build does not know is refused, not trusted.
    S->whs[0]->devs[0].flags |= 4;
    im = (image){0};
    cr_assert(st_state_save(S, image_put, &im));
    cr_assert_eq(st_state_create(NULL, &back), ST_OK);
    cr_assert_eq(st_state_load(back, im.buf, im.len, why, sizeof why), ST_MALFORMED);
    cr_assert(strstr(why, "device") != NULL, "%s", why);
    free(im.buf);
    st_state_destroy(back);
    S->whs[0]->devs[0].flags &= ~4u;
}

typedef struct dev_list {
    char ids[8][16];
    bool silent[8];
    uint32_t n, stop_after;
} dev_list;

static bool
dev_list_cb(void *arg, const st_device_view *v)
{
    dev_list *l = arg;
    cr_assert_lt(l->n, 8);
    cr_assert_str_eq(v->warehouse, "wh1");
    snprintf(l->ids[l->n], sizeof l->ids[l->n], "%s", v->id);
    l->silent[l->n++] = v->silent;
    return l->stop_after == 0 || l->n < l->stop_after;
}

// Device health: every device with its silence, in id order; the silent
// ones alone; a caller that stops early still learns how many match.
Test(timers, device_health_lists_the_silent_ones)
{
    OK(ap((st_event){
        .kind = ST_EV_WEIGHT, .source = "w1", .u.weight = {.shelf = "S1", .weight_mg = 1000}}));
    OK(tick_at(NOW, SILENT)); // rfid1, w2 and bc1 were never heard from
    dev_list all = {0};
    uint32_t total = 0;
    cr_assert_eq(st_state_devices(S, "wh1", false, dev_list_cb, &all, &total), ST_OK);
    cr_assert_eq(total, 4);
    cr_assert_eq(all.n, 4);
    const char *want[] = {"bc1", "rfid1", "w1", "w2"};
    const bool silent[] = {true, true, false, true};
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(all.ids[i], want[i]);
        cr_assert_eq(all.silent[i], silent[i], "%s", want[i]);
    }
    dev_list quiet = {.stop_after = 2};
    cr_assert_eq(st_state_devices(S, NULL, true, dev_list_cb, &quiet, &total), ST_OK);
    cr_assert_eq(quiet.n, 2, "the callback stopped it");
    cr_assert_eq(total, 3, "three are silent");
    cr_assert_str_eq(quiet.ids[0], "bc1");
    cr_assert_str_eq(quiet.ids[1], "rfid1");
    cr_assert_eq(st_state_devices(S, "nowhere", false, dev_list_cb, &quiet, NULL),
                 ST_UNKNOWN_WAREHOUSE);
}
