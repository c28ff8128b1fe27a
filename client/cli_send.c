// cli_send.c - the CLI's writes. Every event, whether from flags, from a JSON
// line or from `reserve`/`release`/`fulfil`, is first written as a cJSON tree
// in the proto's field names and then turned into a Stocktwin__Event by
// pbjson: one conversion, one set of checks and one error style for all
// three paths, and a new event kind in stocktwin.proto works here unchanged.
//
// Identity of CLI events (documented in `stocktwin send --help`): source
// defaults to "cli-<user>@<host>", seq to the microseconds since the epoch
// (strictly increasing within one run, so successive runs from one host keep
// increasing as the server's per-source window requires), event_time_ms to
// now. --source, --seq and --time override them.
#include "cli_send.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli_print.h"
#include "pbjson.h"

// `send --type T`: the Event oneof member T fills, and a field it fixes.
struct cli_event_type {
    const char *type;
    const char *member;
    const char *fixed_field;
    const char *fixed_value;
};

static const struct cli_event_type cli_event_types[] = {
    {"receive", "movement", "kind", "RECEIVE"},
    {"pick", "movement", "kind", "PICK"},
    {"putaway", "movement", "kind", "PUTAWAY"},
    {"relocate", "movement", "kind", "RELOCATE"},
    {"adjust", "movement", "kind", "ADJUST"},
    {"count", "count", NULL, NULL},
    {"rfid-in", "rfid", "direction", "INBOUND"},
    {"rfid-out", "rfid", "direction", "OUTBOUND"},
    {"weight", "weight", NULL, NULL},
    {"reserve", "reserve", NULL, NULL},
    {"release", "release", NULL, NULL},
    {"fulfil", "fulfil", NULL, NULL},
    {"po-create", "po_create", NULL, NULL},
    {"po-eta", "po_eta", NULL, NULL},
    {"po-receive", "po_receive", NULL, NULL},
    {"transfer-dispatch", "transfer_dispatch", NULL, NULL},
    {"transfer-position", "transfer_position", NULL, NULL},
    {"transfer-receive", "transfer_receive", NULL, NULL},
    {"warehouse", "warehouse_upsert", NULL, NULL},
    {"zone", "zone_upsert", NULL, NULL},
    {"shelf", "shelf_upsert", NULL, NULL},
    {"product", "product_upsert", NULL, NULL},
    {"device", "device_upsert", NULL, NULL},
    {"supplier", "supplier_upsert", NULL, NULL},
    {"policy", "stock_policy", NULL, NULL},
};
#define CLI_EVENT_TYPES (sizeof cli_event_types / sizeof cli_event_types[0])

// Short flag names: tried after the field's own name, as name + suffix.
static const char *const cli_field_suffixes[] = {"", "_id", "_location", "_mg", "_ms", "_at_ms"};
// Flags that are not a field name plus a suffix.
static const char *const cli_field_aliases[][2] = {
    {"capacity", "total_capacity"}, {"zone_type", "type"}, {"time", "event_time_ms"}};

static uint64_t cli_last_seq;

static int64_t
cli_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static uint64_t
cli_next_seq(void)
{
    uint64_t now = (uint64_t)cli_now_us();
    cli_last_seq = now > cli_last_seq ? now : cli_last_seq + 1;
    return cli_last_seq;
}

static const char *
cli_default_source(void)
{
    // Ids are at most 64 bytes (stocktwin.proto): a long user@host is cut.
    static char source[160];
    if (source[0] == '\0') {
        const char *user = getenv("USER");
        struct passwd *pw = user ? NULL : getpwuid(getuid());
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(source, sizeof source, "cli-%s@%s", user ? user : (pw ? pw->pw_name : "user"),
                 host);
        source[64] = '\0';
    }
    return source;
}

// The field of `d` a flag means, or NULL.
static const ProtobufCFieldDescriptor *
cli_field_for_flag(const ProtobufCMessageDescriptor *d, const char *flag)
{
    char name[96];
    snprintf(name, sizeof name, "%s", flag);
    for (char *p = name; *p; p++) {
        *p = *p == '-' ? '_' : *p;
    }
    for (size_t i = 0; i < sizeof cli_field_aliases / sizeof cli_field_aliases[0]; i++) {
        if (strcmp(name, cli_field_aliases[i][0]) == 0) {
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(d, cli_field_aliases[i][1]);
            if (f != NULL) {
                return f;
            }
        }
    }
    for (size_t i = 0; i < sizeof cli_field_suffixes / sizeof cli_field_suffixes[0]; i++) {
        char full[128];
        snprintf(full, sizeof full, "%s%s", name, cli_field_suffixes[i]);
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(d, full);
        if (f != NULL) {
            return f;
        }
    }
    return NULL;
}

