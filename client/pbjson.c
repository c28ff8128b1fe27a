// pbjson.c - JSON <-> protobuf-c messages, driven by the generated
// descriptors rather than by hand-written code per message: every event kind
// of stocktwin.proto (and every field added later) is covered by the same
// ~300 lines, and the names are the proto's own snake_case field names.
//
// Mapping (close to proto3's JSON mapping, simplified for people typing it):
//   strings       JSON strings
//   64-bit ints   JSON numbers (integral, |x| <= 2^53) or decimal strings;
//                 written as exact decimal numbers
//   32-bit ints   JSON numbers or decimal strings, range-checked
//   bool          true/false (or "true"/"false")
//   double/float  JSON numbers (or numeric strings)
//   enums         the value's name, case-insensitive, '-' for '_', or the
//                 unique suffix after an '_' ("ok" for STATUS_OK), or a number;
//                 written as the full name
//   messages      JSON objects; repeated fields JSON arrays
// Messages built here are allocated exactly as protobuf-c's unpack would
// (malloc'ed strings, arrays and submessages; unset strings left at the
// descriptor's default), so protobuf_c_message_free_unpacked(m, NULL) frees
// them.
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dial.h"
#include "error.h"
#include "pbjson.h"
#include "stocktwin.h"

// No message of stocktwin.proto has that many fields; the "seen" set of one
// object lives on the stack.
#define ST_PBJSON_FIELDS_MAX 64
// How deep objects nest (Event -> RfidScan -> RfidTag is 3).
#define ST_PBJSON_DEPTH_MAX 16
#define ST_PBJSON_PATH_BYTES 256
#define ST_PBJSON_SAFE_INT 9007199254740992.0 // 2^53

static int st_json_to_message(const cJSON *obj, const ProtobufCMessageDescriptor *d,
                              ProtobufCMessage **out, const char *path, int depth);

static int
st_json_bad(const char *path, const char *what)
{
    return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "%s: %s", path, what);
}

// Parses a whole-number JSON value (number or decimal string) into [lo, hi]
// as int64, or as uint64 when is_unsigned. Strings keep all 64 bits.
static int
st_json_integer(const cJSON *v, const char *path, bool is_unsigned, double lo, double hi,
                int64_t *s_out, uint64_t *u_out)
{
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x != floor(x) || x < lo || x > hi || fabs(x) > ST_PBJSON_SAFE_INT) {
            return st_json_bad(path, "expected a whole number in range (use a decimal string "
                                     "for 64-bit values above 2^53)");
        }
        *s_out = (int64_t)x;
        *u_out = (uint64_t)(x < 0 ? 0 : x);
        return 0;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        return st_json_bad(path, "expected a whole number");
    }
    const char *s = v->valuestring;
    char *end = NULL;
    errno = 0;
    if (is_unsigned) {
        *u_out = s[0] == '-' ? (errno = ERANGE, 0) : strtoull(s, &end, 10);
        *s_out = 0;
    } else {
        *s_out = strtoll(s, &end, 10);
        *u_out = 0;
    }
    if (errno != 0 || end == NULL || *end != '\0' || isspace((unsigned char)s[0])) {
        return st_json_bad(path, "expected a whole number");
    }
    double x = is_unsigned ? (double)*u_out : (double)*s_out;
    if (x < lo || x > hi) {
        return st_json_bad(path, "number out of range");
    }
    return 0;
}

// Case-insensitive, '-' equal to '_'.
static bool
st_enum_name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = *a == '-' ? '_' : (char)toupper((unsigned char)*a);
        char cb = *b == '-' ? '_' : (char)toupper((unsigned char)*b);
        if (ca != cb) {
            return false;
        }
    }
    return *a == *b;
}

