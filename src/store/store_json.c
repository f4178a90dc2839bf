/*
 * store_json.c: the JSON side of the store: settings and stats columns,
 * tool-call checks, and a chat's export and (untrusted) import.
 *
 * Two kinds of reading live here. What the store itself wrote (settings
 * and stats columns) is read leniently, field by field, so that one
 * damaged row degrades to defaults instead of hiding a chat. An import is
 * somebody else's file and is read strictly: every key known, every type
 * and range checked, all of it or nothing.
 */
#include "store_int.h"
#include "buf.h"
#include "mem.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* Largest integer we accept for counts and times (2^53: exact in a
 * double, which is what JSON numbers are). */
#define ST_INT_MAX 9007199254740992.0
/* Times are Unix milliseconds up to the year 9999. */
#define ST_TIME_MAX 253402300799999.0

/* ================================================================== */
/* Settings                                                            */
/* ================================================================== */

void store_settings_init(struct store_settings *s)
{
    s->thinking = true;
    s->temperature = 0.6;
    s->top_p = 0.95;
    s->max_tokens = 0;
    s->system_prompt = NULL;
}

void store_settings_release(struct store_settings *s)
{
    if (!s)
        return;
    free(s->system_prompt);
    store_settings_init(s);
}

int st_settings_check(const struct store_settings *s, struct smol_err *err)
{
    if (!isfinite(s->temperature) || s->temperature < 0 || s->temperature > 2)
        return err_set(err, SMOL_EINVAL, "store: temperature %g is outside 0..2", s->temperature);
    if (!isfinite(s->top_p) || s->top_p < 0 || s->top_p > 1)
        return err_set(err, SMOL_EINVAL, "store: top_p %g is outside 0..1", s->top_p);
    if (s->max_tokens < 0 || s->max_tokens > 1000000)
        return err_set(err, SMOL_EINVAL, "store: max_tokens %d is outside 0..1000000",
                       s->max_tokens);
    return st_check_text(s->system_prompt, STORE_TEXT_MAX, "the system prompt", err);
}

/* Adds the settings' keys to obj; false when out of memory. */
static bool st_settings_add(cJSON *obj, const struct store_settings *s)
{
    return cJSON_AddBoolToObject(obj, "thinking", s->thinking) &&
           cJSON_AddNumberToObject(obj, "temperature", s->temperature) &&
           cJSON_AddNumberToObject(obj, "top_p", s->top_p) &&
           cJSON_AddNumberToObject(obj, "max_tokens", s->max_tokens) &&
           (!s->system_prompt || cJSON_AddStringToObject(obj, "system_prompt", s->system_prompt));
}

char *st_settings_to_json(const struct store_settings *s)
{
    cJSON *obj = cJSON_CreateObject();
    char *out = obj && st_settings_add(obj, s) ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    return out;
}

/* A number item within [lo, hi], or NULL. */
static const cJSON *st_num_in(const cJSON *it, double lo, double hi)
{
    return cJSON_IsNumber(it) && isfinite(it->valuedouble) && it->valuedouble >= lo &&
                   it->valuedouble <= hi
               ? it
               : NULL;
}

int st_settings_from_json(const char *json, struct store_settings *s)
{
    store_settings_init(s);
    cJSON *obj = json ? cJSON_Parse(json) : NULL;
    if (!obj)
        return 0; /* damaged or absent: the defaults */
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "thinking");
    if (cJSON_IsBool(it))
        s->thinking = cJSON_IsTrue(it);
    if ((it = st_num_in(cJSON_GetObjectItemCaseSensitive(obj, "temperature"), 0, 2)))
        s->temperature = it->valuedouble;
    if ((it = st_num_in(cJSON_GetObjectItemCaseSensitive(obj, "top_p"), 0, 1)))
        s->top_p = it->valuedouble;
    if ((it = st_num_in(cJSON_GetObjectItemCaseSensitive(obj, "max_tokens"), 0, 1000000)))
        s->max_tokens = (int)it->valuedouble;
    it = cJSON_GetObjectItemCaseSensitive(obj, "system_prompt");
    int rc = 0;
    if (cJSON_IsString(it) && !(s->system_prompt = mem_strndup(it->valuestring,
                                                               strlen(it->valuestring))))
        rc = SMOL_ENOMEM;
    cJSON_Delete(obj);
    return rc;
}

