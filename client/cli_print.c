// cli_print.c - tables for people, JSON lines for programs. Column widths
// follow the data (ids are at most 64 bytes), so tables stay aligned without
// truncating ids; only free text (names, messages) is cut.
#include "cli_print.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbjson.h"

#define CLI_NAME_COLUMN_MAX 32
#define CLI_LOCATIONS_BYTES 1024

void
cli_print_json(const ProtobufCMessage *msg, const char *topic)
{
    cJSON *obj = st_pbjson_from_message(msg);
    if (obj == NULL) {
        fputs("stocktwin: out of memory\n", stderr);
        return;
    }
    if (topic != NULL) {
        cJSON_AddStringToObject(obj, "topic", topic);
    }
    char *text = cJSON_PrintUnformatted(obj);
    if (text != NULL) {
        puts(text);
        free(text);
    }
    cJSON_Delete(obj);
}

void
cli_format_time(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", day, (int)(ms % 1000));
}

static int
cli_width(int current, const char *s, int cap)
{
    int w = (int)strlen(s);
    if (w > cap) {
        w = cap;
    }
    return w > current ? w : current;
}

// "z1/s3:5 z2:7": where a SKU's stock is.
static void
cli_locations(const Stocktwin__InventoryLine *l, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n_locations && at < len; i++) {
        const Stocktwin__LocationQty *q = l->locations[i];
        int n = snprintf(buf + at, len - at, "%s%s%s%s:%" PRId64, i ? " " : "", q->zone,
                         q->shelf[0] ? "/" : "", q->shelf, q->qty);
        if (n < 0) {
            break;
        }
        at += (size_t)n;
    }
    if (at >= len && len > 4) {
        memcpy(buf + len - 4, "...", 4);
    }
}

// The inventory table's heading and rows, SKU and NAME columns ws and wn
// wide (names cut at wn).
static void
cli_inventory_head(int ws, int wn)
{
    printf("%-*s  %-*s  %9s  %9s  %9s  %9s  %-3s  %s\n", ws, "SKU", wn, "NAME", "ON HAND",
           "RESERVED", "AVAILABLE", "REORDER", "LOW", "LOCATIONS");
}

static void
cli_inventory_row(const Stocktwin__InventoryLine *l, int ws, int wn)
{
    char where[CLI_LOCATIONS_BYTES];
    cli_locations(l, where, sizeof where);
    printf("%-*s  %-*.*s  %9" PRId64 "  %9" PRId64 "  %9" PRId64 "  %9" PRId64 "  %-3s  %s\n", ws,
           l->sku, wn, wn, l->name, l->on_hand, l->reserved, l->available, l->reorder_point,
           l->below_reorder ? "LOW" : "", where);
}

void
cli_print_inventory(const Stocktwin__Response *resp)
{
    const Stocktwin__InventoryResult *r = resp->inventory;
    int ws = 3, wn = 4;
    for (size_t i = 0; i < r->n_lines; i++) {
        ws = cli_width(ws, r->lines[i]->sku, 64);
        wn = cli_width(wn, r->lines[i]->name, CLI_NAME_COLUMN_MAX);
    }
    printf("warehouse %s: %zu of %u skus\n", r->warehouse, r->n_lines, r->total_skus);
    cli_inventory_head(ws, wn);
    for (size_t i = 0; i < r->n_lines; i++) {
        cli_inventory_row(r->lines[i], ws, wn);
    }
}

// The fixed columns of `inventory --all`, which cannot measure the lines
// before printing them.
#define CLI_SKU_COLUMN_ALL 16
#define CLI_NAME_COLUMN_ALL 24

void
cli_print_inventory_header(void)
{
    cli_inventory_head(CLI_SKU_COLUMN_ALL, CLI_NAME_COLUMN_ALL);
}

bool
cli_print_inventory_line(void *json, const st_inventory_line *in)
{
    // The protobuf-c form of the line (strings borrowed), so the table and
    // the JSON are those of a paged `inventory`.
    Stocktwin__LocationQty locs_stack[16], *ptrs_stack[16];
    Stocktwin__LocationQty *locs = locs_stack, **ptrs = ptrs_stack;
    size_t n = in->n_locations;
    if (n > 16) {
        locs = malloc(n * sizeof *locs);
        ptrs = malloc(n * sizeof *ptrs);
        if (locs == NULL || ptrs == NULL) {
            fprintf(stderr, "stocktwin: out of memory\n");
            n = 0; // print the line without its locations
        }
    }
    for (size_t i = 0; i < n; i++) {
        stocktwin__location_qty__init(&locs[i]);
        locs[i].zone = (char *)in->locations[i].zone;
        locs[i].shelf = (char *)in->locations[i].shelf;
        locs[i].qty = in->locations[i].qty;
        ptrs[i] = &locs[i];
    }
    Stocktwin__InventoryLine l = STOCKTWIN__INVENTORY_LINE__INIT;
    l.sku = (char *)in->sku;
    l.name = (char *)in->name;
    l.on_hand = in->on_hand;
    l.reserved = in->reserved;
    l.available = in->available;
    l.inbound = in->inbound;
    l.in_transit_out = in->in_transit_out;
    l.reorder_point = in->reorder_point;
    l.below_reorder = in->below_reorder;
    l.n_locations = n;
    l.locations = ptrs;
    if (*(bool *)json) {
        cli_print_json(&l.base, NULL);
    } else {
        cli_inventory_row(&l, CLI_SKU_COLUMN_ALL, CLI_NAME_COLUMN_ALL);
    }
    if (locs != locs_stack) {
        free(locs);
        free(ptrs);
    }
    return true;
}

