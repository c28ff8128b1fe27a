// state_test.c - unit tests of st_state_apply(): every event kind's effect
// and every status code core returns.
#include <signal.h>
#include <stdio.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/snapshot.h"
#include "fixture.h"

TestSuite(err);

Test(err, names_are_stable)
{
    cr_assert_str_eq(st_err_str(ST_OK), "ok");
    cr_assert_str_eq(st_err_str(ST_DUPLICATE), "duplicate");
    cr_assert_str_eq(st_err_str(ST_INSUFFICIENT_STOCK), "insufficient_stock");
    cr_assert_str_eq(st_err_str(ST_NOT_FOUND), "not_found");
    cr_assert_str_eq(st_err_str(ST_NOMEM), "nomem");
    cr_assert_str_eq(st_err_str((st_err)42), "unknown");
    cr_assert(st_err_accepted(ST_STALE) && !st_err_accepted(ST_CONFLICT));
    for (int e = 0; e <= ST_NOT_FOUND; e++)
        cr_assert_str_neq(st_err_str((st_err)e), "unknown", "code %d has a name", e);
}

TestSuite(envelope, .init = setup_world, .fini = teardown_world);

Test(envelope, common_fields_are_validated)
{
    st_event ev = RECEIVE("SKU1", 1, "RCV");
    ev.source = "";
    IS(ap(ev), ST_INVALID_ARGUMENT);
    cr_assert_str_eq(OUT.message, "source is required");
    ev = RECEIVE("SKU1", 1, "RCV");
    ev.source = "0123456789012345678901234567890123456789012345678901234567890123456789";
    IS(ap(ev), ST_INVALID_ARGUMENT);
    ev = RECEIVE("SKU1", 1, "RCV");
    ev.seq = 0;
    ev.source = "zero";
    IS(st_state_apply(S, &ev, &OUT), ST_INVALID_ARGUMENT);
    ev = RECEIVE("SKU1", 1, "RCV");
    ev.event_time_ms = -5;
    IS(ap(ev), ST_INVALID_ARGUMENT);
    ev = RECEIVE("SKU1", 1, "RCV");
    ev.warehouse = "nowhere";
    IS(ap(ev), ST_UNKNOWN_WAREHOUSE);
    cr_assert_str_eq(OUT.message, "warehouse nowhere is not known here");
    ev = RECEIVE("SKU1", 1, "RCV");
    ev.kind = (st_event_kind)99;
    IS(ap(ev), ST_INVALID_ARGUMENT);
    ev = RECEIVE("SKU1", 1, "RCV");
    ev.kind = ST_EV_NONE;
    IS(ap(ev), ST_INVALID_ARGUMENT);
}

Test(envelope, duplicates_and_window)
{
    st_event ev = RECEIVE("SKU1", 1, "RCV");
    ev.source = "erp";
    ev.seq = 100;
    OK(ap(ev));
    IS(ap(ev), ST_DUPLICATE);
    cr_assert_eq(stock("SKU1").view.on_hand, 1);
    ev.seq = 50; // inside the window, never seen
    OK(ap(ev));
    IS(ap(ev), ST_DUPLICATE);
    ev.seq = 36; // 64 below the mark: the window's last bit
    OK(ap(ev));
    ev.seq = 35; // below the window: treated as a duplicate
    IS(ap(ev), ST_DUPLICATE);
    ev.seq = 300; // a jump beyond the window clears it
    OK(ap(ev));
    ev.seq = 299;
    OK(ap(ev));
    ev.seq = 236;
    OK(ap(ev));
    ev.seq = 100;
    IS(ap(ev), ST_DUPLICATE);
    cr_assert_eq(stock("SKU1").view.on_hand, 6);
}

Test(envelope, rejected_event_does_not_mark_its_seq)
{
    st_event ev = RECEIVE("SKU9", 1, "RCV");
    ev.source = "erp";
    ev.seq = 7;
    IS(ap(ev), ST_UNKNOWN_PRODUCT);
    cr_assert_str_eq(OUT.message, "sku SKU9 is not in the catalog");
    OK(ap(PRODUCT("SKU9", 0, 0)));
    OK(ap(ev));
    IS(ap(ev), ST_DUPLICATE);
}

Test(envelope, catalog_events_have_their_own_window)
{
    st_event ev = PRODUCT("SKU7", 0, 0);
    ev.source = "erp";
    ev.seq = 1;
    OK(ap(ev));
    IS(ap(ev), ST_DUPLICATE);
    st_event r = RECEIVE("SKU7", 1, "RCV");
    r.source = "erp";
    r.seq = 1; // the warehouse's window is separate from the catalog's
    OK(ap(r));
}

Test(envelope, ids_are_bounded)
{
    char id[80];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    IS(ap(RECEIVE(id, 1, "RCV")), ST_INVALID_ARGUMENT);
    IS(ap(RECEIVE("SKU1", 1, id)), ST_INVALID_ARGUMENT);
    st_event z = ZONE("Z", ST_ZONE_STORAGE);
    z.u.zone_upsert.zone_id = id;
    IS(ap(z), ST_INVALID_ARGUMENT);
    IS(ap(RECEIVE("", 1, "RCV")), ST_INVALID_ARGUMENT);
    cr_assert_str_eq(OUT.message, "sku is required");
}

TestSuite(capacity);

Test(capacity, bounded_tables_answer_capacity)
{
    st_state_config cfg = {.sources_max = 2,
                           .warehouses_max = 1,
                           .twins_max = 2,
                           .orders_max = 1,
                           .products_max = 1,
                           .alerts_kept = 4};
    cr_assert_eq(st_state_create(&cfg, &S), ST_OK);
    OK(ap(PRODUCT("SKU1", 0, 0)));
    IS(ap(PRODUCT("SKU2", 0, 0)), ST_CAPACITY);
    OK(ap(SUPPLIER("SUP1")));
    IS(ap(SUPPLIER("SUP2")), ST_CAPACITY);
    OK(ap(WAREHOUSE("wh1")));
    IS(ap(WAREHOUSE("wh2")), ST_CAPACITY);
    OK(ap(ZONE("Z1", ST_ZONE_STORAGE)));
    OK(ap(ZONE("Z2", ST_ZONE_STORAGE)));
    IS(ap(ZONE("Z3", ST_ZONE_STORAGE)), ST_CAPACITY);
    IS(ap(DEVICE("bc", ST_DEV_BARCODE, NULL)), ST_CAPACITY);
    OK(ap(RECEIVE("SKU1", 10, "Z1")));
    OK(ap(RESERVE("o1", "SKU1", 1)));
    OK(ap(RESERVE("o1", "SKU1", 1))); // adds to the same reservation
    IS(ap(RESERVE("o2", "SKU1", 1)), ST_CAPACITY);
    st_event ev = RECEIVE("SKU1", 1, "Z1");
    ev.source = "second";
    OK(ap(ev));
    ev.source = "third";
    IS(ap(ev), ST_CAPACITY);
    teardown_world();
}

TestSuite(movement, .init = setup_world, .fini = teardown_world);

Test(movement, receive_pick_putaway_relocate)
{
    OK(ap(RECEIVE("SKU1", 10, "RCV")));
    cr_assert_eq(OUT.change_count, 1);
    cr_assert_eq(OUT.changes[0].on_hand, 10);
    cr_assert_str_eq(OUT.changes[0].sku, "SKU1");
    OK(ap(MOVE(ST_MOVE_PUTAWAY, "SKU1", 6, "RCV", "S1")));
    cr_assert_eq(bin("SKU1", "RCV"), 4);
    cr_assert_eq(bin("SKU1", "S1"), 6);
    OK(ap(MOVE(ST_MOVE_RELOCATE, "SKU1", 2, "S1", "STO")));
    cr_assert_eq(bin("SKU1", "STO"), 2);
    OK(ap(PICK("SKU1", 3, "S1")));
    cr_assert_eq(stock("SKU1").view.on_hand, 7);
    cr_assert_eq(bin("SKU1", "S1"), 1);
}