static int
st_json_enum(const cJSON *v, const ProtobufCEnumDescriptor *ed, const char *path, int *out)
{
    if (cJSON_IsNumber(v)) {
        int64_t s;
        uint64_t u;
        int status = st_json_integer(v, path, false, INT32_MIN, INT32_MAX, &s, &u);
        *out = (int)s;
        return status;
    }
    if (!cJSON_IsString(v)) {
        return st_json_bad(path, "expected an enum name");
    }
    const char *name = v->valuestring;
    const ProtobufCEnumValue *found = NULL;
    int suffix_matches = 0;
    for (unsigned i = 0; i < ed->n_values; i++) {
        const char *full = ed->values[i].name;
        if (st_enum_name_eq(full, name)) {
            *out = ed->values[i].value;
            return 0;
        }
        size_t fl = strlen(full), nl = strlen(name);
        if (nl > 0 && nl < fl && full[fl - nl - 1] == '_' &&
            st_enum_name_eq(full + fl - nl, name)) {
            found = &ed->values[i];
            suffix_matches++;
        }
    }
    if (suffix_matches == 1) {
        *out = found->value;
        return 0;
    }
    char what[ST_ERROR_BYTES_MAX];
    int n = snprintf(what, sizeof what, "\"%s\" is not a %s (one of:", name, ed->short_name);
    for (unsigned i = 0; i < ed->n_values && n > 0 && (size_t)n < sizeof what; i++) {
        n += snprintf(what + n, sizeof what - (size_t)n, " %s", ed->values[i].name);
    }
    if (n > 0 && (size_t)n < sizeof what) {
        snprintf(what + n, sizeof what - (size_t)n, ")");
    }
    return st_json_bad(path, what);
}

static int
st_json_scalar_number(const cJSON *v, const ProtobufCFieldDescriptor *f, const char *path,
                      void *dst)
{
    int64_t s = 0;
    uint64_t u = 0;
    int status = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        status = st_json_integer(v, path, false, INT32_MIN, INT32_MAX, &s, &u);
        *(int32_t *)dst = (int32_t)s;
        return status;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        status = st_json_integer(v, path, true, 0, UINT32_MAX, &s, &u);
        *(uint32_t *)dst = (uint32_t)u;
        return status;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        status = st_json_integer(v, path, false, -HUGE_VAL, HUGE_VAL, &s, &u);
        *(int64_t *)dst = s;
        return status;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        status = st_json_integer(v, path, true, 0, HUGE_VAL, &s, &u);
        *(uint64_t *)dst = u;
        return status;
    default:
        break;
    }
    double x = 0;
    char *end = NULL;
    if (cJSON_IsNumber(v)) {
        x = v->valuedouble;
    } else if (cJSON_IsString(v) && v->valuestring[0] != '\0' &&
               (x = strtod(v->valuestring, &end), *end == '\0')) {
        // a numeric string, from a command-line flag
    } else {
        return st_json_bad(path, "expected a number");
    }
    if (f->type == PROTOBUF_C_TYPE_FLOAT) {
        *(float *)dst = (float)x;
    } else {
        *(double *)dst = x;
    }
    return 0;
}

// Sets one value of field f at dst (the field itself, or an array element).
static int
st_json_value(const cJSON *v, const ProtobufCFieldDescriptor *f, const char *path, int depth,
              void *dst)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!cJSON_IsString(v)) {
            return st_json_bad(path, "expected a string");
        }
        if ((*(char **)dst = strdup(v->valuestring)) == NULL) {
            return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
        }
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (cJSON_IsBool(v)) {
            *(protobuf_c_boolean *)dst = cJSON_IsTrue(v);
        } else if (cJSON_IsString(v) && (strcasecmp(v->valuestring, "true") == 0 ||
                                         strcasecmp(v->valuestring, "false") == 0)) {
            *(protobuf_c_boolean *)dst = strcasecmp(v->valuestring, "true") == 0;
        } else {
            return st_json_bad(path, "expected true or false");
        }
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return st_json_enum(v, f->descriptor, path, (int *)dst);
    case PROTOBUF_C_TYPE_MESSAGE:
        return st_json_to_message(v, f->descriptor, (ProtobufCMessage **)dst, path, depth + 1);
    case PROTOBUF_C_TYPE_BYTES:
        return st_json_bad(path, "bytes fields are not supported");
    default:
        return st_json_scalar_number(v, f, path, dst);
    }
}