static const struct cli_event_type *
cli_event_type_find(const char *type)
{
    for (size_t i = 0; i < CLI_EVENT_TYPES; i++) {
        if (strcmp(cli_event_types[i].type, type) == 0) {
            return &cli_event_types[i];
        }
    }
    return NULL;
}

// --tag SKU[:QTY[:EPC]] -> {"sku":..,"qty":..,"epc":..}
static cJSON *
cli_tag(const char *text)
{
    cJSON *tag = cJSON_CreateObject();
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    char *qty = strchr(buf, ':');
    char *epc = qty ? strchr(qty + 1, ':') : NULL;
    if (qty) {
        *qty++ = '\0';
    }
    if (epc) {
        *epc++ = '\0';
    }
    cJSON_AddStringToObject(tag, "sku", buf);
    if (qty && *qty) {
        cJSON_AddStringToObject(tag, "qty", qty);
    }
    if (epc && *epc) {
        cJSON_AddStringToObject(tag, "epc", epc);
    }
    return tag;
}

// Adds flag `name` = `value` to the event tree: to the top (warehouse,
// source, seq, time) or to the kind's message.
static int
cli_flag_to_json(const char *name, const char *value, cJSON *root, cJSON *body,
                 const ProtobufCMessageDescriptor *body_d)
{
    if (value == NULL) {
        return cli_usage("--%s needs a value", name);
    }
    if (strcmp(name, "tag") == 0 && body_d == &stocktwin__rfid_scan__descriptor) {
        cJSON *tags = cJSON_GetObjectItemCaseSensitive(body, "tags");
        if (tags == NULL) {
            tags = cJSON_AddArrayToObject(body, "tags");
        }
        cJSON_AddItemToArray(tags, cli_tag(value));
        return 0;
    }
    const ProtobufCFieldDescriptor *f = cli_field_for_flag(body_d, name);
    cJSON *target = body;
    if (f == NULL || strcmp(name, "warehouse") == 0 || strcmp(name, "source") == 0 ||
        strcmp(name, "seq") == 0) {
        f = cli_field_for_flag(&stocktwin__event__descriptor, name);
        target = root;
        if (f == NULL || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
            return cli_usage("--%s is not a field of %s (see stocktwin send --help)", name,
                             body_d->short_name);
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(target, f->name);
    cJSON_AddStringToObject(target, f->name, value);
    return 0;
}

// Fills source, seq and event time when the event did not say.
static int
cli_event_defaults(Stocktwin__Event *e)
{
    if (e->source == NULL || e->source[0] == '\0') {
        char *s = strdup(cli_default_source());
        if (s == NULL) {
            return -1;
        }
        if (e->source != NULL && e->source != protobuf_c_empty_string) {
            free(e->source);
        }
        e->source = s;
    }
    if (e->seq == 0) {
        e->seq = cli_next_seq();
    }
    if (e->event_time_ms == 0) {
        e->event_time_ms = cli_now_us() / 1000;
    }
    return 0;
}

static int
cli_event_from_tree(cJSON *root, Stocktwin__Event **out)
{
    ProtobufCMessage *m = NULL;
    int status = st_pbjson_to_message(root, &stocktwin__event__descriptor, &m);
    cJSON_Delete(root);
    if (status != 0) {
        return cli_usage("%s", st_client_last_error(NULL));
    }
    *out = (Stocktwin__Event *)m;
    if (cli_event_defaults(*out) != 0) {
        st_event_free(*out);
        *out = NULL;
        fputs("stocktwin: out of memory\n", stderr);
        return CLI_EXIT_UNREACHABLE;
    }
    return 0;
}

// `send` with flags: --type T and the fields of T's message.
static int
cli_event_from_flags(const struct cli_args *a, Stocktwin__Event **out)
{
    const char *type = cli_args_get(a, "type");
    if (type == NULL) {
        return cli_usage("send needs --type (or --stdin)");
    }
    const struct cli_event_type *t = cli_event_type_find(type);
    const char *member = t ? t->member : type;
    const ProtobufCFieldDescriptor *mf =
        protobuf_c_message_descriptor_get_field_by_name(&stocktwin__event__descriptor, member);
    if (mf == NULL || mf->type != PROTOBUF_C_TYPE_MESSAGE) {
        return cli_usage("unknown event --type \"%s\"", type);
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *body = cJSON_AddObjectToObject(root, member);
    if (t && t->fixed_field) {
        cJSON_AddStringToObject(body, t->fixed_field, t->fixed_value);
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->names[i], "type") == 0) {
            continue;
        }
        if (cli_flag_to_json(a->names[i], a->values[i], root, body, mf->descriptor) != 0) {
            cJSON_Delete(root);
            return CLI_EXIT_USAGE;
        }
    }
    return cli_event_from_tree(root, out);
}

// ---------------------------------------------------------------------------
// Sending and reporting

struct cli_tally {
    size_t accepted;
    size_t rejected;
    size_t invalid;
};

static void
cli_report_event(const struct cli *cli, size_t line, const Stocktwin__Event *e,
                 const Stocktwin__EventStatus *st, struct cli_tally *t)
{
    if (st_status_accepted((int)st->status)) {
        t->accepted++;
    } else {
        t->rejected++;
    }
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        if (line != 0) {
            cJSON_AddNumberToObject(o, "line", (double)line);
        }
        cJSON_AddStringToObject(o, "source", e->source);
        char seq[32];
        snprintf(seq, sizeof seq, "%" PRIu64, e->seq);
        cJSON_AddRawToObject(o, "seq", seq);
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&stocktwin__status__descriptor, st->status);
        cJSON_AddStringToObject(o, "status", v ? v->name : "UNKNOWN");
        cJSON_AddStringToObject(o, "message", st->message);
        char *text = cJSON_PrintUnformatted(o);
        puts(text ? text : "{}");
        free(text);
        cJSON_Delete(o);
        return;
    }
    if (line != 0) {
        printf("line %zu  ", line);
    }
    printf("%s/%" PRIu64 "  %s%s%s\n", e->source, e->seq, st_status_name((int)st->status),
           st->message[0] ? "  " : "", st->message);
}