Test(movement, errors)
{
    OK(ap(RECEIVE("SKU1", 10, "RCV")));
    IS(ap(RECEIVE("SKU1", 0, "RCV")), ST_INVALID_ARGUMENT);
    IS(ap(RECEIVE("SKU1", -1, "RCV")), ST_INVALID_ARGUMENT);
    IS(ap(RECEIVE("SKU1", ST_QTY_MAX + 1, "RCV")), ST_INVALID_ARGUMENT);
    IS(ap(RECEIVE("SKU1", 1, NULL)), ST_INVALID_ARGUMENT);
    IS(ap(RECEIVE("SKU1", 1, "NOPE")), ST_UNKNOWN_LOCATION);
    cr_assert_str_eq(OUT.message, "location NOPE is not in warehouse wh1");
    IS(ap(PICK("SKU1", 11, "RCV")), ST_INSUFFICIENT_STOCK);
    IS(ap(PICK("SKU1", 1, "S1")), ST_INSUFFICIENT_STOCK);
    IS(ap(PICK("SKU2", 1, "RCV")), ST_INSUFFICIENT_STOCK);
    IS(ap(MOVE(ST_MOVE_PUTAWAY, "SKU1", 11, "RCV", "S1")), ST_INSUFFICIENT_STOCK);
    IS(ap(MOVE(ST_MOVE_PUTAWAY, "SKU1", 1, NULL, "S1")), ST_INVALID_ARGUMENT);
    IS(ap(MOVE((st_movement_kind)9, "SKU1", 1, "RCV", "S1")), ST_INVALID_ARGUMENT);
    IS(ap(MOVE(ST_MOVE_UNSPECIFIED, "SKU1", 1, "RCV", "S1")), ST_INVALID_ARGUMENT);
    OK(ap(RESERVE("o1", "SKU1", 8)));
    IS(ap(PICK("SKU1", 3, "RCV")), ST_INSUFFICIENT_STOCK); // bin has 10, available 2
    OK(ap(PICK("SKU1", 2, "RCV")));
    cr_assert_eq(stock("SKU1").view.on_hand, 8);
}

Test(movement, adjust)
{
    OK(ap(RECEIVE("SKU1", 10, "RCV")));
    OK(ap(ADJUST("SKU1", 5, "RCV")));
    cr_assert_eq(stock("SKU1").view.on_hand, 15);
    OK(ap(ADJUST("SKU1", -3, "RCV")));
    cr_assert_eq(stock("SKU1").view.on_hand, 12);
    IS(ap(ADJUST("SKU1", -13, "RCV")), ST_INSUFFICIENT_STOCK);
    IS(ap(ADJUST("SKU1", 0, "RCV")), ST_INVALID_ARGUMENT);
    IS(ap(ADJUST("SKU1", 1, NULL)), ST_INVALID_ARGUMENT);
    st_event ev = ADJUST("SKU1", 1, NULL);
    ev.u.movement.from_location = "RCV"; // from is accepted when to is absent
    OK(ap(ev));
    ev = ADJUST("SKU1", 1, "RCV");
    ev.u.movement.reason =
        "a reason that goes on and on and on for much longer than sixty-four bytes allow";
    IS(ap(ev), ST_INVALID_ARGUMENT);
    // A loss below what orders hold cuts the newest reservation and says so.
    OK(ap(RESERVE("old", "SKU1", 6)));
    OK(ap(RESERVE("new", "SKU1", 6)));
    OK(ap(ADJUST("SKU1", -3, "RCV")));
    cr_assert_eq(stock("SKU1").view.reserved, 10);
    const st_alert *a = alert_of(ST_ALERT_DISCREPANCY);
    cr_assert(a && a->expected == 12 && a->actual == 10);
    IS(ap(RELEASE("new", "SKU1", 0)), ST_OK);
    cr_assert_eq(stock("SKU1").view.reserved, 6);
}

TestSuite(low_stock, .init = setup_world, .fini = teardown_world);

Test(low_stock, edge_triggered_and_rearmed)
{
    OK(ap(RECEIVE("SKU1", 10, "RCV"))); // reorder point 5 from the product
    cr_assert_eq(alerts_of(ST_ALERT_LOW_STOCK), 0);
    OK(ap(PICK("SKU1", 5, "RCV")));
    cr_assert_eq(alerts_of(ST_ALERT_LOW_STOCK), 1);
    const st_alert *a = alert_of(ST_ALERT_LOW_STOCK);
    cr_assert_eq(a->expected, 5);
    cr_assert_eq(a->actual, 5);
    cr_assert_str_eq(a->sku, "SKU1");
    cr_assert_str_eq(a->warehouse, "wh1");
    OK(ap(PICK("SKU1", 1, "RCV")));
    cr_assert_eq(alerts_of(ST_ALERT_LOW_STOCK), 0, "not again while low");
    OK(ap(RECEIVE("SKU1", 2, "RCV")));
    cr_assert_eq(alerts_of(ST_ALERT_LOW_STOCK), 0, "re-armed above 5");
    OK(ap(RESERVE("o", "SKU1", 1))); // available 5 again
    cr_assert_eq(alerts_of(ST_ALERT_LOW_STOCK), 1);
    cr_assert(stock("SKU1").view.below_reorder);
}

Test(low_stock, policy_overrides_product_default)
{
    OK(ap(POLICY("SKU1", 20)));
    cr_assert_eq(stock("SKU1").view.reorder_point, 20);
    cr_assert_eq(stock("SKU1").view.safety_stock, 1);
    cr_assert_eq(stock("SKU1").view.order_up_to, 100);
    OK(ap(RECEIVE("SKU3", 1, "RCV")));
    cr_assert_eq(stock("SKU3").view.reorder_point, 0);
    st_event old = POLICY("SKU1", 1);
    old.event_time_ms = 10;
    IS(ap(old), ST_STALE);
    cr_assert_eq(stock("SKU1").view.reorder_point, 20);
    IS(ap(POLICY("SKU1", -1)), ST_INVALID_ARGUMENT);
    IS(ap(POLICY("NOPE", 1)), ST_UNKNOWN_PRODUCT);
}

TestSuite(weight, .init = setup_world, .fini = teardown_world);

Test(weight, ledger_mode_discrepancy_beyond_tolerance)
{
    OK(ap(MOVE(ST_MOVE_RECEIVE, "SKU1", 10, NULL, "S1")));
    NOW = 2000;
    OK(ap(WEIGHT("w1", "S1", 1000 + 10 * 1000))); // tare 1 g + 10 units
    cr_assert_eq(alerts_of(ST_ALERT_DISCREPANCY), 0);
    NOW = 3000;
    OK(ap(WEIGHT("w1", "S1", 1000 + 12 * 1000 + 999))); // 12 units: within tolerance 2
    cr_assert_eq(alerts_of(ST_ALERT_DISCREPANCY), 0);
    NOW = 4000;
    OK(ap(WEIGHT("w1", "S1", 1000 + 7 * 1000)));
    const st_alert *a = alert_of(ST_ALERT_DISCREPANCY);
    cr_assert(a != NULL);
    cr_assert_eq(a->expected, 10);
    cr_assert_eq(a->actual, 7);
    cr_assert_str_eq(a->location, "S1");
    cr_assert_str_eq(a->device, "w1");
    cr_assert_eq(bin("SKU1", "S1"), 10, "the ledger stays the truth");
    NOW = 3500;
    IS(ap(WEIGHT("w1", "S1", 0)), ST_STALE);
    NOW = 4000;
    OK(ap(WEIGHT("w1", "S1", 500))); // below the tare: zero units
    a = alert_of(ST_ALERT_DISCREPANCY);
    cr_assert(a && a->actual == 0);
}

