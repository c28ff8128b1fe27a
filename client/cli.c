// cli.c - `stocktwin`, the operator's command line: global flags, the query
// commands (inventory, sku, twin, alerts, devices, stats, digest), argument helpers and exit
// codes. Writes live in cli_send.c, tables in cli_print.c.
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_print.h"
#include "cli_send.h"
#include "cli_wal.h"
#include "stocktwin.h"

static const char cli_help_main[] =
    "stocktwin - talk to a stocktwind server (version " ST_CLIENT_VERSION ")\n"
    "\n"
    "usage: stocktwin [GLOBAL FLAGS] COMMAND [ARGS] [FLAGS]\n"
    "\n"
    "commands:\n"
    "  inventory WAREHOUSE   per SKU: on hand, reserved, available, reorder point, LOW, locations\n"
    "  sku SKU               one SKU in every warehouse\n"
    "  twin ID               one twin (warehouse, zone, shelf, product, device, supplier)\n"
    "  alerts                recent alerts, or --follow the live alert feed\n"
    "  devices               device health: last report, SILENT (--silent: only those)\n"
    "  stats                 per-worker counters of the server\n"
    "  digest                a hash of the whole state, with per-worker LSNs\n"
    "  snapshot              snapshot every worker now (a server with --data)\n"
    "  promote               make the follower at --url the leader (a new epoch)\n"
    "  send                  send one event built from flags, or JSON lines from stdin\n"
    "  reserve WAREHOUSE ORDER SKU QTY     reserve available stock for an order\n"
    "  release WAREHOUSE ORDER SKU [QTY]   give back a reservation (all of it without QTY)\n"
    "  fulfil WAREHOUSE ORDER SKU [QTY]    ship reserved stock (all of it without QTY)\n"
    "  wal verify DIR        offline, no server: check a data directory's write-ahead logs\n"
    "  wal dump DIR          offline: print its log entries as JSON lines (--from, --worker)\n"
    "\n"
    "global flags (before or after the command):\n"
    "  --url URL         RPC door (default $STOCKTWIN_URL, else " ST_CLIENT_DEFAULT_URL ")\n"
    "  --feed URL        feed door for alerts --follow (default $STOCKTWIN_FEED_URL,\n"
    "                    else " ST_CLIENT_DEFAULT_FEED_URL ")\n"
    "  --credential C    credential sent with every request (default $STOCKTWIN_CREDENTIAL)\n"
    "  --json            machine output: one JSON object per line and result\n"
    "  --timeout MS      per-request timeout (default 5000)\n"
    "  --help            this text; `stocktwin COMMAND --help` for a command\n"
    "  --version         print the version\n"
    "\n"
    "exit codes:\n"
    "  0  success (every event OK, DUPLICATE or STALE; every query OK)\n"
    "  1  the server rejected something (an event status other than OK/DUPLICATE/STALE,\n"
    "     or a query status other than OK, e.g. NOT_FOUND)\n"
    "  2  usage error: bad command, flag, number or input line\n"
    "  (wal verify|dump: 1 a log is corrupt or unreadable, 2 also DIR is not a data directory)\n"
    "  3  cannot reach the server: connection refused, timeout, invalid reply\n"
    "\n"
    "examples:\n"
    "  stocktwin inventory wh-berlin --below-reorder\n"
    "  stocktwin --json sku SKU-1001\n"
    "  stocktwin send --warehouse wh-berlin --type receive --sku SKU-1001 --qty 5 --to z1\n"
    "  stocktwin reserve wh-berlin order-42 SKU-1001 3\n"
    "  stocktwin alerts --follow --warehouse wh-berlin\n";

static const char cli_help_inventory[] =
    "usage: stocktwin inventory WAREHOUSE [--below-reorder] [--offset N] [--limit N]\n"
    "       stocktwin inventory WAREHOUSE --all [--below-reorder]\n"
    "\n"
    "Lists the warehouse's stock records, in the order it first saw each SKU: on\n"
    "hand, reserved, available, reorder point, LOW when available <= reorder point,\n"
    "and where the stock is (zone/shelf:qty, or zone:qty when it sits in a zone).\n"
    "  --below-reorder   only SKUs at or below their reorder point\n"
    "  --offset N        skip the first N SKUs (paging; default 0)\n"
    "  --limit N         at most N SKUs (default 0 = the server's 1000; max 100000)\n"
    "  --all             every SKU, page after page, printed as they arrive (with\n"
    "                    --json: one JSON object per SKU line)\n"
    "example: stocktwin inventory wh-berlin --below-reorder --limit 50\n";