void
cli_print_sku(const Stocktwin__Response *resp)
{
    const Stocktwin__SkuResult *r = resp->sku;
    int ww = 9;
    for (size_t i = 0; i < r->n_warehouses; i++) {
        ww = cli_width(ww, r->warehouses[i]->warehouse, 64);
    }
    printf("sku %s%s%s\n", r->sku, r->name[0] ? ": " : "", r->name);
    printf("%-*s  %9s  %9s  %9s  %9s  %9s  %9s  %s\n", ww, "WAREHOUSE", "ON HAND", "RESERVED",
           "AVAILABLE", "INBOUND", "IN TRANS", "REORDER", "LOW");
    for (size_t i = 0; i < r->n_warehouses; i++) {
        const Stocktwin__SkuWarehouse *w = r->warehouses[i];
        printf("%-*s  %9" PRId64 "  %9" PRId64 "  %9" PRId64 "  %9" PRId64 "  %9" PRId64
               "  %9" PRId64 "  %s\n",
               ww, w->warehouse, w->on_hand, w->reserved, w->available, w->inbound,
               w->in_transit_out, w->reorder_point, w->below_reorder ? "LOW" : "");
    }
}

static const char *
cli_enum_name(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? v->name : "?";
}

void
cli_print_twin(const Stocktwin__Response *resp)
{
    const Stocktwin__TwinResult *t = resp->twin;
    printf("%s  %s%s%s\n", t->id, cli_enum_name(&stocktwin__twin_kind__descriptor, t->kind),
           t->warehouse[0] ? "  in " : "", t->warehouse);
    for (size_t i = 0; i < t->n_properties; i++) {
        const Stocktwin__Property *p = t->properties[i];
        switch (p->value_case) {
        case STOCKTWIN__PROPERTY__VALUE_TEXT:
            printf("  %-24s %s\n", p->name, p->text);
            break;
        case STOCKTWIN__PROPERTY__VALUE_INTEGER:
            printf("  %-24s %" PRId64 "\n", p->name, p->integer);
            break;
        case STOCKTWIN__PROPERTY__VALUE_REAL:
            printf("  %-24s %g\n", p->name, p->real);
            break;
        default:
            printf("  %-24s -\n", p->name);
            break;
        }
    }
    for (size_t i = 0; i < t->n_relationships; i++) {
        printf("  %-24s -> %s\n", t->relationships[i]->name, t->relationships[i]->target);
    }
}

void
cli_print_alert_line(const Stocktwin__Alert *a)
{
    char when[40];
    cli_format_time(a->event_time_ms, when, sizeof when);
    // WHERE: the location, else the device, else the order it concerns.
    const char *where = a->location[0] ? a->location
                        : a->device[0] ? a->device
                        : a->order[0]  ? a->order
                                       : "-";
    printf("%-24s  %-16s  %-14s  %-12s  %-12s  %10" PRId64 "  %10" PRId64 "  %s\n", when,
           a->warehouse, cli_enum_name(&stocktwin__alert_kind__descriptor, a->kind),
           a->sku[0] ? a->sku : "-", where, a->expected, a->actual, a->message);
}

void
cli_print_alerts(const Stocktwin__Response *resp)
{
    const Stocktwin__AlertsResult *r = resp->alerts;
    printf("%-24s  %-16s  %-14s  %-12s  %-12s  %10s  %10s  %s\n", "TIME", "WAREHOUSE", "KIND",
           "SKU", "WHERE", "EXPECTED", "ACTUAL", "MESSAGE");
    for (size_t i = 0; i < r->n_alerts; i++) {
        cli_print_alert_line(r->alerts[i]);
    }
    if (r->n_alerts == 0) {
        puts("(no alerts)");
    }
}

void
cli_print_devices(const Stocktwin__Response *resp)
{
    const Stocktwin__DevicesResult *r = resp->devices;
    printf("%-16s  %-16s  %-13s  %-14s  %-24s  %s\n", "WAREHOUSE", "DEVICE", "KIND", "BOUND TO",
           "LAST SEEN", "HEALTH");
    for (size_t i = 0; i < r->n_devices; i++) {
        const Stocktwin__DeviceHealth *d = r->devices[i];
        char seen[40];
        cli_format_time(d->last_seen_ms, seen, sizeof seen);
        printf("%-16s  %-16s  %-13s  %-14s  %-24s  %s\n", d->warehouse, d->id,
               cli_enum_name(&stocktwin__device_kind__descriptor, d->kind),
               d->bound_to[0] ? d->bound_to : "-", seen, d->silent ? "SILENT" : "ok");
    }
    if (r->n_devices == 0)
        puts("(no devices)");
    else if (r->total > r->n_devices)
        printf("(%zu of %u; raise --limit for more)\n", r->n_devices, r->total);
}

