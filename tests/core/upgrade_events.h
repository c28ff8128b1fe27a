// upgrade_events.h - one fixed history for upgrade_test.c: applied by this
// build, and by the build that wrote data/state-v1.snap (snapshot format 1:
// 72-byte stock records, 32-byte bins), so that the image and this build's
// replay of the same events can be compared. It touches every field that
// format 2 moved out of the stock record: reservations, a purchase order,
// an outbound transfer, a stock policy, counts and a weight reading (bin set
// times). Uses fixture.h; keep it buildable against that older tree (see
// data/make_state.sh).
#ifndef ST_TESTS_CORE_UPGRADE_EVENTS_H
#define ST_TESTS_CORE_UPGRADE_EVENTS_H

#include "fixture.h"

__attribute__((unused)) static void
upgrade_history(void)
{
    setup_world();
    OK(ap(WAREHOUSE("wh2")));
    OK(ap_in(S, (st_event){
                    .kind = ST_EV_ZONE_UPSERT,
                    .warehouse = "wh2",
                    .u.zone_upsert = {.zone_id = "IN", .name = "in", .type = ST_ZONE_RECEIVING}}));
    OK(ap(RECEIVE("SKU1", 40, "S1")));
    OK(ap(RECEIVE("SKU2", 25, "RCV")));
    OK(ap(RECEIVE("SKU2", 5, "STO")));
    OK(ap(RECEIVE("SKU3", 9, "RCV")));
    NOW += 10;
    OK(ap(COUNT("RCV", "SKU2", 23))); // a set time on a bin, and a discrepancy
    OK(ap(RESERVE("o-1", "SKU2", 4)));
    OK(ap(RESERVE("o-2", "SKU1", 3)));
    OK(ap(POLICY("SKU3", 2)));
    OK(ap((st_event){
        .kind = ST_EV_PO_CREATE,
        .u.po_create = {
            .po_id = "po-1", .supplier = "SUP1", .sku = "SKU3", .qty = 50, .eta_ms = 90000}}));
    OK(ap((st_event){.kind = ST_EV_TRANSFER_DISPATCH,
                     .u.transfer_dispatch = {.transfer_id = "t-1",
                                             .to_warehouse = "wh2",
                                             .sku = "SKU2",
                                             .qty = 6,
                                             .eta_ms = 80000,
                                             .from_location = "STO"}}));
    NOW += 10;
    OK(ap(WEIGHT("w2", "S2", 7000))); // 7 units of SKU1 under weight authority
    OK(ap(FULFIL("o-2", "SKU1", 1, "S1")));
    OK(ap(PICK("SKU3", 2, "RCV")));
}

#endif