/* ================================================================== */
/* Stats and tool calls                                                */
/* ================================================================== */

/* stop_reason: short, lower-case ASCII words ("stop", "max_tokens"). */
static bool st_stop_reason_ok(const char *r)
{
    size_t n = strnlen(r, sizeof(((struct store_stats *)0)->stop_reason));
    if (n >= sizeof(((struct store_stats *)0)->stop_reason))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '_' ||
              r[i] == '-'))
            return false;
    return true;
}

int st_stats_check(const struct store_stats *s, struct smol_err *err)
{
    const double v[] = {(double)s->n_prompt, (double)s->n_cached, (double)s->n_gen,
                        s->prompt_tps, s->gen_tps, s->ttft_ms};
    static const char *const names[] = {"n_prompt", "n_cached", "n_gen",
                                        "prompt_tps", "gen_tps", "ttft_ms"};
    for (size_t i = 0; i < ARRAY_SIZE(v); i++)
        if (!isfinite(v[i]) || v[i] < 0 || v[i] > ST_INT_MAX)
            return err_set(err, SMOL_EINVAL, "store: stats %s = %g is not a count or rate",
                           names[i], v[i]);
    if (!st_stop_reason_ok(s->stop_reason))
        return err_set(err, SMOL_EINVAL,
                       "store: stop_reason must be up to 31 characters of a-z, 0-9, _ and -");
    return 0;
}

/* Adds the stats' keys to obj; false when out of memory. */
static bool st_stats_add(cJSON *obj, const struct store_stats *s)
{
    return cJSON_AddNumberToObject(obj, "n_prompt", (double)s->n_prompt) &&
           cJSON_AddNumberToObject(obj, "n_cached", (double)s->n_cached) &&
           cJSON_AddNumberToObject(obj, "n_gen", (double)s->n_gen) &&
           cJSON_AddNumberToObject(obj, "prompt_tps", s->prompt_tps) &&
           cJSON_AddNumberToObject(obj, "gen_tps", s->gen_tps) &&
           cJSON_AddNumberToObject(obj, "ttft_ms", s->ttft_ms) &&
           cJSON_AddStringToObject(obj, "stop_reason", s->stop_reason);
}

static bool st_stats_empty(const struct store_stats *s)
{
    return !s->n_prompt && !s->n_cached && !s->n_gen && s->prompt_tps == 0 && s->gen_tps == 0 &&
           s->ttft_ms == 0 && !s->stop_reason[0];
}

int st_stats_to_json(const struct store_stats *s, char **out)
{
    *out = NULL;
    if (st_stats_empty(s))
        return 0;
    cJSON *obj = cJSON_CreateObject();
    *out = obj && st_stats_add(obj, s) ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    return *out ? 0 : SMOL_ENOMEM;
}

