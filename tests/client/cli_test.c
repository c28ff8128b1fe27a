// cli_test.c - the built `stocktwin` binary ($ST_BUILD_DIR/client/stocktwin)
// against fake servers: exit codes 0/1/2/3, tables, --json, send from flags
// and from stdin.
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_server.h"
#include "stocktwin.h"

#define OUT_BYTES 65536

struct run {
    int code;
    char out[OUT_BYTES];
    char err[OUT_BYTES];
};

static void
slurp(const char *path, char *buf)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, OUT_BYTES - 1, f) : 0;
    buf[n] = '\0';
    if (f) {
        fclose(f);
    }
    unlink(path);
}

// Runs stocktwin with the NULL-terminated arguments, `input` on stdin.
static void
run_cli(struct run *r, const char *input, ...)
{
    const char *build = getenv("ST_BUILD_DIR");
    cr_assert_not_null(build, "ST_BUILD_DIR is not set (run through ctest)");
    char exe[512], in[128], out[128], err[128];
    snprintf(exe, sizeof exe, "%s/client/stocktwin", build);
    snprintf(in, sizeof in, "/tmp/stocktwin-test-%d-in", (int)getpid());
    snprintf(out, sizeof out, "/tmp/stocktwin-test-%d-out", (int)getpid());
    snprintf(err, sizeof err, "/tmp/stocktwin-test-%d-err", (int)getpid());
    FILE *f = fopen(in, "w");
    cr_assert_not_null(f);
    fputs(input ? input : "", f);
    fclose(f);
    const char *argv[64] = {exe};
    int argc = 1;
    va_list ap;
    va_start(ap, input);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 63;) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fi = open(in, O_RDONLY), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        unsetenv("STOCKTWIN_URL");
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    slurp(out, r->out);
    slurp(err, r->err);
    cr_assert(WIFEXITED(status), "stocktwin did not exit normally (signal %d); stderr: %s",
              WIFSIGNALED(status) ? WTERMSIG(status) : 0, r->err);
    r->code = WEXITSTATUS(status);
    unlink(in);
}

static struct run r; // large: not on the stack

Test(cli, help_and_version_exit_0)
{
    run_cli(&r, NULL, "--help", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "exit codes") != NULL);
    cr_assert(strstr(r.out, "inventory WAREHOUSE") != NULL);
    run_cli(&r, NULL, "inventory", "--help", NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "--below-reorder") != NULL);
    run_cli(&r, NULL, "send", "--help", NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "transfer-dispatch") != NULL);
    run_cli(&r, NULL, "reserve", "--help", NULL);
    cr_assert_eq(r.code, 0);
    run_cli(&r, NULL, "--version", NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, ST_CLIENT_VERSION) != NULL);
}

Test(cli, usage_errors_exit_2)
{
    run_cli(&r, NULL, NULL);
    cr_assert_eq(r.code, 2);
    run_cli(&r, NULL, "frobnicate", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "unknown command") != NULL, "%s", r.err);
    run_cli(&r, NULL, "inventory", NULL);
    cr_assert_eq(r.code, 2);
    run_cli(&r, NULL, "inventory", "wh", "--limit", "many", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--limit") != NULL, "%s", r.err);
    run_cli(&r, NULL, "inventory", "wh", "--bogus", NULL);
    cr_assert_eq(r.code, 2);
    run_cli(&r, NULL, "send", "--type", "teleport", NULL);
    cr_assert_eq(r.code, 2);
    run_cli(&r, NULL, "send", "--type", "receive", "--qty", "lots", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "movement.qty") != NULL, "%s", r.err);
    run_cli(&r, NULL, "send", "--type", "receive", "--colour", "red", NULL);
    cr_assert_eq(r.code, 2);
    run_cli(&r, NULL, "reserve", "wh", "order", NULL);
    cr_assert_eq(r.code, 2);
    run_cli(&r, NULL, "--timeout", "-5", "stats", NULL);
    cr_assert_eq(r.code, 2);
}

