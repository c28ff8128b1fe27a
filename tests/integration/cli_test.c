// cli_test.c - the `stocktwin` CLI against the real daemon: JSON lines in,
// tables and JSON out, and exit codes a script can rely on (0 done, 1 the
// server said no, 2 usage, 3 unreachable).
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static it_daemon daemon_;
static char cli_[512];

static void
start(void)
{
    it_daemon_start(&daemon_, 2);
    st_client *c = it_client(&daemon_);
    it_setup_network(c);
    st_client_close(c);
    snprintf(cli_, sizeof cli_, "%s", it_path("client/stocktwin"));
}

static void
stop(void)
{
    it_daemon_stop(&daemon_);
}

TestSuite(integration_cli, .init = start, .fini = stop, .timeout = 120);

// cli runs `stocktwin --url <rpc> args...` and returns its exit status.
static int
cli(const char *input, char *out, size_t cap, const char *a1, const char *a2, const char *a3,
    const char *a4, const char *a5, const char *a6)
{
    char *argv[] = {cli_, "--url", daemon_.rpc, (char *)a1, (char *)a2, (char *)a3,
                    (char *)a4, (char *)a5, (char *)a6, NULL};
    return it_run(argv, input, out, cap);
}

Test(integration_cli, send_json_lines_then_inventory_as_json)
{
    static const char lines[] =
        "{\"source\":\"cli-test\",\"seq\":1,\"warehouse\":\"wh-c\",\"movement\":{\"kind\":\"RECEIVE\","
        "\"sku\":\"SKU-2\",\"qty\":40,\"to_location\":\"stor\"}}\n"
        "{\"source\":\"cli-test\",\"seq\":2,\"warehouse\":\"wh-c\",\"movement\":{\"kind\":\"PICK\","
        "\"sku\":\"SKU-2\",\"qty\":15,\"from_location\":\"stor\"}}\n";
    static char out[1 << 16];
    cr_assert_eq(cli(lines, out, sizeof out, "send", "--stdin", NULL, NULL, NULL, NULL), 0, "%s", out);
    cr_assert_eq(cli(NULL, out, sizeof out, "--json", "inventory", "wh-c", NULL, NULL, NULL), 0);
    cJSON *root = cJSON_Parse(out);
    cr_assert(root != NULL, "inventory --json prints JSON: %s", out);
    const cJSON *inv = cJSON_GetObjectItem(root, "inventory");
    const cJSON *lines_json = cJSON_GetObjectItem(inv ? inv : root, "lines");
    cr_assert(cJSON_IsArray(lines_json), "%s", out);
    cr_assert_eq(cJSON_GetArraySize(lines_json), 1);
    const cJSON *line = cJSON_GetArrayItem(lines_json, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(line, "sku")->valuestring, "SKU-2");
    cr_assert_eq(cJSON_GetObjectItem(line, "on_hand")->valuedouble, 25);
    cJSON_Delete(root);

    cr_assert_eq(cli(NULL, out, sizeof out, "inventory", "wh-c", NULL, NULL, NULL, NULL), 0);
    cr_assert(strstr(out, "SKU-2") != NULL && strstr(out, "25") != NULL, "table: %s", out);
}

// inventory --all: every line, as a table with a total, or as JSON lines;
// an unknown warehouse is a rejection (exit 1), flags that page are usage.
Test(integration_cli, inventory_all_prints_every_line)
{
    static const char lines[] = "{\"source\":\"cli-all\",\"seq\":1,\"warehouse\":\"wh-a\","
                                "\"movement\":{\"kind\":\"RECEIVE\","
                                "\"sku\":\"SKU-2\",\"qty\":7,\"to_location\":\"recv\"}}\n";
    static char out[1 << 16];
    cr_assert_eq(cli(lines, out, sizeof out, "send", "--stdin", NULL, NULL, NULL, NULL), 0, "%s",
                 out);
    cr_assert_eq(cli(NULL, out, sizeof out, "inventory", "wh-a", "--all", NULL, NULL, NULL), 0,
                 "%s", out);
    cr_assert(strstr(out, "SKU-1") != NULL && strstr(out, "SKU-2") != NULL, "%s", out);
    cr_assert(strstr(out, "stor:100") != NULL && strstr(out, "recv:7") != NULL, "%s", out);
    cr_assert(strstr(out, "warehouse wh-a: 2 skus") != NULL, "the total: %s", out);

    cr_assert_eq(cli(NULL, out, sizeof out, "--json", "inventory", "wh-a", "--all", NULL, NULL), 0);
    int n = 0;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"), n++) {
        cJSON *o = cJSON_Parse(line);
        cr_assert(o != NULL, "a JSON object a line: %s", line);
        const cJSON *sku = cJSON_GetObjectItem(o, "sku");
        cr_assert(cJSON_IsString(sku), "%s", line);
        double want = strcmp(sku->valuestring, "SKU-1") == 0 ? 100 : 7;
        cr_assert_eq(cJSON_GetObjectItem(o, "on_hand")->valuedouble, want, "%s", line);
        cJSON_Delete(o);
    }
    cr_assert_eq(n, 2);

    cr_assert_eq(cli(NULL, out, sizeof out, "inventory", "no-such-wh", "--all", NULL, NULL, NULL),
                 1, "%s", out);
    cr_assert_eq(cli(NULL, out, sizeof out, "inventory", "wh-a", "--all", "--limit", "5", NULL), 2);
}