static const char cli_help_sku[] =
    "usage: stocktwin sku SKU\n"
    "\n"
    "One SKU across the network: per warehouse on hand, reserved, available,\n"
    "inbound (open POs and transfers), outbound in transit, reorder point, LOW.\n"
    "example: stocktwin sku SKU-1001\n";

static const char cli_help_twin[] =
    "usage: stocktwin twin ID [--warehouse W]\n"
    "\n"
    "One twin with its properties and relationships. Without --warehouse the\n"
    "server looks for a warehouse, product or supplier called ID, then in every\n"
    "warehouse; zones, shelves and devices are best named with --warehouse.\n"
    "example: stocktwin twin shelf-A1 --warehouse wh-berlin\n";

static const char cli_help_alerts[] =
    "usage: stocktwin alerts [--warehouse W] [--limit N] [--follow [--count N]]\n"
    "\n"
    "Recent alerts, newest first (LOW_STOCK, DISCREPANCY, WEIGHT_ANOMALY,\n"
    "DEVICE_SILENT, SHIPMENT_DELAYED, OVER_CAPACITY).\n"
    "  --warehouse W   only this warehouse (default: all)\n"
    "  --limit N       at most N (default 0 = the server's 100; max 10000)\n"
    "  --follow        subscribe to the feed (--feed URL, topics alert/...) and print\n"
    "                  each alert as it arrives, until Ctrl-C\n"
    "  --count N       with --follow: exit 0 after N alerts\n"
    "example: stocktwin --feed tcp://127.0.0.1:7402 alerts --follow --count 1\n";

static const char cli_help_devices[] =
    "usage: stocktwin devices [--warehouse W] [--silent] [--limit N]\n"
    "\n"
    "Device health, by warehouse then device id: kind, the twin it is bound to,\n"
    "its last report, and SILENT once DEVICE_SILENT was raised for it (no report\n"
    "for stocktwind's --device-silent) until it reports again.\n"
    "  --warehouse W   only this warehouse (default: all)\n"
    "  --silent        only the silent ones\n"
    "  --limit N       at most N (default 0 = the server's 1000; max 100000)\n"
    "example: stocktwin devices --silent\n";

static const char cli_help_stats[] =
    "usage: stocktwin stats\n"
    "\n"
    "Per worker: warehouses, stock records, events accepted/rejected/duplicate,\n"
    "queries, BUSY rejections, queue depth; then uptime, products, suppliers.\n"
    "With replication: the role (leader, follower, standalone), a follower's lag\n"
    "behind its leader, and on a leader each follower's lag (entries, ms).\n";

static const char cli_help_snapshot[] =
    "usage: stocktwin snapshot\n"
    "\n"
    "Asks a stocktwind started with --data to snapshot every worker now instead of\n"
    "waiting for --snapshot-mib or --snapshot-interval. Answers at once with the LSN\n"
    "each worker's snapshot covers at least; the worker copies it one warehouse at a\n"
    "time between batches, a thread writes it, and once the log is durable up to it\n"
    "the server publishes it and deletes the log segments it covers (stderr says\n"
    "so). Exit 1 if the server has no log.\n"
    "example: stocktwin snapshot\n";

static const char cli_help_promote[] =
    "usage: stocktwin promote\n"
    "\n"
    "Makes the follower at --url (a stocktwind started with --follow) the leader:\n"
    "it stops following, takes the next epoch, and restarts as leader, accepting\n"
    "writes and opening its --replication door. From then on the old leader's\n"
    "writes and frames are refused everywhere it meets this epoch; restart the old\n"
    "leader with --follow to rejoin (it discards what it never had acknowledged).\n"
    "On a leader it changes nothing and says its epoch (promotion is idempotent).\n"
    "example: stocktwin --url tcp://127.0.0.1:7500 promote\n";