Test(weight, weight_mode_sets_bin_and_cuts_reservations)
{
    OK(ap(WEIGHT("w2", "S2", 8000)));
    cr_assert_eq(bin("SKU1", "S2"), 8);
    cr_assert_eq(OUT.change_count, 1);
    cr_assert_eq(OUT.changes[0].on_hand, 8);
    OK(ap(RESERVE("o1", "SKU1", 6)));
    NOW = 2000;
    OK(ap(WEIGHT("w2", "S2", 4000)));
    cr_assert_eq(stock("SKU1").view.on_hand, 4);
    cr_assert_eq(stock("SKU1").view.reserved, 4);
    const st_alert *a = alert_of(ST_ALERT_DISCREPANCY);
    cr_assert(a && a->expected == 6 && a->actual == 4);
    // A count older than the reading that set the bin is stale.
    st_event c = COUNT("S2", "SKU1", 99);
    c.event_time_ms = 1500;
    IS(ap(c), ST_STALE);
    cr_assert_eq(bin("SKU1", "S2"), 4);
}

Test(weight, device_checks)
{
    IS(ap(WEIGHT("ghost", "S1", 1)), ST_UNKNOWN_DEVICE);
    IS(ap(WEIGHT("rfid1", "S1", 1)), ST_CONFLICT);
    IS(ap(WEIGHT("w1", "S2", 1)), ST_CONFLICT);
    IS(ap(WEIGHT("w1", "STO", 1)), ST_CONFLICT);
    IS(ap(WEIGHT("w1", "NOPE", 1)), ST_UNKNOWN_LOCATION);
    IS(ap(WEIGHT("w1", "S1", -1)), ST_INVALID_ARGUMENT);
    IS(ap(WEIGHT("w1", "S1", ST_WEIGHT_MG_MAX + 1)), ST_INVALID_ARGUMENT);
}

Test(weight, over_capacity_is_edge_triggered)
{
    OK(ap(WEIGHT("w1", "S1", 100001)));
    const st_alert *a = alert_of(ST_ALERT_OVER_CAPACITY);
    cr_assert(a && a->expected == 100000 && a->actual == 100001);
    NOW++;
    OK(ap(WEIGHT("w1", "S1", 150000)));
    cr_assert_eq(alerts_of(ST_ALERT_OVER_CAPACITY), 0);
    NOW++;
    OK(ap(WEIGHT("w1", "S1", 100000)));
    cr_assert_eq(alerts_of(ST_ALERT_OVER_CAPACITY), 0);
    NOW++;
    OK(ap(WEIGHT("w1", "S1", 120000)));
    cr_assert_eq(alerts_of(ST_ALERT_OVER_CAPACITY), 1);
}

Test(weight, anomaly_once_per_tumbling_window)
{
    OK(ap(
        shelf_ev((shelf_spec){.id = "S3", .zone = "STO", .window_ms = 1000, .threshold_mg = 100})));
    OK(ap(DEVICE("w3", ST_DEV_WEIGHT, "S3")));
    NOW = 10000;
    OK(ap(WEIGHT("w3", "S3", 5000)));
    NOW = 10400;
    OK(ap(WEIGHT("w3", "S3", 5100))); // spread 100: not above
    cr_assert_eq(alerts_of(ST_ALERT_WEIGHT_ANOMALY), 0);
    NOW = 10500;
    OK(ap(WEIGHT("w3", "S3", 4950))); // spread 150
    const st_alert *a = alert_of(ST_ALERT_WEIGHT_ANOMALY);
    cr_assert(a && a->expected == 4950 && a->actual == 5100);
    NOW = 10999;
    OK(ap(WEIGHT("w3", "S3", 9000)));
    cr_assert_eq(alerts_of(ST_ALERT_WEIGHT_ANOMALY), 0, "once per window");
    NOW = 11000; // a new window starts fresh
    OK(ap(WEIGHT("w3", "S3", 5000)));
    cr_assert_eq(alerts_of(ST_ALERT_WEIGHT_ANOMALY), 0);
    NOW = 11999;
    OK(ap(WEIGHT("w3", "S3", 5101)));
    cr_assert_eq(alerts_of(ST_ALERT_WEIGHT_ANOMALY), 1);
}

Test(weight, anomaly_uses_config_defaults)
{
    // S1 has no window of its own: 5 minutes and 50 g.
    NOW = 0;
    st_event ev = WEIGHT("w1", "S1", 1000);
    ev.event_time_ms = 1;
    OK(ap(ev));
    ev.event_time_ms = 299999;
    ev.u.weight.weight_mg = 51001;
    OK(ap(ev));
    cr_assert_eq(alerts_of(ST_ALERT_WEIGHT_ANOMALY), 1);
}

TestSuite(rfid, .init = setup_world, .fini = teardown_world);

static st_event
rfid(st_direction dir, uint32_t n, const st_rfid_tag *tags)
{
    return (st_event){.kind = ST_EV_RFID,
                      .source = "rfid1",
                      .u.rfid = {.direction = dir, .tag_count = n, .tags = tags}};
}

Test(rfid, inbound_receives_into_bound_location)
{
    st_rfid_tag tags[] = {{.sku = "SKU1", .qty = 0},
                          {.sku = "SKU1", .qty = 4},
                          {.sku = "SKU2", .qty = 2, .epc = "urn:epc:1"}};
    OK(ap(rfid(ST_DIR_INBOUND, 3, tags)));
    cr_assert_eq(bin("SKU1", "RCV"), 5);
    cr_assert_eq(bin("SKU2", "RCV"), 2);
    cr_assert_eq(OUT.change_count, 2);
}

Test(rfid, outbound_takes_bound_then_chain_and_clamps)
{
    OK(ap(RECEIVE("SKU1", 3, "S1")));
    OK(ap(RECEIVE("SKU1", 2, "RCV")));
    st_rfid_tag t4[] = {{.sku = "SKU1", .qty = 4}};
    OK(ap(rfid(ST_DIR_OUTBOUND, 1, t4)));
    cr_assert_eq(bin("SKU1", "RCV"), 0);
    cr_assert_eq(bin("SKU1", "S1"), 1);
    cr_assert_eq(alerts_of(ST_ALERT_DISCREPANCY), 0);
    OK(ap(rfid(ST_DIR_OUTBOUND, 1, t4)));
    cr_assert_eq(stock("SKU1").view.on_hand, 0);
    const st_alert *a = alert_of(ST_ALERT_DISCREPANCY);
    cr_assert(a && a->expected == 4 && a->actual == 1);
    // Outbound of a sku never held here: clamped at zero too.
    st_rfid_tag t2[] = {{.sku = "SKU3", .qty = 2}};
    OK(ap(rfid(ST_DIR_OUTBOUND, 1, t2)));
    a = alert_of(ST_ALERT_DISCREPANCY);
    cr_assert(a && a->expected == 2 && a->actual == 0);
}

Test(rfid, outbound_cuts_reservations_newest_first)
{
    OK(ap(RECEIVE("SKU1", 10, "RCV")));
    OK(ap(RESERVE("first", "SKU1", 4)));
    OK(ap(RESERVE("second", "SKU1", 4)));
    st_rfid_tag t[] = {{.sku = "SKU1", .qty = 5}};
    OK(ap(rfid(ST_DIR_OUTBOUND, 1, t)));
    cr_assert_eq(stock("SKU1").view.reserved, 5);
    const st_alert *a = alert_of(ST_ALERT_DISCREPANCY);
    cr_assert(a && a->expected == 8 && a->actual == 5);
    IS(ap(RELEASE("first", "SKU1", 0)), ST_OK);
    cr_assert_eq(stock("SKU1").view.reserved, 1, "the older order kept its 4");
    // Clamping cuts every reservation.
    st_rfid_tag big[] = {{.sku = "SKU1", .qty = 100}};
    OK(ap(rfid(ST_DIR_OUTBOUND, 1, big)));
    cr_assert_eq(stock("SKU1").view.reserved, 0);
    IS(ap(RELEASE("second", "SKU1", 0)), ST_UNKNOWN_ORDER);
}