void st_stats_from_json(const char *json, struct store_stats *s)
{
    memset(s, 0, sizeof(*s));
    cJSON *obj = json ? cJSON_Parse(json) : NULL;
    if (!obj)
        return;
    int64_t *ints[] = {&s->n_prompt, &s->n_cached, &s->n_gen};
    static const char *const int_names[] = {"n_prompt", "n_cached", "n_gen"};
    for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
        const cJSON *it = st_num_in(cJSON_GetObjectItemCaseSensitive(obj, int_names[i]), 0,
                                    ST_INT_MAX);
        if (it)
            *ints[i] = (int64_t)it->valuedouble;
    }
    double *dbls[] = {&s->prompt_tps, &s->gen_tps, &s->ttft_ms};
    static const char *const dbl_names[] = {"prompt_tps", "gen_tps", "ttft_ms"};
    for (size_t i = 0; i < ARRAY_SIZE(dbls); i++) {
        const cJSON *it = st_num_in(cJSON_GetObjectItemCaseSensitive(obj, dbl_names[i]), 0,
                                    ST_INT_MAX);
        if (it)
            *dbls[i] = it->valuedouble;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(obj, "stop_reason");
    if (cJSON_IsString(r) && st_stop_reason_ok(r->valuestring))
        snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", r->valuestring);
    cJSON_Delete(obj);
}

/* True when it is an array whose elements are all objects. */
static bool st_is_object_array(const cJSON *it)
{
    if (!cJSON_IsArray(it))
        return false;
    for (const cJSON *c = it->child; c; c = c->next)
        if (!cJSON_IsObject(c))
            return false;
    return true;
}

int st_tool_calls_check(const char *json, struct smol_err *err)
{
    if (!json)
        return 0;
    int rc = st_check_text(json, STORE_JSON_MAX, "tool_calls", err);
    if (rc)
        return rc;
    cJSON *v = cJSON_Parse(json);
    bool ok = st_is_object_array(v);
    cJSON_Delete(v);
    return ok ? 0
              : err_set(err, SMOL_EINVAL, "store: tool_calls is not a JSON array of objects");
}

/* ================================================================== */
/* Export                                                              */
/* ================================================================== */

/* Adds key: s when s is not NULL; false when out of memory. */
static bool st_add_opt_string(cJSON *obj, const char *key, const char *s)
{
    return !s || cJSON_AddStringToObject(obj, key, s);
}

/* The export of one message; NULL when out of memory. */
static cJSON *st_export_message(const struct store_message *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "role", store_role_name(m->role)) &&
              cJSON_AddStringToObject(o, "status", store_status_name(m->status)) &&
              cJSON_AddStringToObject(o, "content", m->content ? m->content : "") &&
              st_add_opt_string(o, "reasoning", m->reasoning) &&
              st_add_opt_string(o, "tool_call_id", m->tool_call_id) &&
              cJSON_AddNumberToObject(o, "created_ms", (double)m->created_ms);
    if (ok && m->tool_calls) {
        /* Stored text was checked on the way in; a row edited by hand
         * that no longer parses is left out rather than failing. */
        cJSON *calls = cJSON_Parse(m->tool_calls);
        if (calls)
            cJSON_AddItemToObject(o, "tool_calls", calls);
    }
    if (ok && !st_stats_empty(&m->stats)) {
        cJSON *stats = cJSON_AddObjectToObject(o, "stats");
        ok = stats && st_stats_add(stats, &m->stats);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The whole export document; NULL when out of memory. */
static cJSON *st_export_doc(const struct store_session *ses, const struct store_message *msgs,
                            size_t n)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *settings = doc ? cJSON_AddObjectToObject(doc, "settings") : NULL;
    bool ok = settings && st_settings_add(settings, &ses->settings) &&
              cJSON_AddStringToObject(doc, "format", "smolbot-chat") &&
              cJSON_AddNumberToObject(doc, "version", 1) &&
              cJSON_AddStringToObject(doc, "title", ses->title ? ses->title : "") &&
              cJSON_AddNumberToObject(doc, "created_ms", (double)ses->created_ms) &&
              cJSON_AddNumberToObject(doc, "updated_ms", (double)ses->updated_ms);
    cJSON *arr = ok ? cJSON_AddArrayToObject(doc, "messages") : NULL;
    ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *m = st_export_message(&msgs[i]);
        ok = m && cJSON_AddItemToArray(arr, m);
    }
    if (!ok) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