static const char cli_help_digest[] =
    "usage: stocktwin digest\n"
    "\n"
    "A hash of the whole state, as 16 hex digits: two servers that applied the same\n"
    "events (a leader and its follower at the same LSNs, a server before and after a\n"
    "restart) print the same digest, whatever their worker counts. Then per worker:\n"
    "its durable log LSN and the digest of the warehouses it owns. The server makes\n"
    "one pass over its whole state to answer.\n"
    "With --json the digests are exact decimal numbers, each with a \"..._hex\" copy.\n"
    "example: stocktwin digest\n";

// ---------------------------------------------------------------------------
// Helpers shared by the commands (cli.h)

int
cli_usage(const char *fmt, ...)
{
    va_list ap;
    fputs("stocktwin: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see stocktwin --help)\n", stderr);
    return CLI_EXIT_USAGE;
}

static const struct cli_flag *
cli_flag_find(const struct cli_flag *flags, const char *name, size_t len)
{
    for (; flags != NULL && flags->name != NULL; flags++) {
        if (strlen(flags->name) == len && strncmp(flags->name, name, len) == 0) {
            return flags;
        }
    }
    return NULL;
}

int
cli_args_parse(int argc, char **argv, const struct cli_flag *flags, struct cli_args *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (out->n_positional == CLI_ARGS_MAX) {
                return cli_usage("too many arguments");
            }
            out->positional[out->n_positional++] = arg;
            continue;
        }
        char *name = argv[i] + 2;
        char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_flag *f = cli_flag_find(flags, name, len);
        bool has_value = flags == NULL ? true : (f != NULL && f->has_value);
        if (flags != NULL && f == NULL) {
            return cli_usage("unknown flag --%.*s", (int)len, name);
        }
        if (out->n == CLI_ARGS_MAX) {
            return cli_usage("too many flags");
        }
        if (eq != NULL && f == NULL) {
            *eq = '\0'; // argv is ours to edit: the name ends at the '='
        }
        out->names[out->n] = f ? f->name : name;
        if (has_value && eq == NULL && i + 1 >= argc) {
            return cli_usage("--%.*s needs a value", (int)len, name);
        }
        if (!has_value && eq != NULL) {
            return cli_usage("--%.*s takes no value", (int)len, name);
        }
        out->values[out->n++] = has_value ? (eq ? eq + 1 : argv[++i]) : NULL;
    }
    return 0;
}

const char *
cli_args_get(const struct cli_args *a, const char *name)
{
    for (size_t i = a->n; i-- > 0;) {
        if (strcmp(a->names[i], name) == 0) {
            return a->values[i] ? a->values[i] : "";
        }
    }
    return NULL;
}

int
cli_parse_i64(const char *flag, const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0) {
        return cli_usage("%s: \"%s\" is not a whole number", flag, text);
    }
    *out = v;
    return 0;
}