Test(rfid, errors)
{
    st_rfid_tag tags[ST_RFID_TAGS_MAX + 1];
    for (uint32_t i = 0; i <= ST_RFID_TAGS_MAX; i++)
        tags[i] = (st_rfid_tag){.sku = "SKU1", .qty = 1};
    IS(ap(rfid(ST_DIR_INBOUND, ST_RFID_TAGS_MAX + 1, tags)), ST_TOO_LARGE);
    OK(ap(rfid(ST_DIR_INBOUND, ST_RFID_TAGS_MAX, tags)));
    cr_assert_eq(bin("SKU1", "RCV"), ST_RFID_TAGS_MAX);
    IS(ap(rfid(ST_DIR_INBOUND, 0, tags)), ST_INVALID_ARGUMENT);
    IS(ap(rfid(ST_DIR_UNSPECIFIED, 1, tags)), ST_INVALID_ARGUMENT);
    st_rfid_tag bad[] = {{.sku = "SKU1", .qty = 1}, {.sku = "SKU404", .qty = 1}};
    IS(ap(rfid(ST_DIR_INBOUND, 2, bad)), ST_UNKNOWN_PRODUCT);
    cr_assert_eq(bin("SKU1", "RCV"), ST_RFID_TAGS_MAX, "nothing of a rejected scan applied");
    st_rfid_tag neg[] = {{.sku = "SKU1", .qty = -1}};
    IS(ap(rfid(ST_DIR_INBOUND, 1, neg)), ST_INVALID_ARGUMENT);
    st_event ev = rfid(ST_DIR_INBOUND, 1, tags);
    ev.source = "w1";
    IS(ap(ev), ST_CONFLICT);
    ev.source = "ghost";
    IS(ap(ev), ST_UNKNOWN_DEVICE);
}

Test(rfid, many_skus_stay_within_output_bounds)
{
    static char skus[ST_RFID_TAGS_MAX][16];
    st_rfid_tag tags[ST_RFID_TAGS_MAX];
    for (uint32_t i = 0; i < ST_RFID_TAGS_MAX; i++) {
        snprintf(skus[i], sizeof skus[i], "M%u", i);
        st_event p = PRODUCT("x", 0, 10);
        p.u.product_upsert.sku = skus[i];
        OK(ap(p));
        OK(ap(RECEIVE(skus[i], 3, "RCV")));
        OK(ap(RESERVE("o", skus[i], 2)));
        tags[i] = (st_rfid_tag){.sku = skus[i], .qty = 5};
    }
    OK(ap(rfid(ST_DIR_OUTBOUND, ST_RFID_TAGS_MAX, tags)));
    cr_assert_eq(OUT.change_count, ST_RFID_TAGS_MAX);
    cr_assert_eq(alerts_of(ST_ALERT_DISCREPANCY), (int)ST_RFID_TAGS_MAX);
    cr_assert_eq(alerts_of(ST_ALERT_LOW_STOCK), 0, "already low after the reservations");
}

TestSuite(count, .init = setup_world, .fini = teardown_world);

Test(count, sets_bin_last_time_wins)
{
    OK(ap(RECEIVE("SKU1", 10, "S1")));
    NOW = 5000;
    OK(ap(COUNT("S1", "SKU1", 10)));
    cr_assert_eq(alerts_of(ST_ALERT_DISCREPANCY), 0);
    NOW = 6000;
    OK(ap(COUNT("S1", "SKU1", 7)));
    const st_alert *a = alert_of(ST_ALERT_DISCREPANCY);
    cr_assert(a && a->expected == 10 && a->actual == 7);
    cr_assert_eq(bin("SKU1", "S1"), 7);
    NOW = 5500;
    IS(ap(COUNT("S1", "SKU1", 100)), ST_STALE);
    cr_assert_eq(bin("SKU1", "S1"), 7);
    NOW = 6000; // same time: applied
    OK(ap(COUNT("S1", "SKU1", 9)));
    cr_assert_eq(stock("SKU1").view.on_hand, 9);
    // A count creates the bin and the stock record on first touch.
    OK(ap(COUNT("RCV", "SKU3", 4)));
    cr_assert_eq(stock("SKU3").view.on_hand, 4);
    IS(ap(COUNT("RCV", "SKU3", -1)), ST_INVALID_ARGUMENT);
    IS(ap(COUNT("NOPE", "SKU3", 1)), ST_UNKNOWN_LOCATION);
    IS(ap(COUNT("RCV", "NOPE", 1)), ST_UNKNOWN_PRODUCT);
}

Test(count, cuts_reservations)
{
    OK(ap(RECEIVE("SKU1", 10, "S1")));
    OK(ap(RESERVE("o1", "SKU1", 9)));
    NOW = 5000;
    OK(ap(COUNT("S1", "SKU1", 3)));
    cr_assert_eq(stock("SKU1").view.reserved, 3);
    cr_assert_eq(alerts_of(ST_ALERT_DISCREPANCY), 2, "count and cut");
}

TestSuite(reservation, .init = setup_world, .fini = teardown_world);

Test(reservation, never_oversells)
{
    OK(ap(RECEIVE("SKU1", 10, "RCV")));
    OK(ap(RESERVE("o1", "SKU1", 6)));
    IS(ap(RESERVE("o2", "SKU1", 5)), ST_INSUFFICIENT_STOCK);
    cr_assert_str_eq(OUT.message, "only 4 of SKU1 are available in wh1");
    OK(ap(RESERVE("o2", "SKU1", 4)));
    IS(ap(RESERVE("o3", "SKU1", 1)), ST_INSUFFICIENT_STOCK);
    IS(ap(RESERVE("o3", "SKU2", 1)), ST_INSUFFICIENT_STOCK);
    IS(ap(RESERVE("o3", "SKU1", 0)), ST_INVALID_ARGUMENT);
    IS(ap(RESERVE("", "SKU1", 1)), ST_INVALID_ARGUMENT);
    IS(ap(RESERVE("o3", "NOPE", 1)), ST_UNKNOWN_PRODUCT);
    stock_probe p = stock("SKU1");
    cr_assert_eq(p.view.reserved, 10);
    cr_assert_eq(p.view.available, 0);
}

Test(reservation, release)
{
    OK(ap(RECEIVE("SKU1", 10, "RCV")));
    OK(ap(RESERVE("o1", "SKU1", 6)));
    OK(ap(RESERVE("o1", "SKU1", 2)));
    cr_assert_eq(stock("SKU1").view.reserved, 8);
    OK(ap(RELEASE("o1", "SKU1", 3)));
    cr_assert_eq(stock("SKU1").view.reserved, 5);
    OK(ap(RELEASE("o1", "SKU1", 50))); // more than held releases all
    cr_assert_eq(stock("SKU1").view.reserved, 0);
    IS(ap(RELEASE("o1", "SKU1", 0)), ST_UNKNOWN_ORDER);
    IS(ap(RELEASE("o9", "SKU1", 0)), ST_UNKNOWN_ORDER);
    IS(ap(RELEASE("o9", "SKU1", -1)), ST_INVALID_ARGUMENT);
    OK(ap(RESERVE("o2", "SKU1", 4)));
    OK(ap(RELEASE("o2", "SKU1", 0)));
    cr_assert_eq(stock("SKU1").view.reserved, 0);
}

Test(reservation, fulfil)
{
    OK(ap(RECEIVE("SKU1", 5, "RCV")));
    OK(ap(RECEIVE("SKU1", 5, "S1")));
    OK(ap(RESERVE("o1", "SKU1", 8)));
    IS(ap(FULFIL("o1", "SKU1", 9, NULL)), ST_INSUFFICIENT_STOCK);
    IS(ap(FULFIL("o1", "SKU1", 1, "NOPE")), ST_UNKNOWN_LOCATION);
    IS(ap(FULFIL("o2", "SKU1", 1, NULL)), ST_UNKNOWN_ORDER);
    OK(ap(FULFIL("o1", "SKU1", 3, "S1")));
    cr_assert_eq(bin("SKU1", "S1"), 2);
    cr_assert_eq(stock("SKU1").view.on_hand, 7);
    cr_assert_eq(stock("SKU1").view.reserved, 5);
    OK(ap(FULFIL("o1", "SKU1", 0, NULL))); // the rest: RCV first (chain order)
    cr_assert_eq(stock("SKU1").view.on_hand, 2);
    cr_assert_eq(stock("SKU1").view.reserved, 0);
    cr_assert_eq(bin("SKU1", "RCV"), 0);
    IS(ap(FULFIL("o1", "SKU1", 0, NULL)), ST_UNKNOWN_ORDER);
}