void
cli_print_stats(const Stocktwin__Response *resp)
{
    const Stocktwin__StatsResult *r = resp->stats;
    printf("uptime %" PRIu64 " s, %u products, %u suppliers, %zu workers\n", r->uptime_ms / 1000,
           r->products, r->suppliers, r->n_workers);
    printf("%6s  %10s  %12s  %12s  %12s  %12s  %12s  %10s  %s\n", "WORKER", "WAREHOUSES",
           "STOCK RECS", "ACCEPTED", "REJECTED", "DUPLICATE", "QUERIES", "BUSY", "QUEUE");
    for (size_t i = 0; i < r->n_workers; i++) {
        const Stocktwin__WorkerStats *w = r->workers[i];
        printf("%6u  %10u  %12" PRIu64 "  %12" PRIu64 "  %12" PRIu64 "  %12" PRIu64 "  %12" PRIu64
               "  %10" PRIu64 "  %u/%u\n",
               w->worker, w->warehouses, w->stock_records, w->events_accepted, w->events_rejected,
               w->events_duplicate, w->queries, w->busy_rejections, w->queue_depth,
               w->queue_capacity);
    }
    uint64_t records = 0;
    for (size_t i = 0; i < r->n_workers; i++)
        records += r->workers[i]->stock_records;
    if (r->resident_bytes != 0) {
        printf("memory: %.1f MiB resident", (double)r->resident_bytes / (1024.0 * 1024.0));
        if (records >= 100000) // below that, fixed costs are most of it
            printf(", %.0f bytes a stock record all-in",
                   (double)r->resident_bytes / (double)records);
        printf("; %u rpc contexts ready\n", r->rpc_contexts_ready);
    }
    if (r->role != NULL && r->role[0] != '\0' && strcmp(r->role, "standalone") != 0) {
        printf("role %s, epoch %" PRIu64, r->role, resp->epoch);
        if (strcmp(r->role, "follower") == 0)
            printf(", following %s, lag %" PRIu64 " entries / %" PRIu64 " ms", resp->leader,
                   resp->lag_entries, resp->lag_ms);
        printf("\n");
    }
    if (r->n_followers > 0) {
        printf("%-40s  %12s  %10s  %12s\n", "FOLLOWER", "LAG ENTRIES", "LAG MS", "LAST SEEN MS");
        for (size_t i = 0; i < r->n_followers; i++) {
            const Stocktwin__FollowerStats *f = r->followers[i];
            printf("%-40s  %12" PRIu64 "  %10" PRIu64 "  %12" PRIu64 "\n", f->follower,
                   f->lag_entries, f->lag_ms, f->last_seen_ms);
        }
    }
}

void
cli_print_digest(const Stocktwin__Response *resp)
{
    const Stocktwin__DigestResult *r = resp->digest;
    printf("digest %016" PRIx64 "  at lsn %" PRIu64 ", %u warehouses, %zu workers\n", r->digest,
           resp->lsn, r->warehouses, r->n_workers);
    printf("catalog %016" PRIx64 "\n", r->catalog_digest);
    printf("%6s  %20s  %s\n", "WORKER", "DURABLE LSN", "WAREHOUSES DIGEST");
    for (size_t i = 0; i < r->n_workers; i++) {
        const Stocktwin__WorkerDigest *w = r->workers[i];
        printf("%6u  %20" PRIu64 "  %016" PRIx64 "\n", w->worker, w->durable_lsn,
               w->warehouses_digest);
    }
}

// cli_add_hex puts "<key>_hex": 16 hex digits of `v` into `obj`.
static void
cli_add_hex(cJSON *obj, const char *key, uint64_t v)
{
    char name[64], hex[17];
    snprintf(name, sizeof name, "%s_hex", key);
    snprintf(hex, sizeof hex, "%016" PRIx64, v);
    cJSON_AddStringToObject(obj, name, hex);
}

void
cli_print_digest_json(const Stocktwin__Response *resp)
{
    const Stocktwin__DigestResult *r = resp->digest;
    cJSON *root = st_pbjson_from_message(&resp->base);
    cJSON *d = root ? cJSON_GetObjectItem(root, "digest") : NULL;
    cJSON *workers = d ? cJSON_GetObjectItem(d, "workers") : NULL;
    if (d == NULL || cJSON_GetArraySize(workers) != (int)r->n_workers) {
        fputs("stocktwin: out of memory\n", stderr);
        cJSON_Delete(root);
        return;
    }
    cli_add_hex(d, "digest", r->digest);
    cli_add_hex(d, "catalog_digest", r->catalog_digest);
    for (size_t i = 0; i < r->n_workers; i++) {
        cli_add_hex(cJSON_GetArrayItem(workers, (int)i), "warehouses_digest",
                    r->workers[i]->warehouses_digest);
    }
    char *text = cJSON_PrintUnformatted(root);
    if (text != NULL) {
        puts(text);
        free(text);
    }
    cJSON_Delete(root);
}