int
cli_parse_u32(const char *flag, const char *text, uint32_t *out)
{
    int64_t v = 0;
    if (cli_parse_i64(flag, text, &v) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (v < 0 || v > UINT32_MAX) {
        return cli_usage("%s: %s is out of range (0 to %u)", flag, text, UINT32_MAX);
    }
    *out = (uint32_t)v;
    return 0;
}

int
cli_fail(int status, const Stocktwin__Response *resp)
{
    fprintf(stderr, "stocktwin: %s\n", st_client_last_error(NULL));
    if (resp != NULL) {
        return CLI_EXIT_REJECTED;
    }
    if (status == STOCKTWIN__STATUS__STATUS_TOO_LARGE ||
        status == STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT) {
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_UNREACHABLE;
}

int
cli_connect(const struct cli *cli, st_client **out)
{
    st_client_opts o = {
        .credential = cli->credential, .timeout_ms = cli->timeout_ms, .max_in_flight = 4};
    int status = st_client_open(cli->url, &o, out);
    if (status != 0) {
        fprintf(stderr, "stocktwin: %s\n", st_client_last_error(NULL));
        return status == STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT ? CLI_EXIT_USAGE
                                                                    : CLI_EXIT_UNREACHABLE;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Query commands

typedef void (*cli_table_fn)(const Stocktwin__Response *);

// Shows a query's reply (or why there is none) and returns the exit code.
static int
cli_show(const struct cli *cli, int status, Stocktwin__Response *resp, cli_table_fn table)
{
    int code = CLI_EXIT_OK;
    if (status != 0) {
        code = cli_fail(status, resp);
        if (resp != NULL && cli->json) {
            cli_print_json(&resp->base, NULL);
        }
    } else if (cli->json) {
        cli_print_json(&resp->base, NULL);
    } else {
        table(resp);
    }
    st_client_response_free(resp);
    return code;
}

// cli_inventory_all prints every line of a warehouse, pages of
// CLI_INVENTORY_PAGE lines decoded as they come, the next one asked for
// while one is printed (st_client_inventory_all).
#define CLI_INVENTORY_PAGE 25000u

static int
cli_inventory_all(const struct cli *cli, st_client *c, const char *warehouse, bool below)
{
    bool json = cli->json;
    if (!json) {
        cli_print_inventory_header();
    }
    uint32_t lines = 0;
    int status = st_client_inventory_all(c, warehouse, below, CLI_INVENTORY_PAGE,
                                         cli_print_inventory_line, &json, NULL, &lines);
    if (status != 0) {
        fflush(stdout);
        int code = cli_fail(status, NULL);
        // The server's own refusal (an unknown warehouse, ...) is a
        // rejection, not an unreachable server.
        bool transport = status == STOCKTWIN__STATUS__STATUS_UNAVAILABLE ||
                         status == STOCKTWIN__STATUS__STATUS_MALFORMED;
        return code == CLI_EXIT_UNREACHABLE && !transport ? CLI_EXIT_REJECTED : code;
    }
    if (!json) {
        printf("warehouse %s: %u skus%s\n", warehouse, lines, below ? " at or below reorder" : "");
    }
    return CLI_EXIT_OK;
}

static int
cli_cmd_inventory(const struct cli *cli, const struct cli_args *a)
{
    uint32_t offset = 0, limit = 0;
    const char *v;
    if (a->n_positional != 1) {
        return cli_usage("inventory needs exactly one WAREHOUSE");
    }
    if ((v = cli_args_get(a, "offset")) && cli_parse_u32("--offset", v, &offset) != 0) {
        return CLI_EXIT_USAGE;
    }
    if ((v = cli_args_get(a, "limit")) && cli_parse_u32("--limit", v, &limit) != 0) {
        return CLI_EXIT_USAGE;
    }
    bool all = cli_args_get(a, "all") != NULL;
    if (all && (cli_args_get(a, "offset") || cli_args_get(a, "limit"))) {
        return cli_usage("inventory --all reads every page: it takes no --offset or --limit");
    }
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code != 0) {
        return code;
    }
    if (all) {
        code =
            cli_inventory_all(cli, c, a->positional[0], cli_args_get(a, "below-reorder") != NULL);
        st_client_close(c);
        return code;
    }
    Stocktwin__Response *resp = NULL;
    int status = st_client_inventory(c, a->positional[0], cli_args_get(a, "below-reorder") != NULL,
                                     offset, limit, &resp);
    code = cli_show(cli, status, resp, cli_print_inventory);
    st_client_close(c);
    return code;
}

static int
cli_cmd_sku_twin_stats(const struct cli *cli, const char *cmd, const struct cli_args *a)
{
    bool is_stats = strcmp(cmd, "stats") == 0;
    if (a->n_positional != (is_stats ? 0u : 1u)) {
        return is_stats ? cli_usage("stats takes no arguments")
                        : cli_usage("%s needs exactly one %s", cmd,
                                    strcmp(cmd, "sku") == 0 ? "SKU" : "ID");
    }
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code != 0) {
        return code;
    }
    Stocktwin__Response *resp = NULL;
    int status;
    if (strcmp(cmd, "sku") == 0) {
        status = st_client_sku(c, a->positional[0], &resp);
        code = cli_show(cli, status, resp, cli_print_sku);
    } else if (strcmp(cmd, "twin") == 0) {
        status = st_client_twin(c, a->positional[0], cli_args_get(a, "warehouse"), &resp);
        code = cli_show(cli, status, resp, cli_print_twin);
    } else {
        status = st_client_stats(c, &resp);
        code = cli_show(cli, status, resp, cli_print_stats);
    }
    st_client_close(c);
    return code;
}

static int
cli_cmd_digest(const struct cli *cli, const struct cli_args *a)
{
    if (a->n_positional != 0) {
        return cli_usage("digest takes no arguments");
    }
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code != 0) {
        return code;
    }
    Stocktwin__Response *resp = NULL;
    int status = st_client_digest(c, &resp);
    if (status == 0 && cli->json) {
        // Not cli_show's plain mapping: 64-bit hashes get hex copies, which
        // survive JSON readers that parse numbers as doubles.
        cli_print_digest_json(resp);
        st_client_response_free(resp);
    } else {
        code = cli_show(cli, status, resp, cli_print_digest);
    }
    st_client_close(c);
    return code;
}

// The table of a snapshot request: what each worker's snapshot will cover.
static void
cli_print_snapshot(const Stocktwin__Response *resp)
{
    const Stocktwin__SnapshotResult *s = resp->snapshot;
    printf("snapshot requested: every worker writes one in the background\n");
    printf("WORKER  COVERS AT LEAST LSN\n");
    for (size_t i = 0; i < s->n_from_lsn; i++)
        printf("%6zu  %" PRIu64 "\n", i, s->from_lsn[i]);
}

static int
cli_cmd_snapshot(const struct cli *cli, const struct cli_args *a)
{
    if (a->n_positional != 0)
        return cli_usage("snapshot takes no arguments");
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code != 0)
        return code;
    Stocktwin__Response *resp = NULL;
    int status = st_client_snapshot(c, &resp);
    code = cli_show(cli, status, resp, cli_print_snapshot);
    st_client_close(c);
    return code;
}