static size_t
st_field_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 8;
    }
}

// A repeated field from a JSON array. The array and its count are stored
// before the elements are parsed, so a failure halfway frees what was made.
static int
st_json_repeated(const cJSON *v, const ProtobufCFieldDescriptor *f, const char *path, int depth,
                 ProtobufCMessage *m)
{
    if (!cJSON_IsArray(v)) {
        return st_json_bad(path, "expected an array");
    }
    size_t n = (size_t)cJSON_GetArraySize(v);
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    void **arr = (void **)((char *)m + f->offset);
    if (n == 0) {
        return 0;
    }
    size_t elem = st_field_size(f);
    if ((*arr = calloc(n, elem)) == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    }
    size_t i = 0;
    for (const cJSON *item = v->child; item != NULL; item = item->next, i++) {
        char sub[ST_PBJSON_PATH_BYTES];
        snprintf(sub, sizeof sub, "%.200s[%zu]", path, i);
        int status = st_json_value(item, f, sub, depth, (char *)*arr + i * elem);
        // Count only what was set: free_unpacked frees exactly `count` items.
        if (status != 0) {
            return status;
        }
        *count = i + 1;
    }
    return 0;
}

// Marks a oneof member as the chosen one; two members of one oneof is an error.
static int
st_json_oneof(const ProtobufCFieldDescriptor *f, const char *path, ProtobufCMessage *m)
{
    uint32_t *which = (uint32_t *)((char *)m + f->quantifier_offset);
    if (*which != 0 && *which != f->id) {
        return st_json_bad(path, "only one of the fields of this oneof may be given "
                                 "(e.g. one event kind per event)");
    }
    *which = f->id;
    return 0;
}

static int
st_json_field(const cJSON *item, const ProtobufCMessageDescriptor *d, const char *path, int depth,
              bool *seen, ProtobufCMessage *m)
{
    char sub[ST_PBJSON_PATH_BYTES];
    snprintf(sub, sizeof sub, "%.160s%s%.64s", path, path[0] ? "." : "", item->string);
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(d, item->string);
    if (f == NULL) {
        char what[ST_ERROR_BYTES_MAX];
        int n = snprintf(what, sizeof what, "unknown field of %s (fields:", d->short_name);
        for (unsigned i = 0; i < d->n_fields && n > 0 && (size_t)n < sizeof what; i++) {
            n += snprintf(what + n, sizeof what - (size_t)n, " %s", d->fields[i].name);
        }
        if (n > 0 && (size_t)n < sizeof what) {
            snprintf(what + n, sizeof what - (size_t)n, ")");
        }
        return st_json_bad(sub, what);
    }
    size_t index = (size_t)(f - d->fields);
    if (seen[index]) {
        return st_json_bad(sub, "field given twice");
    }
    seen[index] = true;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        return st_json_repeated(item, f, sub, depth, m);
    }
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
        int status = st_json_oneof(f, sub, m);
        if (status != 0) {
            return status;
        }
    }
    return st_json_value(item, f, sub, depth, (char *)m + f->offset);
}

static int
st_json_to_message(const cJSON *obj, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                   const char *path, int depth)
{
    *out = NULL;
    if (!cJSON_IsObject(obj)) {
        return st_json_bad(path[0] ? path : "(top)", "expected a JSON object");
    }
    if (depth > ST_PBJSON_DEPTH_MAX) {
        return st_json_bad(path, "nested too deeply");
    }
    ST_CLIENT_ASSERT(d->n_fields <= ST_PBJSON_FIELDS_MAX);
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (m == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    }
    d->message_init(m);
    bool seen[ST_PBJSON_FIELDS_MAX] = {false};
    for (const cJSON *item = obj->child; item != NULL; item = item->next) {
        int status = st_json_field(item, d, path, depth, seen, m);
        if (status != 0) {
            protobuf_c_message_free_unpacked(m, NULL);
            return status;
        }
    }
    *out = m;
    return 0;
}