TestSuite(po, .init = setup_world, .fini = teardown_world);

static st_event
po_create(const char *id, const char *sup, const char *sku, int64_t qty)
{
    return (st_event){
        .kind = ST_EV_PO_CREATE,
        .u.po_create = {.po_id = id, .supplier = sup, .sku = sku, .qty = qty, .eta_ms = 99999}};
}

static st_event
po_receive(const char *id, int64_t qty, const char *loc)
{
    return (st_event){.kind = ST_EV_PO_RECEIVE,
                      .u.po_receive = {.po_id = id, .qty = qty, .location = loc}};
}

Test(po, partial_receipts)
{
    OK(ap(po_create("PO1", "SUP1", "SKU1", 10)));
    cr_assert_eq(stock("SKU1").view.inbound, 10);
    NOW = 4000;
    OK(ap(po_receive("PO1", 4, NULL)));
    cr_assert_eq(bin("SKU1", "RCV"), 4, "default: the first RECEIVING zone");
    cr_assert_eq(stock("SKU1").view.inbound, 6);
    IS(ap(po_receive("PO1", 7, NULL)), ST_CONFLICT);
    NOW = 5000;
    OK(ap(po_receive("PO1", 6, "S1")));
    cr_assert_eq(bin("SKU1", "S1"), 6);
    cr_assert_eq(stock("SKU1").view.inbound, 0);
    IS(ap(po_receive("PO1", 1, NULL)), ST_CONFLICT);
    IS(ap(po_receive("PO2", 1, NULL)), ST_UNKNOWN_ORDER);
    IS(ap(po_receive("PO1", 0, NULL)), ST_INVALID_ARGUMENT);
}

Test(po, create_errors_and_eta)
{
    IS(ap(po_create("PO1", "SUP9", "SKU1", 10)), ST_UNKNOWN_SUPPLIER);
    IS(ap(po_create("PO1", "SUP1", "SKU9", 10)), ST_UNKNOWN_PRODUCT);
    IS(ap(po_create("PO1", "SUP1", "SKU1", 0)), ST_INVALID_ARGUMENT);
    IS(ap(po_create("", "SUP1", "SKU1", 1)), ST_INVALID_ARGUMENT);
    OK(ap(po_create("PO1", "SUP1", "SKU1", 10)));
    IS(ap(po_create("PO1", "SUP1", "SKU1", 10)), ST_CONFLICT);
    NOW = 2000;
    OK(ap((st_event){.kind = ST_EV_PO_ETA, .u.po_eta = {.po_id = "PO1", .eta_ms = 5}}));
    NOW = 1500;
    IS(ap((st_event){.kind = ST_EV_PO_ETA, .u.po_eta = {.po_id = "PO1", .eta_ms = 6}}), ST_STALE);
    IS(ap((st_event){.kind = ST_EV_PO_ETA, .u.po_eta = {.po_id = "PO9", .eta_ms = 6}}),
       ST_UNKNOWN_ORDER);
}

Test(po, no_zone_to_receive_into)
{
    OK(ap(WAREHOUSE("empty")));
    st_event c = po_create("PO1", "SUP1", "SKU1", 10);
    c.warehouse = "empty";
    OK(ap(c));
    st_event r = po_receive("PO1", 1, NULL);
    r.warehouse = "empty";
    IS(ap(r), ST_UNKNOWN_LOCATION);
    st_event z = ZONE("Z", ST_ZONE_STORAGE);
    z.warehouse = "empty";
    OK(ap(z));
    OK(ap(r)); // the first zone when there is no receiving zone
    cr_assert_eq(stock_in(S, "empty", "SKU1", "Z").bin_qty, 1);
}

typedef struct prop_probe {
    const char *name;
    st_prop prop;
    int rels;
    const char *first_rel;
    st_twin_kind kind;
} prop_probe;

static void
prop_probe_cb(void *arg, const st_twin_view *v)
{
    prop_probe *p = arg;
    p->kind = v->kind;
    p->rels = (int)v->rel_count;
    p->first_rel = v->rel_count ? v->rels[0].target : NULL;
    for (uint32_t i = 0; i < v->prop_count; i++)
        if (strcmp(v->props[i].name, p->name) == 0)
            p->prop = v->props[i];
}

Test(po, receipts_are_lead_time_samples)
{
    NOW = 1000;
    OK(ap(po_create("PO1", "SUP1", "SKU1", 10)));
    NOW = 3000;
    OK(ap(po_receive("PO1", 5, NULL)));
    NOW = 5000;
    OK(ap(po_receive("PO1", 5, NULL)));
    prop_probe p = {.name = "leadTimeSamples"};
    OK(st_state_twin(S, NULL, "SUP1", prop_probe_cb, &p));
    cr_assert_eq(p.kind, ST_TWIN_SUPPLIER);
    cr_assert_eq(p.prop.integer, 2);
    p.name = "leadTimeMeanMs";
    OK(st_state_twin(S, NULL, "SUP1", prop_probe_cb, &p));
    cr_assert_float_eq(p.prop.real, 3000.0, 1e-9);
}

TestSuite(upsert, .init = setup_world, .fini = teardown_world);

Test(upsert, last_event_time_wins)
{
    NOW = 5000;
    OK(ap(ZONE("RCV", ST_ZONE_STORAGE)));
    NOW = 4000;
    IS(ap(ZONE("RCV", ST_ZONE_RECEIVING)), ST_STALE);
    cr_assert_neq(OUT.message[0], '\0');
    IS(ap(WAREHOUSE("wh1")), ST_OK); // 4000 > 1000
    NOW = 3000;
    IS(ap(WAREHOUSE("wh1")), ST_STALE);
    NOW = 500;
    IS(ap(PRODUCT("SKU1", 1, 1)), ST_STALE);
    IS(ap(SUPPLIER("SUP1")), ST_STALE);
    NOW = 3000;
    IS(ap(DEVICE("w1", ST_DEV_WEIGHT, "S1")), ST_OK);
    NOW = 2000;
    IS(ap(DEVICE("w1", ST_DEV_WEIGHT, "S1")), ST_STALE);
    IS(ap(shelf_ev((shelf_spec){.id = "S1", .zone = "STO"})), ST_OK);
    NOW = 1500;
    IS(ap(shelf_ev((shelf_spec){.id = "S1", .zone = "STO"})), ST_STALE);
}