// Sends events[0..n) as one batch and reports each; returns the exit code
// of this batch (0, 1 or 3). lines[i] is event i's stdin line (0: none).
static int
cli_send_batch(const struct cli *cli, st_client *c, Stocktwin__Event **events, const size_t *lines,
               size_t n, struct cli_tally *t)
{
    Stocktwin__Response *resp = NULL;
    int status = st_client_submit(c, events, n, &resp);
    if (status != 0) {
        int code = cli_fail(status, resp);
        st_client_response_free(resp);
        t->rejected += code == CLI_EXIT_REJECTED ? n : 0;
        return code;
    }
    for (size_t i = 0; i < n; i++) {
        cli_report_event(cli, lines ? lines[i] : 0, events[i], resp->statuses[i], t);
    }
    st_client_response_free(resp);
    return t->rejected ? CLI_EXIT_REJECTED : CLI_EXIT_OK;
}

static int
cli_send_one(const struct cli *cli, Stocktwin__Event *e)
{
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code == 0) {
        struct cli_tally t = {0};
        code = cli_send_batch(cli, c, &e, NULL, 1, &t);
        st_client_close(c);
    }
    st_event_free(e);
    return code;
}

struct cli_stdin_batch {
    Stocktwin__Event *events[ST_CLIENT_BATCH_MAX];
    size_t lines[ST_CLIENT_BATCH_MAX];
    size_t n;
};

static int
cli_flush(const struct cli *cli, st_client *c, struct cli_stdin_batch *b, struct cli_tally *t)
{
    int code = b->n ? cli_send_batch(cli, c, b->events, b->lines, b->n, t) : CLI_EXIT_OK;
    for (size_t i = 0; i < b->n; i++) {
        st_event_free(b->events[i]);
    }
    b->n = 0;
    return code;
}

