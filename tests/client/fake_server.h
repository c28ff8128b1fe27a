// fake_server.h - stand-ins for stocktwind in client tests: a REP server in a
// thread that decodes each Request and answers what a handler says, a PUB
// socket for the feed, a PULL socket for the ingest door. Each listens on a
// fresh ipc:///tmp/stocktwin-test-<pid>-<n>.ipc path and removes it on stop.
// Thread: start/stop from the test's thread; handlers run on the server's.
#ifndef ST_TEST_FAKE_SERVER_H
#define ST_TEST_FAKE_SERVER_H

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "stocktwin.h"

// A handler gets the decoded request (NULL if it was not a valid Request) and
// returns the message to answer with (ownership passes to the server), or
// NULL to stay silent.
typedef nng_msg *(*fake_handler)(const Stocktwin__Request *req, void *arg);

struct fake_server;

// fake_url - a fresh ipc url (and its file path) for this process.
void fake_url(char *url, size_t url_len, char *path, size_t path_len);

// fake_server_start - listens on a fresh url (fake_server_url) and answers
// with `handler` (NULL = fake_standard_handler). Asserts on failure.
struct fake_server *fake_server_start(fake_handler handler, void *arg);
const char *fake_server_url(const struct fake_server *s);
// Requests received so far (valid or not).
int fake_server_requests(struct fake_server *s);
// A copy of the last valid request (free with stocktwin__request__free_unpacked), or NULL.
Stocktwin__Request *fake_server_last_request(struct fake_server *s);
void fake_server_stop(struct fake_server *s);

// fake_msg_from_response - encodes r into a new message (r stays the caller's).
nng_msg *fake_msg_from_response(const Stocktwin__Response *r);

// fake_standard_handler - what a healthy server says: a batch gets one status
// per event (UNKNOWN_PRODUCT for events whose source is "reject", OK
// otherwise); a query gets a small canned result of its kind, NOT_FOUND for a
// twin called "missing"; an undecodable request gets MALFORMED.
nng_msg *fake_standard_handler(const Stocktwin__Request *req, void *arg);

// A PUB (feed) or PULL (ingest) socket listening on a fresh url.
struct fake_socket {
    nng_socket sock;
    char url[128];
    char path[128];
};
void fake_pub_start(struct fake_socket *f);
void fake_pull_start(struct fake_socket *f);
void fake_socket_stop(struct fake_socket *f);

#endif // ST_TEST_FAKE_SERVER_H
