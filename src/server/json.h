/*
 * json.h: reading untrusted JSON (request bodies) with cJSON.
 *
 * cJSON parses recursively and turns 1e999 into infinity, so json_parse
 * first bounds the nesting depth with a flat scan, then parses, then
 * refuses any number that is not finite (NaN and Infinity literals are
 * not JSON and fail the parse itself). The getters read one member of
 * an object with its type and range checked, and on failure fill a
 * struct json_err whose param names the member, ready for an OpenAI
 * error ({"param": "temperature"}).
 *
 * Getters return 1 when the member is present with a valid value (out
 * set), 0 when it is absent or null (out untouched), -1 with e set when
 * it is present but wrong. Strings returned are views into the cJSON
 * tree, valid until it is deleted.
 */
#ifndef SMOL_JSON_H
#define SMOL_JSON_H

#include "base.h"

#include <cjson/cJSON.h>

struct json_err {
    char param[96];   /* the member at fault, "" for the whole body */
    char msg[512];    /* one sentence */
};

/* Sets e (param may be NULL); returns -1. */
int json_fail(struct json_err *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses text[0..len) as one JSON value nested at most max_depth deep.
 * NULL with e set on a syntax error (naming the byte offset), too deep a
 * nesting, or a number that is not finite. Caller cJSON_Deletes. */
cJSON *json_parse(const char *text, size_t len, int max_depth, struct json_err *e);

/* Offset of the first '[' or '{' nested deeper than max_depth, or -1. */
long json_depth_exceeded(const char *text, size_t len, int max_depth);

int json_get_bool(const cJSON *obj, const char *key, bool *out, struct json_err *e);
int json_get_number(const cJSON *obj, const char *key, double lo, double hi, double *out,
                    struct json_err *e);
/* An integral number in [lo, hi] (exact below 2^53). */
int json_get_int(const cJSON *obj, const char *key, long long lo, long long hi,
                 long long *out, struct json_err *e);
/* A string of at most max_len bytes. */
int json_get_string(const cJSON *obj, const char *key, size_t max_len, const char **out,
                    struct json_err *e);
/* An object or an array (kind cJSON_Object or cJSON_Array). */
int json_get_kind(const cJSON *obj, const char *key, int kind, const cJSON **out,
                  struct json_err *e);

#endif