Test(integration_cli, reserve_release_fulfil_and_exit_codes)
{
    static char out[1 << 14];
    cr_assert_eq(cli(NULL, out, sizeof out, "reserve", "wh-a", "o-cli", "SKU-1", "60", NULL), 0, "%s", out);
    cr_assert_eq(cli(NULL, out, sizeof out, "reserve", "wh-a", "o-cli2", "SKU-1", "41", NULL), 1,
                 "over-reserving is refused with exit 1");
    cr_assert_eq(cli(NULL, out, sizeof out, "release", "wh-a", "o-cli", "SKU-1", "10", NULL), 0);
    cr_assert_eq(cli(NULL, out, sizeof out, "fulfil", "wh-a", "o-cli", "SKU-1", NULL, NULL), 0);
    cr_assert_eq(cli(NULL, out, sizeof out, "--json", "sku", "SKU-1", NULL, NULL, NULL), 0);
    cr_assert(strstr(out, "\"on_hand\":50") != NULL || strstr(out, "\"on_hand\": 50") != NULL,
              "100 received, 50 fulfilled: %s", out);
    cr_assert_eq(cli(NULL, out, sizeof out, "twin", "no-such-twin", NULL, NULL, NULL, NULL), 1);
    cr_assert_eq(cli(NULL, out, sizeof out, "twin", "s1", "--warehouse", "wh-a", NULL, NULL), 0);
    cr_assert_eq(cli(NULL, out, sizeof out, "stats", NULL, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(cli(NULL, out, sizeof out, "alerts", NULL, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(cli(NULL, out, sizeof out, "no-such-command", NULL, NULL, NULL, NULL, NULL), 2);
    cr_assert_eq(cli(NULL, out, sizeof out, "inventory", "--help", NULL, NULL, NULL, NULL), 0);
    cr_assert(strstr(out, "inventory") != NULL);

    char *argv[] = {cli_, "--url", "ipc:///tmp/stocktwin-nobody-listens-here", "stats", NULL};
    cr_assert_eq(it_run(argv, NULL, out, sizeof out), 3, "an unreachable server is exit 3");
}

// `alerts --follow` prints live alerts from the feed: a follower started
// first sees the LOW_STOCK that a reservation below the reorder point fires.
Test(integration_cli, alerts_follow_prints_live_alerts)
{
    char path[256];
    snprintf(path, sizeof path, "%s/follow.out", daemon_.dir);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(path, "w", stdout);
        if (f == NULL)
            _exit(126);
        execl(cli_, cli_, "--feed", daemon_.feed, "--json", "alerts", "--follow", "--count", "1",
              (char *)NULL);
        _exit(127);
    }
    st_client *c = it_client(&daemon_);
    int status = -1;
    // The subscription needs a moment to reach the publisher, and LOW_STOCK is
    // edge-triggered: reserve (fires) and release (re-arms) until it exits.
    for (int round = 0; round < 100; round++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"source\":\"follow\",\"seq\":%d,\"warehouse\":\"wh-a\",\"reserve\":"
                 "{\"order_id\":\"f\",\"sku\":\"SKU-1\",\"qty\":95}}", 2 * round + 1);
        cr_assert_eq(it_send_one(c, json), STOCKTWIN__STATUS__STATUS_OK);
        snprintf(json, sizeof json,
                 "{\"source\":\"follow\",\"seq\":%d,\"warehouse\":\"wh-a\",\"release\":"
                 "{\"order_id\":\"f\",\"sku\":\"SKU-1\"}}", 2 * round + 2);
        cr_assert_eq(it_send_one(c, json), STOCKTWIN__STATUS__STATUS_OK);
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        usleep(100 * 1000);
    }
    st_client_close(c);
    bool timed_out = waitpid(pid, &status, WNOHANG) == 0;
    if (timed_out) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    static char out[1 << 14];
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL);
    size_t len = fread(out, 1, sizeof out - 1, f);
    out[len] = '\0';
    fclose(f);
    cr_assert(!timed_out, "alerts --follow --count 1 did not finish within 10 s; it printed: %s", out);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert(strstr(out, "LOW_STOCK") != NULL && strstr(out, "SKU-1") != NULL, "%s", out);
}

// A bad JSON line is a usage error (exit 2) that names the line; the good
// lines around it are still sent.
Test(integration_cli, send_reports_bad_lines)
{
    static const char lines[] =
        "{\"source\":\"bad-lines\",\"seq\":1,\"warehouse\":\"wh-a\",\"movement\":{\"kind\":\"RECEIVE\","
        "\"sku\":\"SKU-2\",\"qty\":3,\"to_location\":\"stor\"}}\n"
        "{\"source\":\"bad-lines\",\"seq\":2,\"warehouse\":\"wh-a\",\"movement\":{\"kind\":\"TELEPORT\"}}\n"
        "this is not json\n";
    static char out[1 << 14];
    cr_assert_eq(cli(lines, out, sizeof out, "send", "--stdin", NULL, NULL, NULL, NULL), 2);
    st_client *c = it_client(&daemon_);
    Stocktwin__SkuWarehouse s;
    cr_assert(it_stock(c, "wh-a", "SKU-2", &s));
    st_client_close(c);
    cr_assert_eq(s.on_hand, 3, "the valid line was applied");
}

// digest_field reads the exact decimal value of the first "<key>":<digits>
// in JSON text (cJSON keeps numbers as doubles, which cannot hold 64 bits).
static unsigned long long
digest_field(const char *json, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    while (at != NULL && !isdigit((unsigned char)at[strlen(pattern)]))
        at = strstr(at + 1, pattern);
    cr_assert(at != NULL, "no number %s in %s", key, json);
    return strtoull(at + strlen(pattern), NULL, 10);
}

// `stocktwin digest` prints the digest as 16 hex digits with one line per
// worker; --json has the exact number and a hex copy of it; both agree with
// the library's answer, and a change of quantity moves the digest.
Test(integration_cli, digest_table_and_json)
{
    static char out[1 << 14];
    st_client *c = it_client(&daemon_);
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_digest(c, &r), 0, "%s", st_client_last_error(c));
    cr_assert_eq(r->result_case, STOCKTWIN__RESPONSE__RESULT_DIGEST);
    unsigned long long want = r->digest->digest;
    cr_assert_eq(r->digest->n_workers, 2);
    cr_assert_eq(r->digest->warehouses, 2);
    st_client_response_free(r);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", want);

    cr_assert_eq(cli(NULL, out, sizeof out, "digest", NULL, NULL, NULL, NULL, NULL), 0, "%s", out);
    char table_hex[17] = "";
    cr_assert_eq(sscanf(out, "digest %16[0-9a-f]", table_hex), 1, "table: %s", out);
    cr_assert_str_eq(table_hex, hex, "table: %s", out);
    cr_assert(strstr(out, "WORKER") != NULL && strstr(out, "DURABLE LSN") != NULL, "%s", out);
    cr_assert(strstr(out, "\n     0 ") != NULL && strstr(out, "\n     1 ") != NULL,
              "one line per worker: %s", out);

    cr_assert_eq(cli(NULL, out, sizeof out, "--json", "digest", NULL, NULL, NULL, NULL), 0);
    cJSON *root = cJSON_Parse(out);
    cr_assert(root != NULL, "digest --json prints JSON: %s", out);
    const cJSON *d = cJSON_GetObjectItem(root, "digest");
    cr_assert(cJSON_IsObject(d), "%s", out);
    cr_assert_str_eq(cJSON_GetObjectItem(d, "digest_hex")->valuestring, hex);
    cr_assert_eq(digest_field(out, "digest"), want, "the exact digest: %s", out);
    const cJSON *workers = cJSON_GetObjectItem(d, "workers");
    cr_assert_eq(cJSON_GetArraySize(workers), 2);
    for (int i = 0; i < 2; i++) {
        const cJSON *w = cJSON_GetArrayItem(workers, i);
        cr_assert_eq(cJSON_GetObjectItem(w, "worker")->valueint, i);
        cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(w, "durable_lsn")), "%s", out);
        cr_assert_eq(strlen(cJSON_GetObjectItem(w, "warehouses_digest_hex")->valuestring), 16);
    }
    cJSON_Delete(root);

    cr_assert_eq(it_send_one(c, "{\"source\":\"digest\",\"seq\":1,\"warehouse\":\"wh-c\","
                                "\"movement\":{\"kind\":\"RECEIVE\",\"sku\":\"SKU-2\",\"qty\":1,"
                                "\"to_location\":\"stor\"}}"),
                 STOCKTWIN__STATUS__STATUS_OK);
    st_client_close(c);
    cr_assert_eq(cli(NULL, out, sizeof out, "digest", NULL, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(sscanf(out, "digest %16[0-9a-f]", table_hex), 1, "table: %s", out);
    cr_assert_str_neq(table_hex, hex, "a quantity changed, so did the digest");
    cr_assert_eq(cli(NULL, out, sizeof out, "digest", "extra", NULL, NULL, NULL, NULL), 2);
    cr_assert_eq(cli(NULL, out, sizeof out, "digest", "--help", NULL, NULL, NULL, NULL), 0);
    cr_assert(strstr(out, "usage: stocktwin digest") != NULL, "%s", out);
}
