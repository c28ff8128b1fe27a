// inventory.c - see inventory.h. protobuf's wire format, the part used here:
// a message is a sequence of fields, each a varint key (field number << 3 |
// wire type) and a value: type 0 a varint (at most 10 bytes), 1 eight bytes,
// 2 a varint length and that many bytes (strings and submessages), 5 four
// bytes. Types 3 and 4 (groups) do not occur in proto3 and are refused, like
// 6 and 7 and field number 0. Fields this file does not know are skipped, as
// protobuf-c would; a known field with the wrong wire type is refused.
#include "inventory.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dial.h"
#include "pb_wire.h"
#include "error.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct wire {
    const uint8_t *start, *p, *end;
} wire;

typedef struct field {
    uint32_t number;
    unsigned type;
    uint64_t v;           // WT_VARINT
    const uint8_t *bytes; // WT_LEN
    size_t len;
} field;

static int
malformed(const wire *w, const char *what)
{
    return st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                        "the inventory reply is malformed: %s at byte %zu of %zu", what,
                        (size_t)(w->p - w->start), (size_t)(w->end - w->start));
}

static inline bool
get_varint(wire *w, uint64_t *out)
{
    return st_pb_varint(&w->p, w->end, out);
}

// get_field_slow reads the next field, any form; false (sentence set,
// *status) when the bytes are not one.
static bool
get_field_slow(wire *w, field *f, int *status)
{
    uint64_t key;
    if (!get_varint(w, &key)) {
        *status = malformed(w, "a field key runs past the end");
        return false;
    }
    f->number = (uint32_t)(key >> 3);
    f->type = (unsigned)(key & 7);
    if (f->number == 0 || key >> 3 > 0x1fffffff) {
        *status = malformed(w, "a field number out of range");
        return false;
    }
    size_t left;
    switch (f->type) {
    case WT_VARINT:
        if (!get_varint(w, &f->v)) {
            *status = malformed(w, "a varint runs past the end");
            return false;
        }
        return true;
    case WT_I64:
    case WT_I32:
        left = (size_t)(w->end - w->p);
        if (left < (f->type == WT_I64 ? 8u : 4u)) {
            *status = malformed(w, "a fixed-size value runs past the end");
            return false;
        }
        w->p += f->type == WT_I64 ? 8 : 4;
        return true;
    case WT_LEN:
        if (!get_varint(w, &f->v) || f->v > (uint64_t)(w->end - w->p)) {
            *status = malformed(w, "a length runs past the end");
            return false;
        }
        f->bytes = w->p;
        f->len = (size_t)f->v;
        w->p += f->len;
        return true;
    default:
        *status = malformed(w, "a wire type protobuf does not have");
        return false;
    }
}

// get_field reads the next field. Nearly every field here is a one-byte key
// with a one-byte varint or length: those are read without the general
// path, with the same checks.
static inline bool
get_field(wire *w, field *f, int *status)
{
    const uint8_t *p = w->p;
    if (w->end - p >= 2 && p[0] < 0x80 && p[0] >= 8 && p[1] < 0x80) {
        f->number = p[0] >> 3;
        f->type = p[0] & 7;
        if (f->type == WT_VARINT) {
            f->v = p[1];
            w->p = p + 2;
            return true;
        }
        if (f->type == WT_LEN && (size_t)(w->end - p - 2) >= p[1]) {
            f->v = f->len = p[1];
            f->bytes = p + 2;
            w->p = p + 2 + f->len;
            return true;
        }
    }
    return get_field_slow(w, f, status);
}

static bool
want_type(const wire *w, const field *f, unsigned type, int *status)
{
    if (f->type == type)
        return true;
    *status = malformed(w, "a field with the wrong wire type");
    return false;
}

int
st_inventory_split(const uint8_t *body, size_t len, uint8_t **rest, size_t *rest_len,
                   const uint8_t **inv, size_t *inv_len)
{
    *rest = malloc(len ? len : 1);
    *rest_len = 0;
    *inv = NULL;
    *inv_len = 0;
    if (*rest == NULL)
        return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    wire w = {.start = body, .p = body, .end = body + len};
    int status = 0;
    while (w.p < w.end) {
        const uint8_t *at = w.p;
        field f;
        if (!get_field(&w, &f, &status))
            break;
        if (f.number == STOCKTWIN__RESPONSE__RESULT_INVENTORY) {
            if (!want_type(&w, &f, WT_LEN, &status))
                break;
            if (*inv != NULL) {
                status = malformed(&w, "a second inventory field");
                break;
            }
            *inv = f.bytes;
            *inv_len = f.len;
            continue;
        }
        memcpy(*rest + *rest_len, at, (size_t)(w.p - at));
        *rest_len += (size_t)(w.p - at);
    }
    if (status != 0) {
        free(*rest);
        *rest = NULL;
        *inv = NULL;
    }
    return status;
}