Test(cli, unreachable_server_exits_3)
{
    char url[128], path[128];
    fake_url(url, sizeof url, path, sizeof path);
    run_cli(&r, NULL, "--url", url, "stats", NULL);
    cr_assert_eq(r.code, 3, "%s", r.err);
    cr_assert(strstr(r.err, "cannot connect") != NULL, "%s", r.err);
    run_cli(&r, NULL, "--feed", url, "alerts", "--follow", NULL);
    cr_assert_eq(r.code, 3, "%s", r.err);
}

static nng_msg *
silent_handler(const Stocktwin__Request *req, void *arg)
{
    (void)req;
    (void)arg;
    return NULL;
}

Test(cli, timeout_exits_3)
{
    struct fake_server *srv = fake_server_start(silent_handler, NULL);
    run_cli(&r, NULL, "--url", fake_server_url(srv), "--timeout", "200", "stats", NULL);
    cr_assert_eq(r.code, 3, "%s", r.err);
    cr_assert(strstr(r.err, "within 200 ms") != NULL, "%s", r.err);
    fake_server_stop(srv);
}

Test(cli, events_accepted_exit_0_rejected_exit_1)
{
    struct fake_server *srv = fake_server_start(NULL, NULL);
    const char *url = fake_server_url(srv);
    run_cli(&r, NULL, "--url", url, "send", "--warehouse", "wh-1", "--type", "receive", "--sku",
            "SKU1", "--qty", "5", "--to", "z1", "--credential", "c1", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "OK") != NULL, "%s", r.out);
    Stocktwin__Request *req = fake_server_last_request(srv);
    Stocktwin__Event *e = req->batch->events[0];
    cr_assert_str_eq(req->credential, "c1");
    cr_assert_eq(e->movement->kind, STOCKTWIN__MOVEMENT_KIND__RECEIVE);
    cr_assert_str_eq(e->movement->to_location, "z1");
    cr_assert(strncmp(e->source, "cli-", 4) == 0, "%s", e->source);
    cr_assert(e->seq > 1000000000000000ull, "seq is microseconds since the epoch");
    cr_assert(e->event_time_ms > 1000000000000ll);
    stocktwin__request__free_unpacked(req, NULL);

    run_cli(&r, NULL, "--url", url, "send", "--warehouse", "wh-1", "--type", "rfid-in", "--source",
            "reject", "--seq", "9", "--tag", "SKU1:2", "--tag", "SKU2", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.out, "UNKNOWN_PRODUCT") != NULL, "%s", r.out);
    req = fake_server_last_request(srv);
    e = req->batch->events[0];
    cr_assert_eq(e->seq, 9);
    cr_assert_eq(e->rfid->direction, STOCKTWIN__DIRECTION__INBOUND);
    cr_assert_eq(e->rfid->n_tags, 2);
    cr_assert_eq(e->rfid->tags[0]->qty, 2);
    stocktwin__request__free_unpacked(req, NULL);

    run_cli(&r, NULL, "--url", url, "reserve", "wh-1", "order-42", "SKU1", "3", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    req = fake_server_last_request(srv);
    cr_assert_str_eq(req->batch->events[0]->reserve->order_id, "order-42");
    cr_assert_eq(req->batch->events[0]->reserve->qty, 3);
    stocktwin__request__free_unpacked(req, NULL);
    run_cli(&r, NULL, "--url", url, "fulfil", "wh-1", "order-42", "SKU1", "--from", "s1", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    fake_server_stop(srv);
}

Test(cli, send_stdin_batches_json_lines)
{
    struct fake_server *srv = fake_server_start(NULL, NULL);
    const char *input =
        "# comment\n"
        "{\"source\":\"erp\",\"seq\":1,\"warehouse\":\"wh-1\",\"movement\":{\"kind\":\"RECEIVE\","
        "\"sku\":\"SKU1\",\"qty\":5,\"to_location\":\"z1\"}}\n"
        "\n"
        "{\"warehouse\":\"wh-1\",\"count\":{\"location\":\"z1\",\"sku\":\"SKU1\",\"qty\":4}}\n";
    run_cli(&r, input, "--url", fake_server_url(srv), "--json", "send", "-", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "{\"line\":2,\"source\":\"erp\",\"seq\":1,\"status\":\"STATUS_OK\"") !=
                  NULL,
              "%s", r.out);
    cr_assert(strstr(r.out, "\"line\":4") != NULL, "%s", r.out);
    Stocktwin__Request *req = fake_server_last_request(srv);
    cr_assert_eq(req->batch->n_events, 2, "two lines, one batch");
    stocktwin__request__free_unpacked(req, NULL);

    run_cli(&r, "{\"source\":\"reject\",\"seq\":1,\"count\":{}}\n", "--url", fake_server_url(srv),
            "send", "--stdin", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    run_cli(&r, "{\"seq\":1,\"count\":{}}\n{\"nope\":1}\n", "--url", fake_server_url(srv), "send",
            "--stdin", NULL);
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "stdin line 2: nope: unknown field") != NULL, "%s", r.err);
    fake_server_stop(srv);
}