Test(upsert, topology_conflicts_and_errors)
{
    IS(ap(ZONE("S1", ST_ZONE_STORAGE)), ST_CONFLICT);
    IS(ap(ZONE("Z", (st_zone_type)7)), ST_INVALID_ARGUMENT);
    IS(ap(shelf_ev((shelf_spec){.id = "RCV", .zone = "STO"})), ST_CONFLICT);
    IS(ap(shelf_ev((shelf_spec){.id = "S9", .zone = "S1"})), ST_CONFLICT);
    IS(ap(shelf_ev((shelf_spec){.id = "S9", .zone = "NOPE"})), ST_UNKNOWN_LOCATION);
    IS(ap(shelf_ev((shelf_spec){.id = "S9", .zone = NULL})), ST_INVALID_ARGUMENT);
    IS(ap(shelf_ev((shelf_spec){.id = "S9", .zone = "STO", .sku = "NOPE"})), ST_UNKNOWN_PRODUCT);
    IS(ap(shelf_ev((shelf_spec){.id = "S9", .zone = "STO", .tare_mg = -1})), ST_INVALID_ARGUMENT);
    IS(ap(shelf_ev((shelf_spec){.id = "S9", .zone = "STO", .authority = 2})), ST_INVALID_ARGUMENT);
    IS(ap(DEVICE("d", ST_DEV_WEIGHT, "STO")), ST_CONFLICT);
    IS(ap(DEVICE("d", ST_DEV_RFID, NULL)), ST_INVALID_ARGUMENT);
    IS(ap(DEVICE("d", ST_DEV_RFID, "NOPE")), ST_UNKNOWN_LOCATION);
    IS(ap(DEVICE("d", ST_DEV_UNSPECIFIED, "RCV")), ST_INVALID_ARGUMENT);
    IS(ap(DEVICE("d", (st_device_kind)6, "RCV")), ST_INVALID_ARGUMENT);
    OK(ap(DEVICE("gw", ST_DEV_GATEWAY, NULL)));
    IS(ap(PRODUCT("SKU8", -1, 0)), ST_INVALID_ARGUMENT);
    IS(ap(PRODUCT("", 1, 0)), ST_INVALID_ARGUMENT);
    IS(ap(SUPPLIER("")), ST_INVALID_ARGUMENT);
    st_event w = WAREHOUSE("wh2");
    w.u.warehouse_upsert.total_capacity = -1;
    IS(ap(w), ST_INVALID_ARGUMENT);
    cr_assert(!st_state_has_warehouse(S, "wh2"));
    cr_assert(st_state_has_warehouse(S, "wh1"));
}

Test(upsert, shelf_product_can_change)
{
    OK(ap(shelf_ev((shelf_spec){.id = "S1", .zone = "RCV", .sku = "SKU3"})));
    prop_probe p = {.name = "productName"};
    OK(st_state_twin(S, "wh1", "S1", prop_probe_cb, &p));
    cr_assert_str_eq(p.prop.text, "name of SKU3");
}

TestSuite(transfer, .init = setup_world, .fini = teardown_world);

static st_event
dispatch(const char *id, const char *to, const char *sku, int64_t qty)
{
    return (st_event){
        .kind = ST_EV_TRANSFER_DISPATCH,
        .u.transfer_dispatch = {
            .transfer_id = id, .to_warehouse = to, .sku = sku, .qty = qty, .eta_ms = 777}};
}

static st_event
xreceive(const char *wh, const char *id, const char *loc)
{
    return (st_event){.kind = ST_EV_TRANSFER_RECEIVE,
                      .warehouse = wh,
                      .u.transfer_receive = {.transfer_id = id, .location = loc}};
}

// deliver applies the single outbox event of the last apply to `to`.
static st_err
deliver(st_state *to, st_event *copy)
{
    cr_assert_eq(OUT.outbox_count, 1);
    *copy = OUT.outbox[0];
    return st_state_apply(to, copy, &OUT);
}

// destination makes another worker's state: SKU1 and warehouse wh2 with a
// receiving zone IN; and puts 10 of SKU1 into wh1's RCV.
static st_state *
destination(void)
{
    st_state *dst;
    cr_assert_eq(st_state_create(NULL, &dst), ST_OK);
    OK(ap_in(dst, PRODUCT("SKU1", 1000, 5)));
    OK(ap_in(dst, WAREHOUSE("wh2")));
    st_event zin = ZONE("IN", ST_ZONE_RECEIVING);
    zin.warehouse = "wh2";
    OK(ap_in(dst, zin));
    OK(ap(RECEIVE("SKU1", 10, "RCV")));
    return dst;
}

Test(transfer, across_two_states)
{
    st_state *dst = destination();
    int64_t units = st_state_network_units(S) + st_state_network_units(dst);
    IS(ap(dispatch("T1", "wh1", "SKU1", 1)), ST_INVALID_ARGUMENT);
    IS(ap(dispatch("T1", "wh2", "SKU1", 11)), ST_INSUFFICIENT_STOCK);
    OK(ap(dispatch("T1", "wh2", "SKU1", 4)));
    cr_assert_eq(stock("SKU1").view.on_hand, 6);
    cr_assert_eq(stock("SKU1").view.in_transit_out, 4);
    cr_assert_eq(OUT.outbox_count, 1);
    st_event in = OUT.outbox[0];
    cr_assert_eq(in.kind, ST_EV_TRANSFER_INBOUND);
    cr_assert_str_eq(in.warehouse, "wh2");
    cr_assert_str_eq(in.source, "outbox/wh1");
    cr_assert_eq(in.seq, 1);
    cr_assert_str_eq(in.u.transfer_inbound.from_warehouse, "wh1");
    cr_assert_eq(in.u.transfer_inbound.qty, 4);
    IS(ap(dispatch("T1", "wh2", "SKU1", 1)), ST_CONFLICT);
    IS(ap_in(dst, xreceive("wh2", "T1", NULL)), ST_UNKNOWN_ORDER);
    IS(st_state_apply(dst, &in, &OUT), ST_OK);
    cr_assert_eq(stock_in(dst, "wh2", "SKU1", NULL).view.inbound, 4);
    IS(st_state_apply(dst, &in, &OUT), ST_DUPLICATE);
    cr_assert_eq(st_state_network_units(S) + st_state_network_units(dst), units);
    IS(ap_in(dst, xreceive("wh2", "T1", "NOPE")), ST_UNKNOWN_LOCATION);
    OK(ap_in(dst, xreceive("wh2", "T1", NULL)));
    cr_assert_eq(stock_in(dst, "wh2", "SKU1", "IN").bin_qty, 4);
    cr_assert_eq(stock_in(dst, "wh2", "SKU1", NULL).view.inbound, 0);
    st_event arrived;
    cr_assert_eq(OUT.outbox[0].kind, ST_EV_TRANSFER_ARRIVED);
    cr_assert_str_eq(OUT.outbox[0].source, "outbox/wh2");
    OK(deliver(S, &arrived));
    cr_assert_eq(stock("SKU1").view.in_transit_out, 0);
    IS(st_state_apply(S, &arrived, &OUT), ST_DUPLICATE);
    arrived.seq = 9; // a new seq for the same transfer: conflict
    IS(st_state_apply(S, &arrived, &OUT), ST_CONFLICT);
    cr_assert_eq(st_state_network_units(S) + st_state_network_units(dst), units);
    IS(ap_in(dst, xreceive("wh2", "T1", NULL)), ST_CONFLICT);
    st_state_verify(dst);
    st_state_destroy(dst);
}

// halves collects what st_state_transfer_halves hands out (copied: the
// next apply reuses nothing of it, but the test applies them later).
typedef struct halves {
    uint32_t n;
    st_event ev[4];
} halves;

static void
halves_add(void *arg, const st_event *half)
{
    halves *h = arg;
    cr_assert_lt(h->n, 4);
    h->ev[h->n++] = *half;
}

static void
same_event(const st_event *a, const st_event *b)
{
    cr_assert_eq(a->kind, b->kind);
    cr_assert_str_eq(a->source, b->source);
    cr_assert_eq(a->seq, b->seq);
    cr_assert_str_eq(a->warehouse, b->warehouse);
    if (a->kind == ST_EV_TRANSFER_INBOUND) {
        cr_assert_str_eq(a->u.transfer_inbound.transfer_id, b->u.transfer_inbound.transfer_id);
        cr_assert_str_eq(a->u.transfer_inbound.from_warehouse,
                         b->u.transfer_inbound.from_warehouse);
        cr_assert_str_eq(a->u.transfer_inbound.sku, b->u.transfer_inbound.sku);
        cr_assert_eq(a->u.transfer_inbound.qty, b->u.transfer_inbound.qty);
        cr_assert_eq(a->u.transfer_inbound.eta_ms, b->u.transfer_inbound.eta_ms);
    } else {
        cr_assert_str_eq(a->u.transfer_arrived.transfer_id, b->u.transfer_arrived.transfer_id);
    }
}