// The per-call scratch: each line's strings, NUL-terminated, and its
// locations. A line of n bytes needs at most 2n + 2 bytes of strings (every
// string at least 2 bytes of field, plus its NUL) and n / 2 locations.
typedef struct scratch {
    char *text;
    size_t text_cap, text_used;
    st_inventory_location *locs;
    size_t locs_cap;
} scratch;

static const char *
keep(scratch *s, const field *f)
{
    char *t = s->text + s->text_used;
    memcpy(t, f->bytes, f->len);
    t[f->len] = '\0';
    s->text_used += f->len + 1;
    return t;
}

// keep_string: fields 1 and 2 of a line (sku, name) and of a location
// (zone, shelf) are strings; *first or *second gets the kept copy. false
// (*status set) on a wrong wire type.
static bool
keep_string(scratch *s, const wire *w, const field *f, const char **first, const char **second,
            int *status)
{
    if (!want_type(w, f, WT_LEN, status))
        return false;
    *(f->number == 1 ? first : second) = keep(s, f);
    return true;
}

static int
decode_location(scratch *s, const field *outer, st_inventory_location *l)
{
    wire w = {.start = outer->bytes, .p = outer->bytes, .end = outer->bytes + outer->len};
    *l = (st_inventory_location){.zone = "", .shelf = ""};
    int status = 0;
    while (w.p < w.end) {
        field f;
        if (!get_field(&w, &f, &status))
            return status;
        switch (f.number) {
        case 1:
        case 2:
            if (!keep_string(s, &w, &f, &l->zone, &l->shelf, &status))
                return status;
            break;
        case 3:
            if (!want_type(&w, &f, WT_VARINT, &status))
                return status;
            l->qty = (int64_t)f.v;
            break;
        default: // a newer server's field
            break;
        }
    }
    return 0;
}

static int
decode_line(scratch *s, const field *outer, st_inventory_line *line)
{
    size_t text_need = 2 * outer->len + 2;
    if (s->text_cap < text_need) {
        free(s->text);
        s->text_cap = text_need > 4096 ? text_need : 4096;
        s->text = malloc(s->text_cap);
        if (s->text == NULL)
            return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    }
    s->text_used = 0;
    *line = (st_inventory_line){.sku = "", .name = ""};
    wire w = {.start = outer->bytes, .p = outer->bytes, .end = outer->bytes + outer->len};
    int status = 0;
    size_t n_locs = 0;
    // Fields 3..8: the line's numbers, in field order.
    int64_t *const numbers[] = {&line->on_hand, &line->reserved,       &line->available,
                                &line->inbound, &line->in_transit_out, &line->reorder_point};
    while (w.p < w.end) {
        field f;
        if (!get_field(&w, &f, &status))
            return status;
        if (f.number >= 3 && f.number <= 9 && !want_type(&w, &f, WT_VARINT, &status))
            return status;
        if (f.number >= 3 && f.number <= 8) {
            *numbers[f.number - 3] = (int64_t)f.v;
            continue;
        }
        switch (f.number) {
        case 1:
        case 2:
            if (!keep_string(s, &w, &f, &line->sku, &line->name, &status))
                return status;
            break;
        case 9:
            line->below_reorder = f.v != 0;
            break;
        case 10:
            if (!want_type(&w, &f, WT_LEN, &status))
                return status;
            if (n_locs == s->locs_cap) {
                size_t cap = s->locs_cap ? 2 * s->locs_cap : 16;
                st_inventory_location *locs = realloc(s->locs, cap * sizeof *locs);
                if (locs == NULL)
                    return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
                s->locs = locs;
                s->locs_cap = cap;
            }
            status = decode_location(s, &f, &s->locs[n_locs]);
            if (status != 0)
                return status;
            n_locs++;
            break;
        default:
            break;
        }
    }
    ST_CLIENT_ASSERT(s->text_used <= s->text_cap);
    line->locations = n_locs ? s->locs : NULL;
    line->n_locations = n_locs;
    return 0;
}

int
st_inventory_walk(const uint8_t *p, size_t len, st_inventory_line_cb cb, void *arg,
                  uint32_t *total_out, uint32_t *lines_out)
{
    wire w = {.start = p, .p = p, .end = p + len};
    scratch s = {0};
    int status = 0;
    uint32_t lines = 0, total = 0;
    bool going = true;
    while (status == 0 && w.p < w.end) {
        field f;
        if (!get_field(&w, &f, &status))
            break;
        switch (f.number) {
        case 2:
            if (!want_type(&w, &f, WT_VARINT, &status))
                break;
            if (f.v > UINT32_MAX) {
                status = malformed(&w, "total_skus over 32 bits");
                break;
            }
            total = (uint32_t)f.v;
            break;
        case 3: {
            if (!want_type(&w, &f, WT_LEN, &status) || !going)
                break;
            st_inventory_line line;
            status = decode_line(&s, &f, &line);
            if (status == 0) {
                lines++;
                going = cb(arg, &line);
            }
            break;
        }
        default: // 1 (the warehouse, which the caller named) and newer fields
            break;
        }
    }
    free(s.text);
    free(s.locs);
    *total_out = total;
    *lines_out = lines;
    return status;
}