static void
cli_print_promote(const Stocktwin__Response *resp)
{
    printf("leader of epoch %" PRIu64 " (a follower restarts as leader now)\n", resp->promote->epoch);
}

static int
cli_cmd_promote(const struct cli *cli, const struct cli_args *a)
{
    if (a->n_positional != 0)
        return cli_usage("promote takes no arguments");
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code != 0)
        return code;
    Stocktwin__Response *resp = NULL;
    int status = st_client_promote(c, &resp);
    code = cli_show(cli, status, resp, cli_print_promote);
    st_client_close(c);
    return code;
}

static volatile sig_atomic_t cli_interrupted;

static void
cli_on_sigint(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

// alerts --follow: prints feed alerts until SIGINT/SIGTERM or `count` of them.
static int
cli_follow_alerts(const struct cli *cli, const char *warehouse, int64_t count)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "alert/%s%s", warehouse ? warehouse : "", warehouse ? "/" : "");
    st_sub *s = NULL;
    if (st_sub_open(cli->feed_url, prefix, &s) != 0) {
        fprintf(stderr, "stocktwin: %s\n", st_client_last_error(NULL));
        return CLI_EXIT_UNREACHABLE;
    }
    struct sigaction sa = {.sa_handler = cli_on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int64_t seen = 0;
    // Short waits, so that Ctrl-C (which nng's threads do not see) ends the
    // loop within 200 ms.
    while (!cli_interrupted && (count <= 0 || seen < count)) {
        char *topic = NULL;
        Stocktwin__FeedMessage *m = NULL;
        int status = st_sub_recv(s, 200, &topic, &m);
        if (status == ST_CLIENT_TIMEOUT) {
            continue;
        }
        if (status != 0) {
            fprintf(stderr, "stocktwin: %s\n", st_client_last_error(NULL));
            if (status == STOCKTWIN__STATUS__STATUS_MALFORMED) {
                continue; // one bad message; the feed goes on
            }
            st_sub_close(s);
            return CLI_EXIT_UNREACHABLE;
        }
        if (cli->json) {
            cli_print_json(&m->base, topic);
        } else if (m->body_case == STOCKTWIN__FEED_MESSAGE__BODY_ALERT) {
            cli_print_alert_line(m->alert);
        }
        fflush(stdout);
        seen += m->body_case == STOCKTWIN__FEED_MESSAGE__BODY_ALERT;
        free(topic);
        st_feed_message_free(m);
    }
    // The process ends here, so the socket is left to the kernel instead of
    // closed: nng 1.5.2's nng_close() can deadlock waiting for a SUB pipe to
    // be reaped (upstream nanomsg/nng#1543 and #1813, fixed after 1.5.2),
    // which hung `alerts --follow --count N` after it had printed its alerts.
    // _exit also skips LeakSanitizer's exit-time scan of what we did not free.
    (void)s;
    fflush(stdout);
    fflush(stderr);
    _exit(CLI_EXIT_OK);
}

