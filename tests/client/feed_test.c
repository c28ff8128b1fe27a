// feed_test.c - feed messages (topic, NUL, FeedMessage): parsing, and a real
// SUB against a fake PUB, including prefix filtering and malformed messages.
#include <criterion/criterion.h>
#include <string.h>

#include "fake_server.h"
#include "stocktwin.h"

// topic \0 FeedMessage(alert LOW_STOCK) into buf; returns the length.
static size_t
make_feed(uint8_t *buf, size_t cap, const char *topic, const char *warehouse, uint64_t seq)
{
    Stocktwin__Alert alert = STOCKTWIN__ALERT__INIT;
    alert.kind = STOCKTWIN__ALERT_KIND__LOW_STOCK;
    alert.warehouse = (char *)warehouse;
    alert.sku = "SKU1";
    alert.expected = 3;
    alert.actual = 10;
    alert.alert_seq = seq;
    Stocktwin__FeedMessage fm = STOCKTWIN__FEED_MESSAGE__INIT;
    fm.warehouse = (char *)warehouse;
    fm.body_case = STOCKTWIN__FEED_MESSAGE__BODY_ALERT;
    fm.alert = &alert;
    size_t tl = strlen(topic);
    cr_assert(tl + 1 + stocktwin__feed_message__get_packed_size(&fm) <= cap);
    memcpy(buf, topic, tl + 1);
    return tl + 1 + stocktwin__feed_message__pack(&fm, buf + tl + 1);
}

Test(feed, parse_splits_topic_and_message)
{
    uint8_t buf[256];
    size_t len = make_feed(buf, sizeof buf, "alert/wh-1/LOW_STOCK", "wh-1", 7);
    char *topic = NULL;
    Stocktwin__FeedMessage *m = NULL;
    cr_assert_eq(st_feed_parse(buf, len, &topic, &m), 0, "%s", st_client_last_error(NULL));
    cr_assert_str_eq(topic, "alert/wh-1/LOW_STOCK");
    cr_assert_eq(m->body_case, STOCKTWIN__FEED_MESSAGE__BODY_ALERT);
    cr_assert_eq(m->alert->kind, STOCKTWIN__ALERT_KIND__LOW_STOCK);
    cr_assert_eq(m->alert->alert_seq, 7);
    free(topic);
    st_feed_message_free(m);
}

Test(feed, parse_refuses_missing_nul_empty_topic_and_bad_protobuf)
{
    char *topic = NULL;
    Stocktwin__FeedMessage *m = NULL;
    const char no_nul[] = {'a', 'l', 'e', 'r', 't'};
    cr_assert_eq(st_feed_parse(no_nul, sizeof no_nul, &topic, &m),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert(strstr(st_client_last_error(NULL), "no NUL") != NULL);
    cr_assert_null(topic);
    cr_assert_null(m);
    const char empty_topic[] = {'\0', 0x0a, 0x00};
    cr_assert_eq(st_feed_parse(empty_topic, sizeof empty_topic, &topic, &m),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    const char bad_pb[] = {'s', '\0', (char)0xff, (char)0xff, (char)0xff};
    cr_assert_eq(st_feed_parse(bad_pb, sizeof bad_pb, &topic, &m),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert(strstr(st_client_last_error(NULL), "not a valid FeedMessage") != NULL);
    cr_assert_eq(st_feed_parse(NULL, 0, &topic, &m), STOCKTWIN__STATUS__STATUS_MALFORMED);
}

static void
publish(struct fake_socket *pub, const void *bytes, size_t len)
{
    cr_assert_eq(nng_send(pub->sock, (void *)bytes, len, 0), 0);
}

Test(feed, subscriber_receives_matching_topics_and_rejects_bad_messages)
{
    struct fake_socket pub;
    fake_pub_start(&pub);
    st_sub *s = NULL;
    cr_assert_eq(st_sub_open(pub.url, "alert/", &s), 0, "%s", st_client_last_error(NULL));
    char *topic = NULL;
    Stocktwin__FeedMessage *m = NULL;
    cr_assert_eq(st_sub_recv(s, 0, &topic, &m), ST_CLIENT_TIMEOUT);

    uint8_t good[256], other[256];
    size_t good_len = make_feed(good, sizeof good, "alert/wh-1/LOW_STOCK", "wh-1", 1);
    size_t other_len = make_feed(other, sizeof other, "stock/wh-1", "wh-1", 2);
    // A subscription reaches the publisher asynchronously: publish until seen.
    int status = ST_CLIENT_TIMEOUT;
    for (int i = 0; i < 100 && status == ST_CLIENT_TIMEOUT; i++) {
        publish(&pub, other, other_len); // filtered out by the prefix
        publish(&pub, good, good_len);
        status = st_sub_recv(s, 50, &topic, &m);
    }
    cr_assert_eq(status, 0, "%s", st_client_last_error(NULL));
    cr_assert_str_eq(topic, "alert/wh-1/LOW_STOCK");
    cr_assert_eq(m->alert->alert_seq, 1);
    free(topic);
    st_feed_message_free(m);
    while (st_sub_recv(s, 100, &topic, &m) == 0) { // drain the repeats
        cr_assert_str_eq(topic, "alert/wh-1/LOW_STOCK");
        free(topic);
        st_feed_message_free(m);
    }

    const char no_nul[] = "alert/wh-1/LOW_STOCK-without-nul";
    publish(&pub, no_nul, strlen(no_nul));
    cr_assert_eq(st_sub_recv(s, 2000, &topic, &m), STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert_null(topic);
    cr_assert_null(m);
    publish(&pub, good, good_len); // the feed goes on after a bad message
    cr_assert_eq(st_sub_recv(s, 2000, &topic, &m), 0);
    free(topic);
    st_feed_message_free(m);

    st_sub_close(s);
    fake_socket_stop(&pub);
}

Test(feed, subscribing_to_nothing_listening_fails_fast)
{
    char url[128], path[128];
    fake_url(url, sizeof url, path, sizeof path);
    st_sub *s = NULL;
    cr_assert_eq(st_sub_open(url, "alert/", &s), STOCKTWIN__STATUS__STATUS_UNAVAILABLE);
    cr_assert_null(s);
}
