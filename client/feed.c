// feed.c - the feed subscriber. A feed message is an ASCII topic, one NUL
// byte, then an encoded FeedMessage (stocktwin.proto); the topic comes first
// so that nng's SUB filters on plain prefixes ("alert/", "stock/wh-1").
// Both halves are checked here: a message without the NUL or with bytes that
// are not a FeedMessage is refused with MALFORMED and dropped.
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <string.h>

#include "dial.h"
#include "error.h"
#include "stocktwin.h"

// Topics are `alert/<warehouse>/<KIND>` or `stock/<warehouse>` with ids of at
// most 64 bytes; anything much longer is not a topic of ours.
#define ST_FEED_TOPIC_BYTES_MAX 256

struct st_sub {
    nng_socket sock;
    bool sock_open;
    char *url;
};

int
st_feed_parse(const void *buf, size_t len, char **topic_out, Stocktwin__FeedMessage **msg_out)
{
    ST_CLIENT_ASSERT(topic_out != NULL && msg_out != NULL);
    *topic_out = NULL;
    *msg_out = NULL;
    const unsigned char *bytes = buf;
    const unsigned char *nul = len ? memchr(bytes, '\0', len) : NULL;
    if (nul == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                            "feed message of %zu bytes has no NUL after its topic", len);
    }
    size_t topic_len = (size_t)(nul - bytes);
    if (topic_len == 0 || topic_len > ST_FEED_TOPIC_BYTES_MAX) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                            "feed message topic of %zu bytes (1 to %d expected)", topic_len,
                            ST_FEED_TOPIC_BYTES_MAX);
    }
    for (size_t i = 0; i < topic_len; i++) {
        if (bytes[i] < 0x20 || bytes[i] > 0x7e) {
            return st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                                "feed message topic has a non-printable byte 0x%02x at %zu",
                                bytes[i], i);
        }
    }
    Stocktwin__FeedMessage *m = stocktwin__feed_message__unpack(NULL, len - topic_len - 1, nul + 1);
    if (m == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                            "feed message on topic %.*s is not a valid FeedMessage", (int)topic_len,
                            (const char *)bytes);
    }
    char *topic = strndup((const char *)bytes, topic_len);
    if (topic == NULL) {
        stocktwin__feed_message__free_unpacked(m, NULL);
        return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    }
    *topic_out = topic;
    *msg_out = m;
    return 0;
}

void
st_feed_message_free(Stocktwin__FeedMessage *msg)
{
    if (msg != NULL) {
        stocktwin__feed_message__free_unpacked(msg, NULL);
    }
}

int
st_sub_open(const char *url, const char *topic_prefix, st_sub **out)
{
    ST_CLIENT_ASSERT(out != NULL);
    st_error_clear();
    *out = NULL;
    if (url == NULL || url[0] == '\0') {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "no url");
    }
    st_client_opts o;
    int status = st_opts_normalize(NULL, &o);
    ST_CLIENT_ASSERT(status == 0);
    st_sub *s = calloc(1, sizeof *s);
    if (s == NULL || (s->url = st_strdup(url)) == NULL) {
        free(s);
        return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    }
    int rv = nng_sub0_open(&s->sock);
    if (rv != 0) {
        status = st_error_nng(rv, "cannot open a SUB socket for", url);
        goto fail;
    }
    s->sock_open = true;
    const char *prefix = topic_prefix ? topic_prefix : "";
    // The prefix without its terminating NUL: "alert/" must match
    // "alert/wh-1/LOW_STOCK\0...", and "" matches everything.
    rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, prefix, strlen(prefix));
    if (rv != 0) {
        status = st_error_nng(rv, "cannot subscribe on", url);
        goto fail;
    }
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, ST_CLIENT_REPLY_BYTES_MAX);
    if ((status = st_dial(s->sock, url, &o)) != 0) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    st_sub_close(s);
    return status;
}

int
st_sub_recv(st_sub *s, int timeout_ms, char **topic_out, Stocktwin__FeedMessage **msg_out)
{
    ST_CLIENT_ASSERT(s != NULL && topic_out != NULL && msg_out != NULL);
    st_error_clear();
    *topic_out = NULL;
    *msg_out = NULL;
    nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO,
                      timeout_ms < 0 ? NNG_DURATION_INFINITE : (nng_duration)timeout_ms);
    nng_msg *msg = NULL;
    int rv = nng_recvmsg(s->sock, &msg, 0);
    if (rv == NNG_ETIMEDOUT) {
        return st_error_set(ST_CLIENT_TIMEOUT, "no feed message from %s within %d ms", s->url,
                            timeout_ms);
    }
    if (rv != 0) {
        return st_error_nng(rv, "cannot receive from", s->url);
    }
    int status = st_feed_parse(nng_msg_body(msg), nng_msg_len(msg), topic_out, msg_out);
    nng_msg_free(msg);
    return status;
}

void
st_sub_close(st_sub *s)
{
    if (s == NULL) {
        return;
    }
    if (s->sock_open) {
        nng_close(s->sock);
    }
    free(s->url);
    free(s);
}
