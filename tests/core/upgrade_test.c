// upgrade_test.c - a snapshot written in format 1 (72-byte stock records,
// 32-byte bins; before 2026-12-03), format 3 (64-byte transfer records,
// until dc739d1) or format 4 (no timers' marks, until 76b603d) loads into
// this build as the state this build makes of
// the same events. data/state-v1.snap is upgrade_events.h's
// history saved by the last format-1 build (data/make_state.sh), so the
// comparison needs no recorded result: the digest hashes the logical state,
// whatever the layout.
#include <stdlib.h>

#include "core/snapshot.h"
#include "upgrade_events.h"

static image
read_image(const char *name)
{
    const char *src = getenv("ST_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/core/data/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (set ST_SOURCE_DIR to the source tree)", path);
    image im = {.buf = malloc(1 << 20), .cap = 1 << 20};
    im.len = fread(im.buf, 1, 1 << 20, f);
    cr_assert(feof(f) && im.len > 0);
    fclose(f);
    return im;
}

static image
read_v1(void)
{
    return read_image("state-v1.snap");
}

static st_state *
load(const image *im)
{
    st_state *s;
    cr_assert_eq(st_state_create(NULL, &s), ST_OK);
    char why[256];
    st_err err = st_state_load(s, im->buf, im->len, why, sizeof why);
    cr_assert_eq(err, ST_OK, "%s", why);
    st_state_verify(s);
    return s;
}

TestSuite(upgrade, .fini = teardown_world);

Test(upgrade, format_1_loads_as_the_state_of_the_same_events)
{
    upgrade_history(); // S: this build's state of the history
    image im = read_v1();
    st_state *old = load(&im);
    cr_assert_eq(st_state_digest(old), st_state_digest(S));
    // What format 2 moved aside came across: reservations, inbound and
    // outbound quantities, the policy, set times.
    stock_probe p = stock_in(old, "wh1", "SKU2", NULL);
    cr_assert(p.found);
    cr_assert_eq(p.view.reserved, 4);
    cr_assert_eq(p.view.in_transit_out, 6);
    p = stock_in(old, "wh1", "SKU3", NULL);
    cr_assert(p.found);
    cr_assert_eq(p.view.inbound, 50);
    cr_assert_eq(p.view.safety_stock, 1);
    cr_assert_eq(p.view.order_up_to, 100);
    // Both take the next events alike, a count older than the bin's set
    // time included (refused as STALE by both).
    int64_t now = NOW;
    st_event next[] = {RELEASE("o-1", "SKU2", 1), COUNT("RCV", "SKU2", 20), POLICY("SKU3", 9),
                       RECEIVE("SKU1", 3, "S1")};
    for (size_t i = 0; i < sizeof next / sizeof next[0]; i++) {
        NOW = now + 10 * (int64_t)i;
        st_err a = ap(next[i]);
        SEQ--;
        st_err b = ap_in(old, next[i]);
        cr_assert_eq(a, ST_OK, "%s", OUT.message);
        cr_assert_eq(b, a);
    }
    NOW = now - 100;
    IS(ap(COUNT("RCV", "SKU2", 1)), ST_STALE);
    SEQ--;
    IS(ap_in(old, COUNT("RCV", "SKU2", 1)), ST_STALE);
    cr_assert_eq(st_state_digest(old), st_state_digest(S));
    // Saved again, it is this build's format, and loads to the same state.
    image again = {0};
    cr_assert(st_state_save(old, image_put, &again));
    st_state *twice = load(&again);
    cr_assert_eq(st_state_digest(twice), st_state_digest(S));
    st_state_destroy(twice);
    st_state_destroy(old);
    free(again.buf);
    free(im.buf);
}