int store_session_export(struct store *st, int64_t id, char **json, size_t *len,
                         struct smol_err *err)
{
    struct store_session ses = {0};
    struct store_message *msgs = NULL;
    size_t n = 0;
    *json = NULL;
    *len = 0;
    /* One read transaction: the session and its messages as of one
     * moment, even with another process writing. */
    st_lock(st);
    int rc = sqlite3_step(st_stmt(st, ST_BEGIN_READ)) == SQLITE_DONE
                 ? 0
                 : st_fail(st, err, "cannot start reading");
    if (!rc)
        rc = st_session_get(st, id, &ses, err);
    if (!rc)
        rc = st_message_list(st, id, &msgs, &n, err);
    st_unlock(st); /* ends the read transaction */
    if (rc)
        goto out;

    cJSON *doc = st_export_doc(&ses, msgs, n);
    char *text = doc ? cJSON_Print(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        rc = err_set(err, SMOL_ENOMEM, "store: out of memory exporting session %lld",
                     (long long)id);
        goto out;
    }
    *json = text;
    *len = strlen(text);
out:
    store_session_release(&ses);
    store_messages_free(msgs, n);
    return rc;
}

/* ================================================================== */
/* Import                                                              */
/* ================================================================== */

/*
 * Objects are checked against a table of known keys: an unknown key, a
 * duplicate key (cJSON would silently keep the first) or a missing
 * required key is an error naming the path ("messages[3].role").
 */
struct st_key {
    const char *name;
    bool required;
};

#define ST_MAX_KEYS 12

/* Finds each known key of obj into slot[] (NULL when absent). */
static int st_import_keys(const cJSON *obj, const char *path, const struct st_key *keys,
                          size_t n_keys, const cJSON **slot, struct smol_err *err)
{
    if (!cJSON_IsObject(obj))
        return err_set(err, SMOL_EFORMAT, "store: import: %s is not an object", path);
    for (size_t k = 0; k < n_keys; k++)
        slot[k] = NULL;
    for (const cJSON *it = obj->child; it; it = it->next) {
        size_t k = 0;
        while (k < n_keys && strcmp(it->string, keys[k].name) != 0)
            k++;
        if (k == n_keys)
            return err_set(err, SMOL_EFORMAT, "store: import: %s has an unknown key '%.40s'",
                           path, it->string);
        if (slot[k])
            return err_set(err, SMOL_EFORMAT, "store: import: %s has the key '%s' twice", path,
                           keys[k].name);
        slot[k] = it;
    }
    for (size_t k = 0; k < n_keys; k++)
        if (keys[k].required && !slot[k])
            return err_set(err, SMOL_EFORMAT, "store: import: %s lacks the key '%s'", path,
                           keys[k].name);
    return 0;
}

/* A string value within max bytes (*out borrows it), or, when optional,
 * null / absent (*out NULL). */
static int st_import_string(const cJSON *it, const char *path, const char *key, size_t max,
                            const char **out, struct smol_err *err)
{
    *out = NULL;
    if (!it || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsString(it))
        return err_set(err, SMOL_EFORMAT, "store: import: %s.%s is not a string", path, key);
    size_t len = strlen(it->valuestring);
    if (len > max)
        return err_set(err, SMOL_EFORMAT,
                       "store: import: %s.%s is %zu bytes, more than the limit %zu", path, key,
                       len, max);
    *out = it->valuestring;
    return 0;
}

/* A number value in [lo, hi] (an integer when integer is set); absent or
 * null leaves *out alone. */
static int st_import_number(const cJSON *it, const char *path, const char *key, double lo,
                            double hi, bool integer, double *out, struct smol_err *err)
{
    if (!it || cJSON_IsNull(it))
        return 0;
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || !isfinite(v) || v < lo || v > hi || (integer && v != floor(v)))
        return err_set(err, SMOL_EFORMAT, "store: import: %s.%s must be %s in %g..%g", path,
                       key, integer ? "an integer" : "a number", lo, hi);
    *out = v;
    return 0;
}