// A half lost in flight (a promoted follower's snapshot holds no outbox) is
// rebuilt from the records under its first (source, seq): the side that
// lacks it applies it, the side that has it answers DUPLICATE, and a saved
// and loaded state rebuilds the same halves.
Test(transfer, lost_halves_are_rebuilt_as_first_sent)
{
    st_state *dst = destination();
    OK(ap(dispatch("T0", "wh2", "SKU1", 1))); // delivered at once
    st_event first;
    OK(deliver(dst, &first));
    OK(ap(dispatch("T1", "wh2", "SKU1", 4))); // lost
    st_event lost = OUT.outbox[0];
    halves h = {0};
    cr_assert_eq(st_state_transfer_halves(S, halves_add, &h), 2);
    same_event(&h.ev[0], &first);
    same_event(&h.ev[1], &lost);
    cr_assert_not(st_state_transfer_half_needed(dst, &h.ev[0]), "wh2 has T0");
    cr_assert(st_state_transfer_half_needed(dst, &h.ev[1]), "wh2 lacks T1");
    cr_assert_not(st_state_transfer_half_needed(S, &h.ev[1]), "wh2 is not in S");
    IS(st_state_apply(dst, &h.ev[0], &OUT), ST_DUPLICATE);
    IS(st_state_apply(dst, &h.ev[1], &OUT), ST_OK);
    cr_assert_eq(stock_in(dst, "wh2", "SKU1", NULL).view.inbound, 5);
    IS(st_state_apply(dst, &lost, &OUT), ST_DUPLICATE); // the original, should it come
    // Received: the ARRIVED half of T1 is the one to send again; T0's is
    // delivered; neither INBOUND is open any more at wh1's side... until
    // its ARRIVED lands.
    OK(ap_in(dst, xreceive("wh2", "T0", NULL)));
    st_event arrived0;
    OK(deliver(S, &arrived0));
    OK(ap_in(dst, xreceive("wh2", "T1", NULL)));
    st_event arrived1 = OUT.outbox[0];
    h = (halves){0};
    cr_assert_eq(st_state_transfer_halves(dst, halves_add, &h), 2);
    same_event(&h.ev[0], &arrived0);
    same_event(&h.ev[1], &arrived1);
    cr_assert_not(st_state_transfer_half_needed(S, &h.ev[0]), "T0 has arrived");
    cr_assert(st_state_transfer_half_needed(S, &h.ev[1]), "T1 has not");
    h = (halves){0};
    cr_assert_eq(st_state_transfer_halves(S, halves_add, &h), 1, "T1 is still open");
    same_event(&h.ev[0], &lost);
    // Saved and loaded, the records keep their seqs.
    image im = {0};
    cr_assert(st_state_save(dst, image_put, &im));
    st_state *back;
    cr_assert_eq(st_state_create(NULL, &back), ST_OK);
    char why[256];
    cr_assert_eq(st_state_load(back, im.buf, im.len, why, sizeof why), ST_OK, "%s", why);
    halves b = {0};
    cr_assert_eq(st_state_transfer_halves(back, halves_add, &b), 2);
    same_event(&b.ev[1], &arrived1);
    IS(st_state_apply(S, &b.ev[1], &OUT), ST_OK);
    cr_assert_eq(stock("SKU1").view.in_transit_out, 0);
    IS(st_state_apply(S, &arrived1, &OUT), ST_DUPLICATE);
    h = (halves){0};
    cr_assert_eq(st_state_transfer_halves(S, halves_add, &h), 0, "nothing open");
    free(im.buf);
    st_state_destroy(back);
    st_state_destroy(dst);
}

// A transfer half is a duplicate when its transfer says so, not only its
// seq: a promoted source may number new halves with seqs the destination
// saw from the old leader, and a half sent again may be older than the
// 64-seq window. Such a half is applied once, then answered DUPLICATE.
Test(transfer, a_seen_seq_for_an_unseen_transfer_is_applied)
{
    st_state *dst = destination();
    OK(ap(dispatch("T1", "wh2", "SKU1", 1)));
    st_event first;
    OK(deliver(dst, &first)); // outbox/wh1 seq 1 seen at wh2
    // The same seq, another transfer (a promoted wh1 that never logged T1).
    st_event again = first;
    again.u.transfer_inbound.transfer_id = "T2";
    again.u.transfer_inbound.qty = 3;
    IS(st_state_apply(dst, &again, &OUT), ST_OK);
    cr_assert_eq(stock_in(dst, "wh2", "SKU1", NULL).view.inbound, 4);
    IS(st_state_apply(dst, &again, &OUT), ST_DUPLICATE);
    IS(st_state_apply(dst, &first, &OUT), ST_DUPLICATE);
    // Far below the window: 100 later halves from wh1 first.
    char id[16];
    st_event later = first;
    for (uint64_t i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "L%llu", (unsigned long long)i);
        later.u.transfer_inbound.transfer_id = id;
        later.seq = 10 + i;
        IS(st_state_apply(dst, &later, &OUT), ST_OK);
    }
    st_event old = first;
    old.u.transfer_inbound.transfer_id = "OLD";
    old.seq = 5;
    IS(st_state_apply(dst, &old, &OUT), ST_OK);
    IS(st_state_apply(dst, &old, &OUT), ST_DUPLICATE);
    cr_assert_eq(stock_in(dst, "wh2", "SKU1", NULL).view.inbound, 4 + 100 + 1);
    // The arrival half alike, at the source: T3 is open, its arrival comes
    // with a seq wh1 has seen from wh2 (for T1's).
    st_event arrived = {.kind = ST_EV_TRANSFER_ARRIVED,
                        .source = "outbox/wh2",
                        .seq = 7,
                        .event_time_ms = NOW,
                        .warehouse = "wh1",
                        .u.transfer_arrived.transfer_id = "T1"};
    IS(st_state_apply(S, &arrived, &OUT), ST_OK);
    OK(ap(dispatch("T3", "wh2", "SKU1", 2)));
    cr_assert_eq(stock("SKU1").view.in_transit_out, 2);
    arrived.u.transfer_arrived.transfer_id = "T3";
    IS(st_state_apply(S, &arrived, &OUT), ST_OK);
    cr_assert_eq(stock("SKU1").view.in_transit_out, 0);
    IS(st_state_apply(S, &arrived, &OUT), ST_DUPLICATE);
    st_state_verify(dst);
    st_state_destroy(dst);
}

Test(transfer, within_one_state_and_position)
{
    OK(ap(WAREHOUSE("wh2")));
    st_event z = ZONE("IN", ST_ZONE_STORAGE);
    z.warehouse = "wh2";
    OK(ap(z));
    OK(ap(RECEIVE("SKU1", 5, "S1")));
    OK(ap(RECEIVE("SKU1", 5, "RCV")));
    st_event d = dispatch("T1", "wh2", "SKU1", 6);
    d.u.transfer_dispatch.from_location = "RCV";
    OK(ap(d));
    cr_assert_eq(bin("SKU1", "RCV"), 0);
    cr_assert_eq(bin("SKU1", "S1"), 4);
    st_event copy;
    OK(deliver(S, &copy));
    OK(ap((st_event){.kind = ST_EV_TRANSFER_POSITION,
                     .u.transfer_position = {.transfer_id = "T1", .lat = 52.5, .lon = 13.4}}));
    prop_probe p = {0};
    (void)p;
    IS(ap((st_event){.kind = ST_EV_TRANSFER_POSITION,
                     .u.transfer_position = {.transfer_id = "T1", .lat = 91, .lon = 0}}),
       ST_INVALID_ARGUMENT);
    IS(ap((st_event){.kind = ST_EV_TRANSFER_POSITION,
                     .u.transfer_position = {.transfer_id = "T9", .lat = 1, .lon = 0}}),
       ST_UNKNOWN_ORDER);
    NOW = 500;
    IS(ap((st_event){.kind = ST_EV_TRANSFER_POSITION,
                     .u.transfer_position = {.transfer_id = "T1", .lat = 1, .lon = 0}}),
       ST_STALE);
    int64_t units = st_state_network_units(S);
    OK(ap(xreceive("wh2", "T1", NULL)));
    OK(deliver(S, &copy));
    cr_assert_eq(st_state_network_units(S), units);
    cr_assert_eq(stock_in(S, "wh2", "SKU1", "IN").bin_qty, 6);
    cr_assert_eq(stock("SKU1").view.in_transit_out, 0);
}