// A format-1 image cut short is refused with a reason; one with bits
// flipped (a bin pointing back at another record among them) is refused
// or loaded, never trusted past the checks (ASan watches).
Test(upgrade, a_damaged_format_1_image_is_refused)
{
    image im = read_v1();
    char why[256];
    for (size_t len = 0; len < im.len; len++) {
        st_state *s;
        cr_assert_eq(st_state_create(NULL, &s), ST_OK);
        cr_assert_eq(st_state_load(s, im.buf, len, why, sizeof why), ST_MALFORMED, "at %zu", len);
        cr_assert_neq(why[0], '\0');
        st_state_destroy(s);
    }
    for (size_t at = 0; at < im.len; at++) {
        for (int bit = 0; bit < 8; bit += 3) {
            im.buf[at] ^= (uint8_t)(1u << bit);
            st_state *s;
            cr_assert_eq(st_state_create(NULL, &s), ST_OK);
            (void)st_state_load(s, im.buf, im.len, why, sizeof why);
            st_state_destroy(s);
            im.buf[at] ^= (uint8_t)(1u << bit);
        }
    }
    free(im.buf);
}

static void
count_half(void *arg, const st_event *half)
{
    *(st_event *)arg = *half;
}

// Format 4 had padding where format 5 keeps the timers' marks: the image
// loads as the same state with no mark set, and the first tick raises on
// it exactly what it raises on this build's state of the same events.
Test(upgrade, format_4_loads_with_no_timer_fired)
{
    upgrade_history();
    image im = read_image("state-v4.snap");
    st_state *old = load(&im);
    cr_assert_eq(st_state_digest(old), st_state_digest(S));
    int64_t later = 10000000; // every eta passed, every device silent
    cr_assert(st_state_tick_due(old, 0, later, 1000));
    st_event tick = {.kind = ST_EV_TICK,
                     .source = ST_TICK_SOURCE,
                     .seq = 1,
                     .event_time_ms = later,
                     .warehouse = "wh1",
                     .u.tick.device_silent_ms = 1000};
    cr_assert_eq(st_state_apply(S, &tick, &OUT), ST_OK);
    uint32_t alerts = OUT.alert_count;
    cr_assert_gt(alerts, 0);
    cr_assert_eq(st_state_apply(old, &tick, &OUT), ST_OK);
    cr_assert_eq(OUT.alert_count, alerts);
    cr_assert_eq(st_state_digest(old), st_state_digest(S));
    st_state_destroy(old);
    free(im.buf);
}

// Format 3's transfer records carry no seq: the image loads as the same
// state, and its open transfer's half comes with seq 0 (it cannot be sent
// again); this build's record of it has its seq, kept through a save.
Test(upgrade, format_3_loads_as_the_state_of_the_same_events)
{
    upgrade_history();
    image im = read_image("state-v3.snap");
    st_state *old = load(&im);
    cr_assert_eq(st_state_digest(old), st_state_digest(S));
    st_event half = {0};
    cr_assert_eq(st_state_transfer_halves(old, count_half, &half), 1);
    cr_assert_eq(half.kind, ST_EV_TRANSFER_INBOUND);
    cr_assert_str_eq(half.u.transfer_inbound.transfer_id, "t-1");
    cr_assert_eq(half.seq, 0, "t-1 is open, with no seq");
    half = (st_event){0};
    cr_assert_eq(st_state_transfer_halves(S, count_half, &half), 1);
    cr_assert_eq(half.kind, ST_EV_TRANSFER_INBOUND);
    cr_assert_str_eq(half.u.transfer_inbound.transfer_id, "t-1");
    cr_assert_str_eq(half.source, "outbox/wh1");
    cr_assert_eq(half.seq, 1);
    image again = {0};
    cr_assert(st_state_save(S, image_put, &again));
    st_state *twice = load(&again);
    cr_assert_eq(st_state_digest(twice), st_state_digest(S));
    st_event back = {0};
    cr_assert_eq(st_state_transfer_halves(twice, count_half, &back), 1);
    cr_assert_eq(back.seq, 1);
    // A format-3 image cut anywhere is refused.
    char why[256];
    for (size_t len = 0; len < im.len; len += 7) {
        st_state *s;
        cr_assert_eq(st_state_create(NULL, &s), ST_OK);
        cr_assert_eq(st_state_load(s, im.buf, len, why, sizeof why), ST_MALFORMED, "at %zu", len);
        st_state_destroy(s);
    }
    st_state_destroy(twice);
    st_state_destroy(old);
    free(again.buf);
    free(im.buf);
}
