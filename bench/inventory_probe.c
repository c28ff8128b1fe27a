// inventory_probe.c - stocktwin-inventory-probe: how long one warehouse's
// whole inventory takes to read (issue 5: "the warehouse inventory query over
// 100,000 SKUs answered in <= 20 ms while ingest runs"). It asks for the
// inventory of one warehouse, page after page of --page lines, COUNT times in
// a row, and prints per whole read: lines, pages, p50 / p90 / p99 / max
// milliseconds (client side: request, server, reply decode: line by line with
// st_client_inventory_each, or --decode messages for a protobuf-c Response
// per page). Run it beside stocktwin-load to measure under ingest. Links
// libstocktwin only.
//
//   stocktwin-inventory-probe --url tcp://127.0.0.1:7400 --warehouse wh-00 --count 50
#include <getopt.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stocktwin.h"

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// count_line reads what a dashboard would: the line's numbers.
static bool
count_line(void *arg, const st_inventory_line *line)
{
    *(int64_t *)arg += line->available;
    return true;
}

#define PARALLEL_MAX 16

// One thread's share of a whole read: pages first, first + stride, ... until
// a page comes back short or the next would start past the warehouse's total.
typedef struct reader {
    st_client *cl;
    const char *wh;
    bool each, all;
    uint32_t page, first, stride;
    uint64_t lines, pages;
    uint32_t total;
    int64_t sum;
    int status;
    char error[256];
} reader;

static void *
read_pages(void *arg)
{
    reader *r = arg;
    if (r->all) { // one reader, the next page asked for while one decodes
        uint32_t n = 0;
        r->status = st_client_inventory_all(r->cl, r->wh, false, r->page, count_line, &r->sum,
                                            &r->total, &n);
        if (r->status != 0)
            snprintf(r->error, sizeof r->error, "%s", st_client_last_error(r->cl));
        r->lines = n;
        r->pages = (n + r->page - 1) / r->page;
        return NULL;
    }
    for (uint32_t p = r->first;; p += r->stride) {
        uint32_t offset = p * r->page, n = 0;
        if (r->each) {
            r->status = st_client_inventory_each(r->cl, r->wh, false, offset, r->page, count_line,
                                                 &r->sum, &r->total, &n);
        } else {
            Stocktwin__Response *resp = NULL;
            r->status = st_client_inventory(r->cl, r->wh, false, offset, r->page, &resp);
            if (r->status == 0) {
                r->total = resp->inventory->total_skus;
                n = (uint32_t)resp->inventory->n_lines;
            }
            st_client_response_free(resp);
        }
        if (r->status != 0) {
            snprintf(r->error, sizeof r->error, "at offset %u: %s", offset,
                     st_client_last_error(r->cl));
            return NULL;
        }
        r->lines += n;
        r->pages++;
        if (n < r->page || (uint64_t)(p + r->stride) * r->page >= r->total)
            return NULL;
    }
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: stocktwin-inventory-probe [--url URL] [--warehouse ID] [--count N] [--page L]\n"
            "\n"
            "Reads one warehouse's whole inventory COUNT times, in pages of L lines, and\n"
            "prints the time per whole read (p50, p90, p99, max ms). Run it while\n"
            "stocktwin-load drives the daemon to measure it under ingest.\n"
            "  --url URL        the daemon's RPC door [tcp://127.0.0.1:7400]\n"
            "  --warehouse ID   [wh-00] (stocktwin-load's first warehouse)\n"
            "  --count N        whole reads, 1..100000 [50]\n"
            "  --page L         lines per request, 1..100000 [25000]: a reply is at most\n"
            "                   4 MiB, about 40,000 lines\n"
            "  --parallel N     N threads share the pages of each read (thread t reads\n"
            "                   pages t, t+N, ...), 1..16 [1]\n"
            "  --decode HOW     each: st_client_inventory_each, lines decoded one by one\n"
            "                   (the default); messages: st_client_inventory, a protobuf-c\n"
            "                   Response per page; all: st_client_inventory_all, lines\n"
            "                   decoded one by one, the next page asked for while one is\n"
            "                   decoded (with --parallel 1 only)\n");
}

int
main(int argc, char **argv)
{
    const char *url = "tcp://127.0.0.1:7400", *wh = "wh-00";
    long count = 50, page = 25000, parallel = 1;
    bool each = true, all = false;
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},    {"warehouse", required_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'n'},  {"page", required_argument, NULL, 'p'},
        {"decode", required_argument, NULL, 'd'}, {"parallel", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'w': wh = optarg; break;
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'p': page = strtol(optarg, NULL, 10); break;
        case 'j':
            parallel = strtol(optarg, NULL, 10);
            break;
        case 'd':
            if (strcmp(optarg, "each") != 0 && strcmp(optarg, "messages") != 0 &&
                strcmp(optarg, "all") != 0) {
                usage(stderr);
                return 2;
            }
            each = strcmp(optarg, "each") == 0;
            all = strcmp(optarg, "all") == 0;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (count < 1 || count > 100000 || page < 1 || page > 100000 || parallel < 1 ||
        parallel > PARALLEL_MAX || (all && parallel != 1)) {
        usage(stderr);
        return 2;
    }
    st_client_opts o = {.timeout_ms = 30000};
    st_client *cl = NULL;
    if (st_client_open(url, &o, &cl) != 0) {
        fprintf(stderr, "stocktwin-inventory-probe: %s\n", st_client_last_error(NULL));
        return 1;
    }
    double *ms = calloc((size_t)count, sizeof *ms);
    reader rd[PARALLEL_MAX];
    pthread_t th[PARALLEL_MAX];
    uint64_t lines = 0, pages = 0;
    for (long k = 0; k < count; k++) {
        double t0 = now_ms();
        for (long t = 0; t < parallel; t++) {
            rd[t] = (reader){.cl = cl,
                             .wh = wh,
                             .each = each,
                             .all = all,
                             .page = (uint32_t)page,
                             .first = (uint32_t)t,
                             .stride = (uint32_t)parallel};
            if (t > 0 && pthread_create(&th[t], NULL, read_pages, &rd[t]) != 0) {
                fprintf(stderr, "stocktwin-inventory-probe: cannot start a thread\n");
                return 1;
            }
        }
        read_pages(&rd[0]);
        for (long t = 1; t < parallel; t++)
            pthread_join(th[t], NULL);
        ms[k] = now_ms() - t0;
        lines = pages = 0;
        for (long t = 0; t < parallel; t++) {
            if (rd[t].status != 0) {
                fprintf(stderr, "stocktwin-inventory-probe: inventory of %s: %s (%s)\n", wh,
                        st_status_name(rd[t].status), rd[t].error);
                st_client_close(cl);
                free(ms);
                return 1;
            }
            lines += rd[t].lines;
            pages += rd[t].pages;
        }
        if (lines != rd[0].total) {
            fprintf(stderr, "stocktwin-inventory-probe: read %" PRIu64 " lines of %u\n", lines,
                    rd[0].total);
            return 1;
        }
    }
    qsort(ms, (size_t)count, sizeof *ms, cmp_double);
    printf("inventory of %s (%s, %ld in parallel): %" PRIu64 " lines in %" PRIu64
           " pages of %ld; %ld reads: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           wh,
           all    ? "all"
           : each ? "each"
                  : "messages",
           parallel, lines, pages, page, count, ms[count / 2], ms[count * 9 / 10],
           ms[count * 99 / 100 < count ? count * 99 / 100 : count - 1], ms[count - 1]);
    free(ms);
    st_client_close(cl);
    return 0;
}