// JSON lines from stdin, one event a line ('#' comments and blank lines
// skipped), sent in batches of up to ST_CLIENT_BATCH_MAX. A bad line is
// reported with its number and skipped; the others still go.
static int
cli_send_stdin(const struct cli *cli)
{
    st_client *c = NULL;
    int code = cli_connect(cli, &c);
    if (code != 0) {
        return code;
    }
    struct cli_stdin_batch *b = calloc(1, sizeof *b);
    struct cli_tally t = {0};
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    while (b != NULL && code != CLI_EXIT_UNREACHABLE && getline(&line, &cap, stdin) >= 0) {
        lineno++;
        const char *p = line + strspn(line, " \t\r\n");
        if (*p == '\0' || *p == '#') {
            continue;
        }
        Stocktwin__Event *e = NULL;
        if (st_event_from_json(p, &e) != 0 || cli_event_defaults(e) != 0) {
            fprintf(stderr, "stocktwin: stdin line %zu: %s\n", lineno, st_client_last_error(NULL));
            st_event_free(e);
            t.invalid++;
            continue;
        }
        b->events[b->n] = e;
        b->lines[b->n++] = lineno;
        if (b->n == ST_CLIENT_BATCH_MAX) {
            int batch_code = cli_flush(cli, c, b, &t);
            code = batch_code > code ? batch_code : code;
        }
    }
    if (b != NULL && code != CLI_EXIT_UNREACHABLE) {
        int batch_code = cli_flush(cli, c, b, &t);
        code = batch_code > code ? batch_code : code;
    }
    if (b != NULL && code != CLI_EXIT_UNREACHABLE && t.invalid) {
        code = CLI_EXIT_USAGE;
    }
    if (!cli->json) {
        fprintf(stderr, "stocktwin: %zu accepted, %zu rejected, %zu invalid lines\n", t.accepted,
                t.rejected, t.invalid);
    }
    if (b != NULL) {
        cli_flush(cli, c, b, &t); // frees what a transport error left unsent
    }
    free(b);
    free(line);
    st_client_close(c);
    return code;
}

int
cli_cmd_send(const struct cli *cli, int argc, char **argv)
{
    if (cli->help) {
        cli_help_send();
        return CLI_EXIT_OK;
    }
    struct cli_args a;
    bool from_stdin = false;
    // "--stdin" and "-" are switches; every other flag takes a value.
    int kept = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--stdin") == 0 || strcmp(argv[i], "-") == 0) {
            from_stdin = true;
        } else {
            argv[kept++] = argv[i];
        }
    }
    if (cli_args_parse(kept, argv, NULL, &a) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (a.n_positional != 0) {
        return cli_usage("send: unexpected argument \"%s\"", a.positional[0]);
    }
    if (from_stdin) {
        if (a.n != 0) {
            return cli_usage("send --stdin takes its events from stdin, not from flags");
        }
        return cli_send_stdin(cli);
    }
    Stocktwin__Event *e = NULL;
    int code = cli_event_from_flags(&a, &e);
    return code != 0 ? code : cli_send_one(cli, e);
}

// reserve/release/fulfil WAREHOUSE ORDER SKU [QTY]
int
cli_cmd_order(const struct cli *cli, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (cli->help) {
        cli_help_order(cmd);
        return CLI_EXIT_OK;
    }
    static const struct cli_flag flags[] = {{"source", true}, {"seq", true},     {"time", true},
                                            {"from", true},   {"expires", true}, {NULL, false}};
    struct cli_args a;
    if (cli_args_parse(argc - 1, argv + 1, flags, &a) != 0) {
        return CLI_EXIT_USAGE;
    }
    bool is_reserve = strcmp(cmd, "reserve") == 0;
    if (a.n_positional < 3 || a.n_positional > 4 || (is_reserve && a.n_positional != 4)) {
        return cli_usage("usage: %s WAREHOUSE ORDER SKU %s", cmd, is_reserve ? "QTY" : "[QTY]");
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "warehouse", a.positional[0]);
    cJSON *body = cJSON_AddObjectToObject(root, cmd);
    cJSON_AddStringToObject(body, "order_id", a.positional[1]);
    cJSON_AddStringToObject(body, "sku", a.positional[2]);
    if (a.n_positional == 4) {
        cJSON_AddStringToObject(body, "qty", a.positional[3]);
    }
    const ProtobufCMessageDescriptor *d =
        protobuf_c_message_descriptor_get_field_by_name(&stocktwin__event__descriptor, cmd)
            ->descriptor;
    for (size_t i = 0; i < a.n; i++) {
        if (cli_flag_to_json(a.names[i], a.values[i], root, body, d) != 0) {
            cJSON_Delete(root);
            return CLI_EXIT_USAGE;
        }
    }
    Stocktwin__Event *e = NULL;
    int code = cli_event_from_tree(root, &e);
    return code != 0 ? code : cli_send_one(cli, e);
}

// ---------------------------------------------------------------------------
// Help