static int
cli_cmd_devices(const struct cli *cli, const struct cli_args *a)
{
    uint32_t limit = 0;
    const char *v;
    if (a->n_positional != 0) {
        return cli_usage("devices takes no arguments (use --warehouse W)");
    }
    if ((v = cli_args_get(a, "limit")) && cli_parse_u32("--limit", v, &limit) != 0) {
        return CLI_EXIT_USAGE;
    }
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code != 0) {
        return code;
    }
    Stocktwin__Response *resp = NULL;
    int status = st_client_devices(c, cli_args_get(a, "warehouse"),
                                   cli_args_get(a, "silent") != NULL, limit, &resp);
    code = cli_show(cli, status, resp, cli_print_devices);
    st_client_close(c);
    return code;
}

static int
cli_cmd_alerts(const struct cli *cli, const struct cli_args *a)
{
    uint32_t limit = 0;
    int64_t count = 0;
    const char *v;
    if (a->n_positional != 0) {
        return cli_usage("alerts takes no arguments (use --warehouse W)");
    }
    if ((v = cli_args_get(a, "limit")) && cli_parse_u32("--limit", v, &limit) != 0) {
        return CLI_EXIT_USAGE;
    }
    if ((v = cli_args_get(a, "count")) && cli_parse_i64("--count", v, &count) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (cli_args_get(a, "follow") != NULL) {
        return cli_follow_alerts(cli, cli_args_get(a, "warehouse"), count);
    }
    if (cli_args_get(a, "count") != NULL) {
        return cli_usage("--count goes with --follow");
    }
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code != 0) {
        return code;
    }
    Stocktwin__Response *resp = NULL;
    int status = st_client_alerts(c, cli_args_get(a, "warehouse"), limit, &resp);
    code = cli_show(cli, status, resp, cli_print_alerts);
    st_client_close(c);
    return code;
}

// ---------------------------------------------------------------------------
// main

struct cli_command {
    const char *name;
    const char *help;         // NULL: the command prints its own help
    struct cli_flag flags[8]; // terminated by a NULL name
};

static const struct cli_command cli_commands[] = {
    {"inventory",
     cli_help_inventory,
     {{"below-reorder", false}, {"offset", true}, {"limit", true}, {"all", false}, {NULL, false}}},
    {"sku", cli_help_sku, {{NULL, false}}},
    {"twin", cli_help_twin, {{"warehouse", true}, {NULL, false}}},
    {"alerts",
     cli_help_alerts,
     {{"warehouse", true}, {"limit", true}, {"follow", false}, {"count", true}, {NULL, false}}},
    {"devices",
     cli_help_devices,
     {{"warehouse", true}, {"silent", false}, {"limit", true}, {NULL, false}}},
    {"stats", cli_help_stats, {{NULL, false}}},
    {"digest", cli_help_digest, {{NULL, false}}},
    {"snapshot", cli_help_snapshot, {{NULL, false}}},
    {"promote", cli_help_promote, {{NULL, false}}},
    {"send", NULL, {{NULL, false}}},
    {"reserve", NULL, {{NULL, false}}},
    {"release", NULL, {{NULL, false}}},
    {"fulfil", NULL, {{NULL, false}}},
    {"wal", NULL, {{NULL, false}}},
};