Test(transfer, inbound_checks)
{
    st_event in = {.kind = ST_EV_TRANSFER_INBOUND,
                   .source = "outbox/whX",
                   .seq = 1,
                   .warehouse = "wh1",
                   .u.transfer_inbound = {
                       .transfer_id = "T1", .from_warehouse = "whX", .sku = "SKU1", .qty = 2}};
    st_event bad = in;
    bad.u.transfer_inbound.sku = "NOPE";
    IS(st_state_apply(S, &bad, &OUT), ST_UNKNOWN_PRODUCT);
    bad = in;
    bad.u.transfer_inbound.from_warehouse = "wh1";
    IS(st_state_apply(S, &bad, &OUT), ST_INVALID_ARGUMENT);
    bad = in;
    bad.warehouse = "whY";
    IS(st_state_apply(S, &bad, &OUT), ST_UNKNOWN_WAREHOUSE);
    IS(st_state_apply(S, &in, &OUT), ST_OK);
    in.seq = 2;
    IS(st_state_apply(S, &in, &OUT), ST_CONFLICT);
    st_event arr = {.kind = ST_EV_TRANSFER_ARRIVED,
                    .source = "outbox/whX",
                    .seq = 3,
                    .warehouse = "wh1",
                    .u.transfer_arrived = {.transfer_id = "T1"}};
    // T1 is inbound here, not outbound.
    IS(st_state_apply(S, &arr, &OUT), ST_UNKNOWN_ORDER);
}

TestSuite(digest, .init = setup_world, .fini = teardown_world);

Test(digest, equal_for_same_events_different_otherwise)
{
    st_state *b;
    cr_assert_eq(st_state_create(NULL, &b), ST_OK);
    // The same logical state reached with warehouses created in another
    // order and other strings interned first.
    st_event zz = WAREHOUSE("zz");
    zz.source = "erp";
    zz.seq = 1;
    OK(ap_in(b, zz));
    OK(ap_in(b, PRODUCT("SKU3", 500, 0)));
    cr_assert_neq(st_state_digest(S), st_state_digest(b));
    uint64_t before = st_state_digest(S);
    OK(ap(zz));
    cr_assert_neq(st_state_digest(S), before);
    cr_assert_eq(st_state_warehouse_digest(S, "zz"), st_state_warehouse_digest(b, "zz"));
    cr_assert_eq(st_state_warehouse_digest(S, "nope"), 0);
    OK(ap(RECEIVE("SKU1", 1, "RCV")));
    uint64_t d1 = st_state_digest(S);
    OK(ap(PICK("SKU1", 1, "RCV")));
    cr_assert_neq(st_state_digest(S), d1);
    cr_assert_eq(st_state_digest(S), st_state_catalog_digest(S) +
                                         st_state_warehouse_digest(S, "wh1") +
                                         st_state_warehouse_digest(S, "zz"));
    st_state_destroy(b);
}

TestSuite(asserts);

Test(asserts, null_state_aborts, .signal = SIGABRT)
{
    st_event ev = RECEIVE("SKU1", 1, "RCV");
    st_state_apply(NULL, &ev, &OUT);
}

Test(asserts, assert_fail_aborts, .signal = SIGABRT)
{
    ST_ASSERT(1 + 1 == 3);
}

Test(asserts, null_query_callback_aborts, .signal = SIGABRT)
{
    st_state *s;
    st_state_create(NULL, &s);
    st_inventory_query q = {.warehouse = "x"};
    st_state_inventory(s, &q, NULL, NULL, NULL);
}

TestSuite(rejected, .init = setup_world, .fini = teardown_world);

// One rejected event of each kind: the digest (which covers the duplicate
// windows too) must not move.
Test(rejected, events_change_nothing)
{
    OK(ap(RECEIVE("SKU1", 5, "RCV")));
    OK(ap(RESERVE("o1", "SKU1", 2)));
    st_rfid_tag tag = {.sku = "NOPE"};
    st_event bad[] = {
        RECEIVE("SKU1", 0, "RCV"),
        PICK("SKU1", 9, "RCV"),
        COUNT("RCV", "NOPE", 1),
        RESERVE("o2", "SKU1", 4),
        RELEASE("o9", "SKU1", 1),
        FULFIL("o1", "SKU1", 3, NULL),
        WEIGHT("w1", "S2", 5),
        {.kind = ST_EV_RFID,
         .source = "rfid1",
         .u.rfid = {.direction = ST_DIR_INBOUND, .tag_count = 1, .tags = &tag}},
        {.kind = ST_EV_PO_CREATE,
         .u.po_create = {.po_id = "P", .supplier = "SUP9", .sku = "SKU1", .qty = 1}},
        {.kind = ST_EV_PO_RECEIVE, .u.po_receive = {.po_id = "P", .qty = 1}},
        {.kind = ST_EV_TRANSFER_DISPATCH,
         .u.transfer_dispatch =
             {.transfer_id = "T", .to_warehouse = "wh2", .sku = "SKU1", .qty = 4}},
        {.kind = ST_EV_TRANSFER_RECEIVE, .u.transfer_receive = {.transfer_id = "T"}},
        ZONE("S1", ST_ZONE_STORAGE),
        DEVICE("d", ST_DEV_SMART_SHELF, "RCV"),
        POLICY("NOPE", 1),
        PRODUCT("", 0, 0),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t before = st_state_digest(S);
        st_err err = ap(bad[i]);
        cr_assert(!st_err_accepted(err), "event %zu was accepted", i);
        cr_assert_neq(OUT.message[0], '\0', "event %zu has a message", i);
        cr_assert_eq(OUT.change_count + OUT.alert_count + OUT.outbox_count, 0);
        cr_assert_eq(st_state_digest(S), before, "event %zu (%s) changed the state", i,
                     st_err_str(err));
    }
}

Test(rejected, orders_are_bounded)
{
    st_state_destroy(S);
    st_state_config cfg = {.orders_max = 2};
    cr_assert_eq(st_state_create(&cfg, &S), ST_OK);
    OK(ap(PRODUCT("SKU1", 0, 0)));
    OK(ap(SUPPLIER("SUP1")));
    OK(ap(WAREHOUSE("wh1")));
    OK(ap(ZONE("Z", ST_ZONE_STORAGE)));
    OK(ap(RECEIVE("SKU1", 10, "Z")));
    OK(ap((st_event){.kind = ST_EV_PO_CREATE,
                     .u.po_create = {.po_id = "P1", .supplier = "SUP1", .sku = "SKU1", .qty = 1}}));
    OK(ap((st_event){.kind = ST_EV_TRANSFER_DISPATCH,
                     .u.transfer_dispatch = {
                         .transfer_id = "T1", .to_warehouse = "wh2", .sku = "SKU1", .qty = 1}}));
    IS(ap((st_event){.kind = ST_EV_PO_CREATE,
                     .u.po_create = {.po_id = "P2", .supplier = "SUP1", .sku = "SKU1", .qty = 1}}),
       ST_CAPACITY);
    IS(ap(RESERVE("o", "SKU1", 1)), ST_CAPACITY);
}

Test(rejected, telemetry_updates_last_seen)
{
    st_rfid_tag tag = {.sku = "SKU1", .qty = 1};
    NOW = 7777;
    OK(ap((st_event){.kind = ST_EV_RFID,
                     .source = "rfid1",
                     .u.rfid = {.direction = ST_DIR_INBOUND, .tag_count = 1, .tags = &tag}}));
    prop_probe p = {.name = "lastSeen"};
    OK(st_state_twin(S, "wh1", "rfid1", prop_probe_cb, &p));
    cr_assert_eq(p.prop.integer, 7777);
}
