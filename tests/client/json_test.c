// json_test.c - JSON lines to Events (and messages back to JSON): the valid
// shapes the CLI documents, and a clear error for each kind of bad input.
#include <criterion/criterion.h>
#include <string.h>

#include "stocktwin.h"

Test(json, movement_line_becomes_an_event)
{
    Stocktwin__Event *e = NULL;
    const char *line = "{\"source\":\"erp\",\"seq\":1,\"warehouse\":\"wh-1\",\"movement\":"
                       "{\"kind\":\"RECEIVE\",\"sku\":\"SKU1\",\"qty\":5,\"to_location\":\"z1\"}}";
    cr_assert_eq(st_event_from_json(line, &e), 0, "%s", st_client_last_error(NULL));
    cr_assert_str_eq(e->source, "erp");
    cr_assert_eq(e->seq, 1);
    cr_assert_str_eq(e->warehouse, "wh-1");
    cr_assert_eq(e->kind_case, STOCKTWIN__EVENT__KIND_MOVEMENT);
    cr_assert_eq(e->movement->kind, STOCKTWIN__MOVEMENT_KIND__RECEIVE);
    cr_assert_str_eq(e->movement->sku, "SKU1");
    cr_assert_eq(e->movement->qty, 5);
    cr_assert_str_eq(e->movement->to_location, "z1");
    cr_assert_str_eq(e->movement->from_location, "");
    // It packs: every pointer is valid.
    cr_assert(stocktwin__event__get_packed_size(e) > 0);
    st_event_free(e);
}

Test(json, rfid_tags_enums_any_case_and_64_bit_strings)
{
    Stocktwin__Event *e = NULL;
    const char *line = "{\"source\":\"rfid-1\",\"seq\":\"18446744073709551615\","
                       "\"event_time_ms\":\"-5\",\"warehouse\":\"wh\",\"rfid\":{\"direction\":"
                       "\"outbound\",\"tags\":[{\"sku\":\"A\",\"qty\":2},{\"sku\":\"B\","
                       "\"epc\":\"E1\"}]}}";
    cr_assert_eq(st_event_from_json(line, &e), 0, "%s", st_client_last_error(NULL));
    cr_assert_eq(e->seq, UINT64_MAX);
    cr_assert_eq(e->event_time_ms, -5);
    cr_assert_eq(e->rfid->direction, STOCKTWIN__DIRECTION__OUTBOUND);
    cr_assert_eq(e->rfid->n_tags, 2);
    cr_assert_str_eq(e->rfid->tags[1]->epc, "E1");
    st_event_free(e);

    cr_assert_eq(st_event_from_json("{\"device_upsert\":{\"device_id\":\"d\",\"kind\":"
                                    "\"weight-sensor\",\"bound_to\":\"s1\"}}",
                                    &e),
                 0, "%s", st_client_last_error(NULL));
    cr_assert_eq(e->device_upsert->kind, STOCKTWIN__DEVICE_KIND__WEIGHT_SENSOR);
    st_event_free(e);
}

static void
expect_error(const char *line, int status, const char *needle)
{
    Stocktwin__Event *e = NULL;
    cr_assert_eq(st_event_from_json(line, &e), status, "%s -> %s", line,
                 st_client_last_error(NULL));
    cr_assert_null(e);
    cr_assert(strstr(st_client_last_error(NULL), needle) != NULL, "%s: \"%s\" lacks \"%s\"", line,
              st_client_last_error(NULL), needle);
}

Test(json, invalid_inputs_say_what_is_wrong)
{
    const int inv = STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT;
    expect_error("{\"source\":", STOCKTWIN__STATUS__STATUS_MALFORMED, "not valid JSON");
    expect_error("{} trailing", STOCKTWIN__STATUS__STATUS_MALFORMED, "not valid JSON");
    expect_error("[1,2]", inv, "expected a JSON object");
    expect_error("{\"sourc\":\"x\"}", inv, "sourc: unknown field of Event");
    expect_error("{\"movement\":{\"qtyy\":1}}", inv, "movement.qtyy: unknown field");
    expect_error("{\"seq\":\"abc\"}", inv, "seq: expected a whole number");
    expect_error("{\"seq\":-1}", inv, "seq:");
    expect_error("{\"seq\":1.5}", inv, "seq:");
    expect_error("{\"source\":5}", inv, "source: expected a string");
    expect_error("{\"movement\":{\"kind\":\"TELEPORT\"}}", inv, "not a MovementKind");
    expect_error("{\"movement\":{},\"count\":{}}", inv, "only one of");
    expect_error("{\"seq\":1,\"seq\":2}", inv, "given twice");
    expect_error("{\"rfid\":{\"tags\":[{\"sku\":1}]}}", inv, "rfid.tags[0].sku");
    expect_error("{\"movement\":5}", inv, "movement: expected a JSON object");
}

Test(json, message_to_json_uses_field_and_enum_names)
{
    Stocktwin__EventStatus st = STOCKTWIN__EVENT_STATUS__INIT;
    st.status = STOCKTWIN__STATUS__STATUS_UNKNOWN_PRODUCT;
    st.message = "no";
    Stocktwin__EventStatus *sts[] = {&st};
    Stocktwin__Response r = STOCKTWIN__RESPONSE__INIT;
    r.request_id = 9007199254740993ull; // 2^53 + 1: exact in the output
    r.n_statuses = 1;
    r.statuses = sts;
    char *text = st_message_to_json(&r.base, false);
    cr_assert_not_null(text);
    cr_assert(strstr(text, "\"request_id\":9007199254740993") != NULL, "%s", text);
    cr_assert(strstr(text, "\"status\":\"STATUS_UNKNOWN_PRODUCT\"") != NULL, "%s", text);
    cr_assert(strstr(text, "\"sync\":\"SYNC_NONE\"") != NULL, "%s", text);
    cr_assert(strstr(text, "\"inventory\"") == NULL, "unset oneof members are left out: %s", text);
    free(text);
}