// Takes the global flags out of argv wherever they are (before or after the
// command), leaving the command and its own arguments in order.
static int
cli_globals(int *argc, char **argv, struct cli *cli)
{
    int kept = 0;
    for (int i = 0; i < *argc; i++) {
        const char *arg = argv[i];
        const char **target = NULL;
        if (strcmp(arg, "--json") == 0) {
            cli->json = true;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli->help = true;
        } else if (strcmp(arg, "--url") == 0) {
            target = &cli->url;
        } else if (strcmp(arg, "--feed") == 0) {
            target = &cli->feed_url;
        } else if (strcmp(arg, "--credential") == 0) {
            target = &cli->credential;
        } else if (strcmp(arg, "--timeout") == 0) {
            if (i + 1 >= *argc) {
                return cli_usage("--timeout needs a value");
            }
            int64_t ms = 0;
            if (cli_parse_i64("--timeout", argv[++i], &ms) != 0) {
                return CLI_EXIT_USAGE;
            }
            if (ms <= 0 || ms > 3600000) {
                return cli_usage("--timeout: %s ms is out of range (1 to 3600000)", argv[i]);
            }
            cli->timeout_ms = (int)ms;
        } else {
            argv[kept++] = argv[i];
        }
        if (target != NULL) {
            if (i + 1 >= *argc) {
                return cli_usage("%s needs a value", arg);
            }
            *target = argv[++i];
        }
    }
    *argc = kept;
    return 0;
}

static const char *
cli_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && v[0] ? v : fallback;
}

static int
cli_run(const struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
    if (strcmp(cmd->name, "send") == 0) {
        return cli_cmd_send(cli, argc, argv);
    }
    if (strcmp(cmd->name, "wal") == 0) {
        return cli_cmd_wal(cli, argc, argv);
    }
    if (cmd->help == NULL) {
        return cli_cmd_order(cli, argc, argv);
    }
    if (cli->help) {
        fputs(cmd->help, stdout);
        return CLI_EXIT_OK;
    }
    struct cli_args a;
    if (cli_args_parse(argc - 1, argv + 1, cmd->flags, &a) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (strcmp(cmd->name, "inventory") == 0) {
        return cli_cmd_inventory(cli, &a);
    }
    if (strcmp(cmd->name, "alerts") == 0) {
        return cli_cmd_alerts(cli, &a);
    }
    if (strcmp(cmd->name, "devices") == 0) {
        return cli_cmd_devices(cli, &a);
    }
    if (strcmp(cmd->name, "digest") == 0) {
        return cli_cmd_digest(cli, &a);
    }
    if (strcmp(cmd->name, "snapshot") == 0) {
        return cli_cmd_snapshot(cli, &a);
    }
    if (strcmp(cmd->name, "promote") == 0) {
        return cli_cmd_promote(cli, &a);
    }
    return cli_cmd_sku_twin_stats(cli, cmd->name, &a);
}

int
main(int argc, char **argv)
{
    struct cli cli = {
        .url = cli_env("STOCKTWIN_URL", ST_CLIENT_DEFAULT_URL),
        .feed_url = cli_env("STOCKTWIN_FEED_URL", ST_CLIENT_DEFAULT_FEED_URL),
        .credential = cli_env("STOCKTWIN_CREDENTIAL", ""),
        .timeout_ms = 5000,
    };
    argc--;
    argv++;
    if (argc > 0 && strcmp(argv[0], "--version") == 0) {
        printf("stocktwin %s (protocol %u)\n", ST_CLIENT_VERSION, ST_CLIENT_PROTOCOL_VERSION);
        return CLI_EXIT_OK;
    }
    if (cli_globals(&argc, argv, &cli) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (argc == 0) {
        if (cli.help) {
            fputs(cli_help_main, stdout);
            return CLI_EXIT_OK;
        }
        return cli_usage("no command given");
    }
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++) {
        if (strcmp(argv[0], cli_commands[i].name) == 0) {
            return cli_run(&cli, &cli_commands[i], argc, argv);
        }
    }
    if (strcmp(argv[0], "--version") == 0) {
        printf("stocktwin %s (protocol %u)\n", ST_CLIENT_VERSION, ST_CLIENT_PROTOCOL_VERSION);
        return CLI_EXIT_OK;
    }
    return cli_usage("unknown command \"%s\"", argv[0]);
}
