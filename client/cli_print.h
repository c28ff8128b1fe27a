// cli_print.h - how the CLI shows replies: readable tables, or one JSON
// object per result with --json. Everything goes to stdout.
// Thread: the CLI's one thread.
#ifndef ST_CLI_PRINT_H
#define ST_CLI_PRINT_H

#include <stdbool.h>

#include "stocktwin.h"

// cli_print_json - one line holding `msg` as JSON (pbjson mapping), with
// `topic` added as a "topic" key when not NULL.
void cli_print_json(const ProtobufCMessage *msg, const char *topic);

// Tables of each query result (resp->result_case must match).
void cli_print_inventory(const Stocktwin__Response *resp);
void cli_print_sku(const Stocktwin__Response *resp);

// `inventory --all`: lines printed as st_client_inventory_each decodes them,
// a fixed-width table (after cli_print_inventory_header) or, with `json`,
// one JSON object a line in the same mapping as --json inventory's lines.
void cli_print_inventory_header(void);
bool cli_print_inventory_line(void *json, const st_inventory_line *line); // json: bool *
void cli_print_twin(const Stocktwin__Response *resp);
void cli_print_alerts(const Stocktwin__Response *resp);
void cli_print_devices(const Stocktwin__Response *resp);
void cli_print_stats(const Stocktwin__Response *resp);
void cli_print_digest(const Stocktwin__Response *resp);

// cli_print_digest_json - a digest reply as one JSON line (pbjson mapping),
// each 64-bit digest with a "<name>_hex" copy of 16 hex digits beside it.
void cli_print_digest_json(const Stocktwin__Response *resp);

// cli_print_alert_line - one alert on one line (alerts --follow).
void cli_print_alert_line(const Stocktwin__Alert *a);

// cli_format_time - ms since the epoch as "2026-11-22T08:45:37.123Z" (or "-"
// for 0) into buf.
void cli_format_time(int64_t ms, char *buf, size_t len);

#endif // ST_CLI_PRINT_H