static void
cli_help_fields(const ProtobufCMessageDescriptor *d, const char *fixed)
{
    printf("    ");
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (fixed != NULL && strcmp(f->name, fixed) == 0) {
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED && strcmp(f->name, "tags") == 0) {
            printf("--tag SKU[:QTY[:EPC]] (repeated) ");
            continue;
        }
        printf("--%s ", f->name);
    }
    printf("\n");
}

void
cli_help_send(void)
{
    printf("usage: stocktwin send --type TYPE [--warehouse W] [--source S] [--seq N] [--time MS]\n"
           "                      [FIELD FLAGS]\n"
           "       stocktwin send --stdin     (or `send -`): JSON lines from stdin\n"
           "\n"
           "Sends one event, built from flags named after the fields of stocktwin.proto\n"
           "('-' or '_' both work; --to/--from/--order/--po/--transfer/--zone/--device/\n"
           "--eta/--expires are short for to_location, from_location, order_id, po_id,\n"
           "transfer_id, zone_id, device_id, eta_ms, expires_at_ms). Enums by name, any case.\n"
           "Defaults: --source cli-<user>@<host> (%s here), --seq the microseconds\n"
           "since the epoch (increasing across runs), --time now (ms since the epoch).\n"
           "\n"
           "types and their fields:\n",
           cli_default_source());
    for (size_t i = 0; i < CLI_EVENT_TYPES; i++) {
        const struct cli_event_type *t = &cli_event_types[i];
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            &stocktwin__event__descriptor, t->member);
        printf("  %-18s (%s%s%s%s)\n", t->type, t->member, t->fixed_field ? ", " : "",
               t->fixed_field ? t->fixed_field : "", t->fixed_field ? " fixed" : "");
        cli_help_fields(f->descriptor, t->fixed_field);
    }
    printf("\n"
           "--stdin: one JSON object per line with the proto's snake_case names; source, seq\n"
           "and event_time_ms default as above when absent. Sent in batches of up to %u;\n"
           "prints one status line per event (or one JSON object with --json) and a\n"
           "summary on stderr. An invalid line is reported with its number and skipped.\n"
           "\n"
           "exit: 0 all accepted (OK/DUPLICATE/STALE), 1 some rejected, 2 bad flags or\n"
           "input line, 3 server unreachable.\n"
           "\n"
           "examples:\n"
           "  stocktwin send --warehouse wh-1 --type receive --sku SKU1 --qty 5 --to z1\n"
           "  stocktwin send --warehouse wh-1 --type rfid-out --source rfid-dock-1 --tag SKU1:2\n"
           "  stocktwin send --type product --sku SKU1 --name Widget --unit-weight-mg 1000\n"
           "  echo '{\"warehouse\":\"wh-1\",\"movement\":{\"kind\":\"RECEIVE\",\"sku\":\"SKU1\","
           "\"qty\":5,\"to_location\":\"z1\"}}' | stocktwin send --stdin\n",
           ST_CLIENT_BATCH_MAX);
}

void
cli_help_order(const char *command)
{
    if (strcmp(command, "reserve") == 0) {
        printf("usage: stocktwin reserve WAREHOUSE ORDER SKU QTY [--expires MS]\n"
               "\nAtomically reserves QTY available units of SKU for ORDER (never oversells).\n"
               "Reserving again for the same ORDER and SKU adds to the reservation.\n"
               "  --expires MS   expiry, ms since the epoch (default none)\n");
    } else if (strcmp(command, "release") == 0) {
        printf("usage: stocktwin release WAREHOUSE ORDER SKU [QTY]\n"
               "\nGives back QTY of ORDER's reservation of SKU (all of it without QTY).\n");
    } else {
        printf("usage: stocktwin fulfil WAREHOUSE ORDER SKU [QTY] [--from LOCATION]\n"
               "\nShips QTY reserved units (the whole reservation without QTY): on hand and\n"
               "reserved drop, taken from the SKU's bins (--from LOCATION first).\n");
    }
    printf("\nevent identity: --source S (default cli-<user>@<host>), --seq N (default the\n"
           "microseconds since the epoch), --time MS (default now). A retry with the same\n"
           "--source and --seq is answered DUPLICATE and changes nothing.\n"
           "exit: 0 accepted, 1 rejected (e.g. INSUFFICIENT_STOCK), 2 usage, 3 unreachable.\n"
           "example: stocktwin %s wh-berlin order-42 SKU-1001 3\n",
           command);
}
