// load_verify.c - does the daemon hold what the load put into it?
//
// Before the measured run, the on-hand of every compared (warehouse, sku) is
// read from the daemon; after it (every request completed), it is read again
// and must equal before + the net change of the events the daemon answered
// OK (load_gen.c sums it per key: RECEIVE and RFID inbound +qty, PICK and
// RFID outbound -qty, everything else 0). Reading "before" from the daemon
// rather than assuming the setup's quantity makes reruns and --no-setup work.
//
// Compared: by default a random sample of --verify-skus skus, each in every
// warehouse (one SkuQuery per sku, gathered from every worker); with
// --verify-all every (warehouse, sku), read as inventory pages of 10,000
// lines. A key touched by a request that got no per-event answer (timeout,
// lost connection) is skipped and counted: its events may or may not have
// been applied. Nobody else may write to these warehouses during the run.
//
// Thread: the main thread, with its own blocking st_client.
#include <string.h>

#include "load.h"

#define VERIFY_PAGE 10000u
#define MISMATCHES_SHOWN 10u

// Parses "<prefix><digits>" of exactly the form the generator names ids,
// returning the number or -1.
static long
parse_id(const char *id, const char *prefix, unsigned digits)
{
    size_t pl = strlen(prefix);
    if (strncmp(id, prefix, pl) != 0 || strlen(id) != pl + digits)
        return -1;
    long v = 0;
    for (const char *p = id + pl; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static int
fetch_by_sku(load_run *r, st_client *c, int64_t *out)
{
    uint32_t W = r->o.warehouses;
    for (uint32_t i = 0; i < r->verify_n; i++) {
        Stocktwin__Response *resp = NULL;
        int rc = st_client_sku(c, r->sku_ids[r->verify_skus[i]], &resp);
        if (rc != 0 || resp->result_case != STOCKTWIN__RESPONSE__RESULT_SKU) {
            fprintf(stderr, "stocktwin-load: verify: sku %s: %s: %s\n",
                    r->sku_ids[r->verify_skus[i]], st_status_name(rc), st_client_last_error(c));
            st_client_response_free(resp);
            return 1;
        }
        for (size_t j = 0; j < resp->sku->n_warehouses; j++) {
            const Stocktwin__SkuWarehouse *sw = resp->sku->warehouses[j];
            long w = parse_id(sw->warehouse, "wh-", 2);
            if (w >= 0 && (uint32_t)w < W)
                out[(size_t)i * W + (size_t)w] = sw->on_hand;
        }
        st_client_response_free(resp);
    }
    return 0;
}

// --verify-all: verify_skus[i] == i, so the sku index is the row.
static int
fetch_by_inventory(load_run *r, st_client *c, int64_t *out)
{
    uint32_t W = r->o.warehouses;
    for (uint32_t w = 0; w < W; w++) {
        uint32_t offset = 0, total = 1;
        while (offset < total) {
            Stocktwin__Response *resp = NULL;
            int rc = st_client_inventory(c, r->wh_ids[w], false, offset, VERIFY_PAGE, &resp);
            if (rc != 0 || resp->result_case != STOCKTWIN__RESPONSE__RESULT_INVENTORY) {
                fprintf(stderr, "stocktwin-load: verify: inventory of %s: %s: %s\n", r->wh_ids[w],
                        st_status_name(rc), st_client_last_error(c));
                st_client_response_free(resp);
                return 1;
            }
            const Stocktwin__InventoryResult *inv = resp->inventory;
            total = inv->total_skus;
            for (size_t j = 0; j < inv->n_lines; j++) {
                long s = parse_id(inv->lines[j]->sku, "SKU-", 6);
                if (s >= 0 && (uint32_t)s < r->o.skus)
                    out[(size_t)s * W + w] = inv->lines[j]->on_hand;
            }
            offset += (uint32_t)inv->n_lines;
            bool empty = inv->n_lines == 0;
            st_client_response_free(resp);
            if (empty)
                break;
        }
    }
    return 0;
}

static int
fetch(load_run *r, st_client *c, int64_t *out)
{
    size_t n = (size_t)r->verify_n * r->o.warehouses;
    for (size_t i = 0; i < n; i++)
        out[i] = -1;
    return r->o.verify_all ? fetch_by_inventory(r, c, out) : fetch_by_sku(r, c, out);
}

// Picks the skus to compare (distinct, random by --seed) and reads their
// on-hand now, before the measured run.
int
load_verify_before(load_run *r, st_client *c)
{
    uint32_t S = r->o.skus;
    r->verify_n = r->o.verify_all || r->o.verify_skus >= S ? S : r->o.verify_skus;
    r->verify_skus = calloc(S, sizeof *r->verify_skus);
    r->before = calloc((size_t)r->verify_n * r->o.warehouses, sizeof *r->before);
    if (!r->verify_skus || !r->before)
        return 1;
    for (uint32_t i = 0; i < S; i++)
        r->verify_skus[i] = i;
    uint64_t rng = r->o.seed ^ 0xC0FFEEull;
    for (uint32_t i = 0; i < r->verify_n && !r->o.verify_all; i++) { // partial Fisher-Yates
        uint32_t j = i + (uint32_t)(load_rand(&rng) % (S - i));
        uint32_t t = r->verify_skus[i];
        r->verify_skus[i] = r->verify_skus[j], r->verify_skus[j] = t;
    }
    return fetch(r, c, r->before);
}

// Reads the same keys again and compares. Returns 1 when the comparison could
// not be made; mismatches are counted in r->mismatches.
int
load_verify_after(load_run *r, st_client *c)
{
    uint32_t W = r->o.warehouses, S = r->o.skus;
    size_t n = (size_t)r->verify_n * W;
    int64_t *after = calloc(n, sizeof *after);
    if (!after || fetch(r, c, after) != 0) {
        free(after);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t sku = r->verify_skus[i / W], w = (uint32_t)(i % W);
        uint64_t key = (uint64_t)w * S + sku;
        if (atomic_load_explicit(&r->unsure[key], memory_order_relaxed)) {
            r->skipped_unsure++;
            continue;
        }
        if (r->before[i] < 0 || after[i] < 0) {
            r->missing++;
            continue;
        }
        int64_t net = atomic_load_explicit(&r->net[key], memory_order_relaxed);
        r->verified++;
        if (after[i] != r->before[i] + net) {
            if (r->mismatches++ < MISMATCHES_SHOWN)
                fprintf(stderr,
                        "stocktwin-load: MISMATCH %s %s: on_hand %lld, expected %lld "
                        "(before %lld, net %+lld)\n",
                        r->wh_ids[w], r->sku_ids[sku], (long long)after[i],
                        (long long)(r->before[i] + net), (long long)r->before[i], (long long)net);
        }
    }
    free(after);
    return 0;
}