Test(cli, queries_print_tables_json_and_not_found_exits_1)
{
    struct fake_server *srv = fake_server_start(NULL, NULL);
    const char *url = fake_server_url(srv);
    run_cli(&r, NULL, "--url", url, "inventory", "wh-1", "--below-reorder", "--limit", "5", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "SKU1") != NULL && strstr(r.out, "LOW") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "z1/s1:7") != NULL, "%s", r.out);
    run_cli(&r, NULL, "inventory", "wh-1", "--json", "--url", url, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "{\"status\":\"STATUS_OK\"", 21) == 0, "%s", r.out);
    cr_assert(strstr(r.out, "\"below_reorder\":true") != NULL, "%s", r.out);
    run_cli(&r, NULL, "--url", url, "twin", "missing", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "NOT_FOUND") != NULL, "%s", r.err);
    run_cli(&r, NULL, "--url", url, "sku", "SKU1", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_cli(&r, NULL, "--url", url, "stats", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_cli(&r, NULL, "--url", url, "alerts", "--warehouse", "wh-1", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    fake_server_stop(srv);
}

struct publisher {
    struct fake_socket pub;
    atomic_bool stop;
};

// Publishes one LOW_STOCK alert (and one stock message, which the alert/
// subscription must filter out) every 20 ms until stopped.
static void *
publisher_main(void *arg)
{
    struct publisher *p = arg;
    Stocktwin__Alert alert = STOCKTWIN__ALERT__INIT;
    alert.kind = STOCKTWIN__ALERT_KIND__LOW_STOCK;
    alert.warehouse = "wh-1";
    alert.sku = "SKU1";
    Stocktwin__FeedMessage fm = STOCKTWIN__FEED_MESSAGE__INIT;
    fm.warehouse = "wh-1";
    fm.body_case = STOCKTWIN__FEED_MESSAGE__BODY_ALERT;
    fm.alert = &alert;
    uint8_t buf[256];
    static const char topic[] = "alert/wh-1/LOW_STOCK";
    memcpy(buf, topic, sizeof topic);
    size_t len = sizeof topic + stocktwin__feed_message__pack(&fm, buf + sizeof topic);
    static const char stock[] = "stock/wh-1\0";
    while (!atomic_load(&p->stop)) {
        nng_send(p->pub.sock, (void *)stock, sizeof stock, 0);
        nng_send(p->pub.sock, buf, len, 0);
        usleep(20000);
    }
    return NULL;
}

Test(cli, alerts_follow_prints_feed_alerts_until_count)
{
    static struct publisher p;
    fake_pub_start(&p.pub);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, publisher_main, &p), 0);
    run_cli(&r, NULL, "--feed", p.pub.url, "alerts", "--follow", "--count", "2", "--json", NULL);
    atomic_store(&p.stop, true);
    pthread_join(t, NULL);
    fake_socket_stop(&p.pub);
    cr_assert_eq(r.code, 0, "%s", r.err);
    const char *second = strchr(r.out, '\n');
    cr_assert(second != NULL && strchr(second + 1, '\n') != NULL, "two lines: %s", r.out);
    cr_assert(strstr(r.out, "\"topic\":\"alert/wh-1/LOW_STOCK\"") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "\"kind\":\"LOW_STOCK\"") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "stock/") == NULL, "%s", r.out);
}