static int st_import_settings(const cJSON *obj, struct store_settings *s, struct smol_err *err)
{
    static const struct st_key keys[] = {
        {"thinking", false}, {"temperature", false}, {"top_p", false},
        {"max_tokens", false}, {"system_prompt", false},
    };
    const cJSON *v[ARRAY_SIZE(keys)];
    double max_tokens = 0;
    int rc = st_import_keys(obj, "settings", keys, ARRAY_SIZE(keys), v, err);
    if (rc)
        return rc;
    if (v[0] && !cJSON_IsBool(v[0]))
        return err_set(err, SMOL_EFORMAT, "store: import: settings.thinking is not a boolean");
    if (v[0])
        s->thinking = cJSON_IsTrue(v[0]);
    const char *sys;
    if ((rc = st_import_number(v[1], "settings", "temperature", 0, 2, false, &s->temperature,
                               err)) ||
        (rc = st_import_number(v[2], "settings", "top_p", 0, 1, false, &s->top_p, err)) ||
        (rc = st_import_number(v[3], "settings", "max_tokens", 0, 1000000, true, &max_tokens,
                               err)) ||
        (rc = st_import_string(v[4], "settings", "system_prompt", STORE_TEXT_MAX, &sys, err)))
        return rc;
    s->max_tokens = (int)max_tokens;
    s->system_prompt = (char *)sys; /* borrowed from the tree: never freed here */
    return 0;
}

static int st_import_stats(const cJSON *obj, const char *path, struct store_stats *s,
                           struct smol_err *err)
{
    static const struct st_key keys[] = {
        {"n_prompt", false}, {"n_cached", false}, {"n_gen", false},      {"prompt_tps", false},
        {"gen_tps", false},  {"ttft_ms", false},  {"stop_reason", false},
    };
    const cJSON *v[ARRAY_SIZE(keys)];
    int rc = st_import_keys(obj, path, keys, ARRAY_SIZE(keys), v, err);
    if (rc)
        return rc;
    double d[6] = {0};
    for (int i = 0; i < 6; i++)
        if ((rc = st_import_number(v[i], path, keys[i].name, 0, ST_INT_MAX, i < 3, &d[i], err)))
            return rc;
    s->n_prompt = (int64_t)d[0];
    s->n_cached = (int64_t)d[1];
    s->n_gen = (int64_t)d[2];
    s->prompt_tps = d[3];
    s->gen_tps = d[4];
    s->ttft_ms = d[5];
    const char *reason;
    if ((rc = st_import_string(v[6], path, "stop_reason", sizeof(s->stop_reason) - 1, &reason,
                               err)))
        return rc;
    if (reason && !st_stop_reason_ok(reason))
        return err_set(err, SMOL_EFORMAT,
                       "store: import: %s.stop_reason must be a-z, 0-9, _ and -", path);
    snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", reason ? reason : "");
    return 0;
}

/* One message: *m borrows its strings from the tree; *calls owns the
 * printed tool_calls. */
