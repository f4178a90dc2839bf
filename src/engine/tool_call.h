/*
 * tool_call.h: JSON the way SmolLM3's Python tooling sees it, and the
 * model's <tool_call> blocks turned into {name, arguments}.
 *
 * Two jobs share one reader:
 *
 *   - The chat template prints tool definitions with Jinja's `tool |
 *     string`, that is Python's str() of what json.loads returned. To be
 *     byte-identical we must know what json.loads would have built: ints
 *     stay the digits they were written with (any size), floats become
 *     doubles printed as Python's repr, duplicate keys keep the first
 *     position with the last value, key order is kept. cJSON loses the
 *     1 / 1.0 distinction, hence this small reader.
 *   - The model writes tool calls as JSON, not always valid JSON. The
 *     lenient mode accepts what a Python-minded model tends to write.
 *
 * Strict mode (TOOL_JSON_STRICT) is Python's json.loads: RFC 8259 plus
 * the literals NaN, Infinity and -Infinity; strings must be valid UTF-8
 * with no raw control characters; a lone \uD800-style escape is kept as
 * a surrogate (stored as its 3-byte generalized UTF-8 form, printed
 * back as an escape). Lenient mode (TOOL_JSON_LENIENT) also accepts:
 * 'single-quoted' strings, Python's True/False/None, a trailing comma
 * before ] or }, raw control characters (a literal newline) inside
 * strings, \' and \xNN escapes, and keeps the backslash of any other
 * unknown escape (as Python does). It does not accept NaN/Infinity,
 * comments or unquoted keys.
 *
 * Errors: one sentence in err naming the problem and its byte offset in
 * the parsed text ("json: expected ',' or '}' at offset 57").
 */
#ifndef SMOL_TOOL_CALL_H
#define SMOL_TOOL_CALL_H

#include "base.h"
#include "buf.h"
#include "err.h"

enum tool_json_type {
    TOOL_JSON_NULL,
    TOOL_JSON_FALSE,
    TOOL_JSON_TRUE,
    TOOL_JSON_INT,    /* no fraction or exponent: a Python int */
    TOOL_JSON_FLOAT,  /* a Python float (also NaN, Infinity, -Infinity) */
    TOOL_JSON_STRING,
    TOOL_JSON_ARRAY,
    TOOL_JSON_OBJECT,
};

/* One parsed value. Everything it points to is owned by it. */
struct tool_json {
    int type;                /* enum tool_json_type */
    size_t at;               /* offset of the value's first byte in the text */
    char *s;                 /* STRING: the decoded bytes; INT/FLOAT: the
                                number as written. NUL-terminated, but a
                                string may hold NULs: use n. */
    size_t n;                /* STRING/INT/FLOAT: bytes in s; ARRAY: items;
                                OBJECT: members */
    struct tool_json *items; /* ARRAY: [n]; OBJECT: [2n] as key, value, ... */
};

enum { TOOL_JSON_STRICT = 0, TOOL_JSON_LENIENT = 1 };

/* Values nest at most this deep (json.loads would hit Python's recursion
 * limit somewhat deeper; nothing real comes close). */
#define TOOL_JSON_MAX_DEPTH 128

/* Parses text[0..len) as exactly one JSON value (surrounding whitespace
 * allowed) into *out. Returns 0, or a negative status with err set
 * (SMOL_EFORMAT, SMOL_ENOMEM); *out then holds nothing to release. */
int tool_json_parse(const char *text, size_t len, int mode, struct tool_json *out,
                    struct smol_err *err);

/* Frees what v owns (v itself is the caller's); v may be NULL. */
void tool_json_release(struct tool_json *v);

/* The value of key in an object (the last one, as a Python dict keeps),
 * or NULL when absent or obj is not an object. */
const struct tool_json *tool_json_get(const struct tool_json *obj, const char *key);

/* Appends Python's str(v): a top-level string as itself, anything else as
 * repr (dicts {'k': v}, lists [a, b], True/False/None, ints as written,
 * floats as Python's shortest repr: 1.0, 1e-07, 1e+100, inf). Returns 0
 * or SMOL_ENOMEM. */
int tool_json_write_str(struct buf *b, const struct tool_json *v);

/* Appends v as JSON in Python's json.dumps(v, ensure_ascii=False) layout
 * (", " and ": " separators, one line), except that numbers keep the
 * text they were written with. Returns 0 or SMOL_ENOMEM. */
int tool_json_write_json(struct buf *b, const struct tool_json *v);

/* Appends s[0..len) as a JSON string literal (quotes included), escaped
 * as json.dumps(ensure_ascii=False) does. Returns 0 or SMOL_ENOMEM. */
int tool_json_write_string(struct buf *b, const char *s, size_t len);

/*
 * Parses one tool call written by the model. Accepted, around the JSON:
 * leading and trailing whitespace; an optional opening <tool_call>; a
 * closing </tool_call>, which may be missing when the text ends (output
 * cut at max_tokens or at the end-of-turn token). Nothing else may come
 * before or after. The JSON is read leniently (see above) and must be an
 * object holding
 *   "name": a non-empty string, and
 *   "arguments" (or "parameters"): an object, or a string holding one
 *     (an empty string, null or a missing key mean {}),
 * or an OpenAI-shaped {"type": "function", "function": {those keys}}.
 * Other keys are ignored. On success *name and *arguments_json are
 * malloc'd (caller frees): the name, and the arguments re-written by
 * tool_json_write_json (so {"city": "Paris"}). On failure both are NULL
 * and err says what is wrong and where.
 */
int tool_call_parse(const char *text, size_t len, char **name, char **arguments_json,
                    struct smol_err *err);

#endif
