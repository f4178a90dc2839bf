/*
 * json.c: bounded parsing and typed getters for untrusted JSON. See json.h.
 */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

int json_fail(struct json_err *e, const char *param, const char *fmt, ...)
{
    if (!e)
        return -1;
    snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

long json_depth_exceeded(const char *text, size_t len, int max_depth)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++; /* the escaped byte cannot end the string */
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return (long)i;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return -1;
}

/* First non-finite number in the tree (depth already bounded), or NULL. */
static const cJSON *json_find_nonfinite(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return isfinite(v->valuedouble) ? NULL : v;
    for (const cJSON *c = v->child; c; c = c->next) {
        const cJSON *bad = json_find_nonfinite(c);
        if (bad)
            return bad;
    }
    return NULL;
}

cJSON *json_parse(const char *text, size_t len, int max_depth, struct json_err *e)
{
    long deep = json_depth_exceeded(text, len, max_depth);
    if (deep >= 0) {
        json_fail(e, NULL, "the JSON body nests deeper than %d levels (at offset %ld)",
                  max_depth, deep);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        json_fail(e, NULL, "the body is not valid JSON (error at offset %zu of %zu)", off, len);
        return NULL;
    }
    /* trailing bytes other than whitespace are an error too */
    size_t off = (size_t)(end - text);
    while (off < len && strchr(" \t\r\n", text[off]))
        off++;
    if (off < len && text[off] != '\0') {
        json_fail(e, NULL, "the body has bytes after the JSON value (at offset %zu)", off);
        cJSON_Delete(root);
        return NULL;
    }
    const cJSON *bad = json_find_nonfinite(root);
    if (bad) {
        json_fail(e, bad->string, "numbers must be finite ('%s' is out of range)",
                  bad->string ? bad->string : "a value");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* The member, or NULL when absent or null. */
static const cJSON *json_member(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

int json_get_bool(const cJSON *obj, const char *key, bool *out, struct json_err *e)
{
    const cJSON *v = json_member(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return json_fail(e, key, "'%s' must be a boolean", key);
    *out = cJSON_IsTrue(v);
    return 1;
}

int json_get_number(const cJSON *obj, const char *key, double lo, double hi, double *out,
                    struct json_err *e)
{
    const cJSON *v = json_member(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return json_fail(e, key, "'%s' must be a number", key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return json_fail(e, key, "'%s' must be between %g and %g, got %g", key, lo, hi,
                         v->valuedouble);
    *out = v->valuedouble;
    return 1;
}

int json_get_int(const cJSON *obj, const char *key, long long lo, long long hi,
                 long long *out, struct json_err *e)
{
    const cJSON *v = json_member(obj, key);
    if (!v)
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(d) || d != floor(d))
        return json_fail(e, key, "'%s' must be an integer", key);
    if (d < (double)lo || d > (double)hi)
        return json_fail(e, key, "'%s' must be between %lld and %lld, got %.0f", key, lo, hi, d);
    *out = (long long)d;
    return 1;
}

int json_get_string(const cJSON *obj, const char *key, size_t max_len, const char **out,
                    struct json_err *e)
{
    const cJSON *v = json_member(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || !v->valuestring)
        return json_fail(e, key, "'%s' must be a string", key);
    size_t n = strlen(v->valuestring);
    if (n > max_len)
        return json_fail(e, key, "'%s' is %zu bytes long; the limit is %zu", key, n, max_len);
    *out = v->valuestring;
    return 1;
}

int json_get_kind(const cJSON *obj, const char *key, int kind, const cJSON **out,
                  struct json_err *e)
{
    const cJSON *v = json_member(obj, key);
    if (!v)
        return 0;
    if ((v->type & 0xFF) != kind)
        return json_fail(e, key, "'%s' must be %s", key,
                         kind == cJSON_Array ? "an array" : "an object");
    *out = v;
    return 1;
}