static int st_import_message(const cJSON *obj, size_t i, struct store_message *m, char **calls,
                             int64_t now, struct smol_err *err)
{
    static const struct st_key keys[] = {
        {"role", true},          {"status", false}, {"content", true},
        {"reasoning", false},    {"tool_calls", false}, {"tool_call_id", false},
        {"stats", false},        {"created_ms", false},
    };
    const cJSON *v[ARRAY_SIZE(keys)];
    char path[48], spath[56];
    snprintf(path, sizeof(path), "messages[%zu]", i);
    snprintf(spath, sizeof(spath), "%s.stats", path);
    memset(m, 0, sizeof(*m));
    *calls = NULL;
    int rc = st_import_keys(obj, path, keys, ARRAY_SIZE(keys), v, err);
    if (rc)
        return rc;
    if (!cJSON_IsString(v[0]) || !store_role_parse(v[0]->valuestring, &m->role))
        return err_set(err, SMOL_EFORMAT,
                       "store: import: %s.role must be system, user, assistant or tool", path);
    m->status = STORE_MSG_COMPLETE;
    if (v[1] && (!cJSON_IsString(v[1]) || !store_status_parse(v[1]->valuestring, &m->status)))
        return err_set(err, SMOL_EFORMAT,
                       "store: import: %s.status must be complete, partial or generating", path);
    /* Nothing is generating it any more. */
    if (m->status == STORE_MSG_GENERATING)
        m->status = STORE_MSG_PARTIAL;
    if (!cJSON_IsString(v[2]))
        return err_set(err, SMOL_EFORMAT, "store: import: %s.content is not a string", path);
    const char *content, *reasoning, *call_id;
    double created = (double)now;
    if ((rc = st_import_string(v[2], path, "content", STORE_TEXT_MAX, &content, err)) ||
        (rc = st_import_string(v[3], path, "reasoning", STORE_TEXT_MAX, &reasoning, err)) ||
        (rc = st_import_string(v[5], path, "tool_call_id", STORE_TOOL_CALL_ID_MAX, &call_id,
                               err)) ||
        (rc = st_import_number(v[7], path, "created_ms", 0, ST_TIME_MAX, true, &created, err)) ||
        (v[6] && !cJSON_IsNull(v[6]) && (rc = st_import_stats(v[6], spath, &m->stats, err))))
        return rc;
    m->content = (char *)content;
    m->reasoning = (char *)reasoning;
    m->tool_call_id = (char *)call_id;
    m->created_ms = (int64_t)created;
    if (v[4] && !cJSON_IsNull(v[4])) {
        if (!st_is_object_array(v[4]))
            return err_set(err, SMOL_EFORMAT,
                           "store: import: %s.tool_calls is not an array of objects", path);
        if (!(*calls = cJSON_PrintUnformatted(v[4])))
            return err_set(err, SMOL_ENOMEM, "store: out of memory importing");
        m->tool_calls = *calls;
    }
    return 0;
}

/* cJSON turns "\u0000" into a NUL that would silently cut a string
 * short; refuse it instead. Scans the raw text's strings. */
static int st_import_scan_nul(const char *json, size_t len, struct smol_err *err)
{
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = json[i];
        if (!in_str) {
            in_str = c == '"';
        } else if (c == '"') {
            in_str = false;
        } else if (c == '\\' && i + 1 < len) {
            if (json[i + 1] == 'u' && i + 5 < len && !memcmp(json + i + 2, "0000", 4))
                return err_set(err, SMOL_EFORMAT,
                               "store: import: a string holds \\u0000 at byte %zu", i);
            i++; /* skip the escaped character */
        }
    }
    return 0;
}

/* Parses and checks the document; *root owns the tree the outputs
 * borrow from. */
static int st_import_parse(const char *json, size_t len, cJSON **root, struct smol_err *err)
{
    size_t bad;
    *root = NULL;
    if (len > STORE_IMPORT_MAX)
        return err_set(err, SMOL_EFORMAT,
                       "store: import: %zu bytes, more than the limit %zu", len,
                       (size_t)STORE_IMPORT_MAX);
    if (!utf8_valid(json, len, &bad))
        return err_set(err, SMOL_EFORMAT, "store: import: not valid UTF-8 at byte %zu", bad);
    if (memchr(json, '\0', len))
        return err_set(err, SMOL_EFORMAT, "store: import: a NUL byte in the text");
    int rc = st_import_scan_nul(json, len, err);
    if (rc)
        return rc;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!doc)
        return err_set(err, SMOL_EFORMAT, "store: import: not valid JSON (error at byte %zu)",
                       end && end >= json ? (size_t)(end - json) : (size_t)0);
    /* Only whitespace may follow the document. */
    for (const char *p = end; p < json + len; p++)
        if (!strchr(" \t\r\n", *p)) {
            cJSON_Delete(doc);
            return err_set(err, SMOL_EFORMAT, "store: import: data after the JSON at byte %zu",
                           (size_t)(p - json));
        }
    *root = doc;
    return 0;
}

