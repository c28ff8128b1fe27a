// inventory_probe.c - stocktwin-inventory-probe: how long one warehouse's
// whole inventory takes to read (issue 5: "the warehouse inventory query over
// 100,000 SKUs answered in <= 20 ms while ingest runs"). It asks for the
// inventory of one warehouse, page after page of --page lines, COUNT times in
// a row, and prints per whole read: lines, pages, p50 / p90 / p99 / max
// milliseconds (client side: request, server, reply decode). Run it beside
// stocktwin-load to measure under ingest. Links libstocktwin only.
//
//   stocktwin-inventory-probe --url tcp://127.0.0.1:7400 --warehouse wh-00 --count 50
#include <getopt.h>
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
            "                   4 MiB, about 40,000 lines\n");
}

int
main(int argc, char **argv)
{
    const char *url = "tcp://127.0.0.1:7400", *wh = "wh-00";
    long count = 50, page = 25000;
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},   {"warehouse", required_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'n'}, {"page", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'w': wh = optarg; break;
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'p': page = strtol(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (count < 1 || count > 100000 || page < 1 || page > 100000) {
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
    uint64_t lines = 0, pages = 0;
    for (long k = 0; k < count; k++) {
        double t0 = now_ms();
        uint32_t offset = 0, total = 1;
        lines = pages = 0;
        while (offset < total) {
            Stocktwin__Response *r = NULL;
            int st = st_client_inventory(cl, wh, false, offset, (uint32_t)page, &r);
            if (st != 0) {
                fprintf(stderr, "stocktwin-inventory-probe: inventory of %s at %u: %s (%s)\n", wh,
                        offset, st_status_name(st), r && r->message ? r->message : "");
                st_client_response_free(r);
                st_client_close(cl);
                free(ms);
                return 1;
            }
            total = r->inventory->total_skus;
            offset += (uint32_t)r->inventory->n_lines;
            lines += r->inventory->n_lines;
            pages++;
            bool empty = r->inventory->n_lines == 0;
            st_client_response_free(r);
            if (empty)
                break;
        }
        ms[k] = now_ms() - t0;
    }
    qsort(ms, (size_t)count, sizeof *ms, cmp_double);
    printf("inventory of %s: %" PRIu64 " lines in %" PRIu64 " pages of %ld; %ld reads: p50 %.2f ms, "
           "p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           wh, lines, pages, page, count, ms[count / 2], ms[count * 9 / 10],
           ms[count * 99 / 100 < count ? count * 99 / 100 : count - 1], ms[count - 1]);
    free(ms);
    st_client_close(cl);
    return 0;
}
