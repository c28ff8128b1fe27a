// cli_test.c - the `stocktwin` CLI against the real daemon: JSON lines in,
// tables and JSON out, and exit codes a script can rely on (0 done, 1 the
// server said no, 2 usage, 3 unreachable).
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