int store_session_import(struct store *st, const char *json, size_t len, int64_t *id,
                         struct smol_err *err)
{
    static const struct st_key keys[] = {
        {"format", true},     {"version", true},    {"title", false},   {"created_ms", false},
        {"updated_ms", false}, {"settings", false}, {"messages", true},
    };
    const cJSON *v[ARRAY_SIZE(keys)];
    struct store_settings settings;
    struct store_message *msgs = NULL;
    char **calls = NULL;
    size_t n = 0;
    cJSON *doc;
    int64_t now = st_now_ms();
    store_settings_init(&settings);
    int rc = st_import_parse(json, len, &doc, err);
    if (rc)
        return rc;
    if ((rc = st_import_keys(doc, "the chat", keys, ARRAY_SIZE(keys), v, err)))
        goto out;
    if (!cJSON_IsString(v[0]) || strcmp(v[0]->valuestring, "smolbot-chat") != 0) {
        rc = err_set(err, SMOL_EFORMAT, "store: import: format is not \"smolbot-chat\"");
        goto out;
    }
    if (!cJSON_IsNumber(v[1]) || v[1]->valuedouble != 1) {
        rc = err_set(err, SMOL_EUNSUPPORTED, "store: import: only version 1 is understood");
        goto out;
    }
    const char *title;
    double created = (double)now, updated = 0;
    if ((rc = st_import_string(v[2], "the chat", "title", STORE_TITLE_MAX, &title, err)) ||
        (rc = st_import_number(v[3], "the chat", "created_ms", 0, ST_TIME_MAX, true, &created,
                               err)) ||
        (rc = st_import_number(v[4], "the chat", "updated_ms", 0, ST_TIME_MAX, true, &updated,
                               err)) ||
        (v[5] && (rc = st_import_settings(v[5], &settings, err))))
        goto out;
    if (!cJSON_IsArray(v[6])) {
        rc = err_set(err, SMOL_EFORMAT, "store: import: messages is not an array");
        goto out;
    }
    n = (size_t)cJSON_GetArraySize(v[6]);
    if (n > STORE_IMPORT_MAX_MESSAGES) {
        rc = err_set(err, SMOL_EFORMAT, "store: import: %zu messages, more than the limit %d", n,
                     STORE_IMPORT_MAX_MESSAGES);
        goto out;
    }
    msgs = mem_calloc(n ? n : 1, sizeof(*msgs));
    calls = mem_calloc(n ? n : 1, sizeof(*calls));
    if (!msgs || !calls) {
        rc = err_set(err, SMOL_ENOMEM, "store: out of memory importing");
        goto out;
    }
    size_t i = 0;
    for (const cJSON *m = v[6]->child; m; m = m->next, i++)
        if ((rc = st_import_message(m, i, &msgs[i], &calls[i], now, err)))
            goto out;

    /* All checked: now one transaction writes it all. */
    st_lock(st);
    rc = st_begin(st, err);
    if (!rc)
        rc = st_session_insert(st, title, &settings, (int64_t)created, id, err);
    for (i = 0; !rc && i < n; i++) {
        int64_t mid;
        rc = st_message_insert(st, *id, &msgs[i], msgs[i].created_ms, &mid, NULL, err);
    }
    if (!rc)
        rc = st_commit(st, err);
    st_unlock(st); /* rolls back on failure: all or nothing */
out:
    for (size_t k = 0; calls && k < n; k++)
        cJSON_free(calls[k]);
    free(calls);
    free(msgs); /* the strings it points at belong to doc */
    cJSON_Delete(doc);
    return rc;
}