int
st_pbjson_to_message(const cJSON *json, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
    return st_json_to_message(json, d, out, "", 0);
}

int
st_event_from_json(const char *json, Stocktwin__Event **out)
{
    ST_CLIENT_ASSERT(out != NULL);
    st_error_clear();
    *out = NULL;
    const char *end = NULL;
    cJSON *root = json ? cJSON_ParseWithOpts(json, &end, true) : NULL;
    if (root == NULL) {
        size_t at = (json && end) ? (size_t)(end - json) : 0;
        return st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                            "not valid JSON (error at byte %zu)", at);
    }
    ProtobufCMessage *m = NULL;
    int status = st_json_to_message(root, &stocktwin__event__descriptor, &m, "", 0);
    cJSON_Delete(root);
    *out = (Stocktwin__Event *)m;
    return status;
}

void
st_event_free(Stocktwin__Event *event)
{
    if (event != NULL) {
        stocktwin__event__free_unpacked(event, NULL);
    }
}

// ---------------------------------------------------------------------------
// Messages to JSON

static cJSON *st_json_from_message(const ProtobufCMessage *m);

static cJSON *
st_json_from_value(const ProtobufCFieldDescriptor *f, const void *src)
{
    char num[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return cJSON_CreateNumber(*(const int32_t *)src);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return cJSON_CreateNumber(*(const uint32_t *)src);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        // Raw decimal text: exact beyond 2^53, where a double is not.
        snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)src);
        return cJSON_CreateRaw(num);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof num, "%" PRIu64, *(const uint64_t *)src);
        return cJSON_CreateRaw(num);
    case PROTOBUF_C_TYPE_FLOAT:
        return cJSON_CreateNumber(*(const float *)src);
    case PROTOBUF_C_TYPE_DOUBLE:
        return cJSON_CreateNumber(*(const double *)src);
    case PROTOBUF_C_TYPE_BOOL:
        return cJSON_CreateBool(*(const protobuf_c_boolean *)src);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)src;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? cJSON_CreateString(ev->name) : cJSON_CreateNumber(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)src;
        return cJSON_CreateString(s ? s : "");
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)src;
        return sub ? st_json_from_message(sub) : cJSON_CreateNull();
    }
    default:
        return cJSON_CreateNull(); // bytes: none in stocktwin.proto
    }
}

static cJSON *
st_json_from_message(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    cJSON *obj = cJSON_CreateObject();
    for (unsigned i = 0; obj != NULL && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id) {
            continue;
        }
        cJSON *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            v = cJSON_CreateArray();
            for (size_t k = 0; v != NULL && k < n; k++) {
                cJSON_AddItemToArray(v, st_json_from_value(f, arr + k * st_field_size(f)));
            }
        } else {
            v = st_json_from_value(f, base + f->offset);
        }
        if (v == NULL) {
            cJSON_Delete(obj);
            return NULL;
        }
        cJSON_AddItemToObject(obj, f->name, v);
    }
    return obj;
}

cJSON *
st_pbjson_from_message(const ProtobufCMessage *msg)
{
    return st_json_from_message(msg);
}

char *
st_message_to_json(const ProtobufCMessage *msg, bool pretty)
{
    ST_CLIENT_ASSERT(msg != NULL);
    cJSON *obj = st_json_from_message(msg);
    if (obj == NULL) {
        return NULL;
    }
    char *text = pretty ? cJSON_Print(obj) : cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    return text;
}
