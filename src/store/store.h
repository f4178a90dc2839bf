/*
 * store.h: the chats, kept in SQLite.
 *
 * A store is one SQLite database file holding chat sessions and their
 * messages. The server opens one at start-up (`--db PATH`, or the default
 * file under the user's data directory) and everything the chat page and
 * the API remember goes through this header. The store knows nothing of
 * the engine or of HTTP; it deals in text, numbers and JSON.
 *
 * Durability. The database runs in WAL mode with synchronous=FULL: when a
 * function that writes returns 0, the change is committed and on disk, so
 * a kill -9, a crash or a power cut afterwards cannot lose it. A user
 * message is therefore appended (and committed) before generation starts;
 * the answer is appended with status GENERATING, may be checkpointed with
 * store_message_update while it streams, and is finalised (COMPLETE, or
 * PARTIAL when stopped) when it ends. A kill -9 loses at most what was
 * generated since the last checkpoint; store_recover_interrupted turns
 * answers left GENERATING by a dead process into PARTIAL ones.
 *
 * Schema. Versioned with PRAGMA user_version; store_open applies the
 * numbered migrations it is missing, each in its own transaction, and
 * refuses a file written by a newer smolbot.
 *
 * Threads. A struct store holds one SQLite connection behind a mutex:
 * any thread may call any function, and each call is atomic (HTTP threads
 * and the engine's worker can share one store). Several stores, in one
 * process or several, may open the same file: WAL lets readers run beside
 * the writer and a busy timeout queues writers.
 *
 * Errors. Functions that can fail return 0 (or a count) on success and a
 * negative SMOL_E* code on failure, with one sentence in *err that names
 * the file or the row and, for SQLite failures, sqlite3_errmsg's text.
 * SMOL_ENOTFOUND means "no such session/message"; SMOL_EINVAL means the
 * caller's data broke a rule below (bad UTF-8, too long, bad JSON);
 * SMOL_EFORMAT means an import or the database file itself is malformed.
 *
 * Text. Every string stored (titles, contents, reasoning, system prompts,
 * tool-call JSON) must be valid UTF-8 with no NUL bytes, so that exports
 * are always valid JSON; the store refuses anything else with
 * SMOL_EINVAL. SQL is never built from caller strings: every value is
 * bound to a prepared statement.
 *
 * Ownership. Structs filled by the store (sessions, messages, lists) own
 * their strings; release them with the matching _release/_free function.
 * Structs passed in are only read and stay the caller's.
 */
#ifndef SMOL_STORE_H
#define SMOL_STORE_H

#include "base.h"
#include "err.h"

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 2

/* Limits, in bytes of UTF-8. Imports are untrusted and checked against
 * all of them. */
#define STORE_TITLE_MAX 512
#define STORE_TEXT_MAX (8u << 20)        /* content, reasoning, system prompt */
#define STORE_JSON_MAX (1u << 20)        /* tool_calls */
#define STORE_TOOL_CALL_ID_MAX 256
#define STORE_IMPORT_MAX ((size_t)64 << 20) /* a whole exported chat */
#define STORE_IMPORT_MAX_MESSAGES 100000

struct store;

/* ---- opening ------------------------------------------------------- */

/* Writes the default database path into buf: $XDG_DATA_HOME/smolbot/
 * chats.db when XDG_DATA_HOME is an absolute path, else
 * $HOME/.local/share/smolbot/chats.db. Returns 0, or SMOL_ENOTFOUND when
 * neither variable is usable, SMOL_ERANGE when buf is too small. */
int store_default_path(char *buf, size_t cap, struct smol_err *err);

/* Opens (creating it if needed) the database at path, or at
 * store_default_path when path is NULL. Missing parent directories are
 * created with mode 0700 and a new database file with mode 0600 (chats
 * are private). Applies pending migrations. On success *out owns the
 * store (close it with store_close). Fails with a sentence naming the
 * file: not writable, not a SQLite database, a SQLite database that is
 * not smolbot's, a schema newer than STORE_SCHEMA_VERSION. */
int store_open(const char *path, struct store **out, struct smol_err *err);

/* Closes the database; NULL is allowed. */
void store_close(struct store *st);

/* The path the store was opened with (owned by st). */
const char *store_path(const struct store *st);

/* ---- sessions ------------------------------------------------------ */

/* Per-chat generation settings, stored as a JSON object. Unknown keys
 * found in the database (written by a newer build) are ignored. */
struct store_settings {
    bool thinking;       /* SmolLM3 reasons in <think> before answering */
    double temperature;  /* 0..2 */
    double top_p;        /* 0..1 */
    int max_tokens;      /* 0: the server's default; else 1..1000000 */
    char *system_prompt; /* NULL: none; owned when filled by the store */
};

/* Fills s with the defaults: thinking on, temperature 0.6, top_p 0.95
 * (the model card's), max_tokens 0, no system prompt. */
void store_settings_init(struct store_settings *s);
/* Frees s->system_prompt and resets s to the defaults; NULL allowed. */
void store_settings_release(struct store_settings *s);

struct store_session {
    int64_t id;          /* > 0; never reused, even after a delete */
    char *title;         /* owned; "" when untitled */
    int64_t created_ms;  /* Unix time in milliseconds */
    int64_t updated_ms;  /* last message added or changed; strictly increasing
                          * across the database, so it orders the list */
    int64_t n_messages;  /* filled by get and list */
    struct store_settings settings;
};

/* Frees what s owns and zeroes it; NULL allowed. */
void store_session_release(struct store_session *s);

/* Creates a session. title may be NULL (""); settings may be NULL (the
 * defaults). Sets *id. */
int store_session_create(struct store *st, const char *title,
                         const struct store_settings *settings, int64_t *id,
                         struct smol_err *err);

/* Reads one session into *out (release it). SMOL_ENOTFOUND if absent. */
int store_session_get(struct store *st, int64_t id, struct store_session *out,
                      struct smol_err *err);

/* Lists sessions newest first (by updated_ms, then id), skipping offset
 * and returning at most limit (limit <= 0: all). *out is a malloc'd array
 * of *n sessions (free with store_sessions_free); returns *n. */
int store_session_list(struct store *st, int limit, int offset,
                       struct store_session **out, size_t *n, struct smol_err *err);
void store_sessions_free(struct store_session *v, size_t n);

/* Renames a session (updated_ms stays: a rename does not move a chat up
 * the list); SMOL_ENOTFOUND if absent. */
int store_session_rename(struct store *st, int64_t id, const char *title,
                         struct smol_err *err);

/* Replaces a session's settings; SMOL_ENOTFOUND if absent. */
int store_session_set_settings(struct store *st, int64_t id,
                               const struct store_settings *settings,
                               struct smol_err *err);

/* Deletes a session and all its messages; SMOL_ENOTFOUND if absent. */
int store_session_delete(struct store *st, int64_t id, struct smol_err *err);

/* ---- messages ------------------------------------------------------ */

enum store_role {
    STORE_ROLE_SYSTEM,
    STORE_ROLE_USER,
    STORE_ROLE_ASSISTANT,
    STORE_ROLE_TOOL,
};

enum store_status {
    STORE_MSG_COMPLETE,   /* finished normally (every user message) */
    STORE_MSG_PARTIAL,    /* stopped, cancelled or cut by a crash */
    STORE_MSG_GENERATING, /* an answer still being written */
};

/* What one generated answer cost. All zero when unknown. */
struct store_stats {
    int64_t n_prompt;       /* prompt tokens evaluated */
    int64_t n_cached;       /* prompt tokens reused from the KV cache */
    int64_t n_gen;          /* tokens generated */
    double prompt_tps;      /* prompt tokens per second */
    double gen_tps;         /* generated tokens per second */
    double ttft_ms;         /* time to first token */
    char stop_reason[32];   /* "stop", "length", "cancelled", "tool_calls", ... */
};

struct store_message {
    int64_t id;             /* > 0 */
    int64_t session_id;
    int64_t seq;            /* position in the session: 1, 2, 3, ... */
    enum store_role role;
    enum store_status status;
    char *content;          /* "" when empty; never NULL when filled */
    char *reasoning;        /* the <think> text; NULL when none */
    char *tool_calls;       /* a JSON array (OpenAI shape); NULL when none */
    char *tool_call_id;     /* for role TOOL; NULL otherwise */
    struct store_stats stats;
    int64_t created_ms;
    int64_t updated_ms;
};

/* Frees what m owns and zeroes it; NULL allowed. */
void store_message_release(struct store_message *m);

/* Appends a message at the end of a session, in one committed
 * transaction, and touches the session's updated_ms. Reads role, status,
 * content (NULL: ""), reasoning, tool_calls (a JSON array of objects),
 * tool_call_id and stats from *in; ignores its id, session_id, seq and
 * times. Sets *id and, when seq is not NULL, *seq. SMOL_ENOTFOUND when
 * the session does not exist. */
int store_message_append(struct store *st, int64_t session_id,
                         const struct store_message *in, int64_t *id, int64_t *seq,
                         struct smol_err *err);

/* Replaces a message's status, content, reasoning, tool_calls,
 * tool_call_id and stats with those in *in (role, seq and session stay):
 * a checkpoint of an answer being generated, its final state, or an
 * edited user message. SMOL_ENOTFOUND if absent. */
int store_message_update(struct store *st, int64_t id, const struct store_message *in,
                         struct smol_err *err);

/* Reads one message into *out (release it). SMOL_ENOTFOUND if absent. */
int store_message_get(struct store *st, int64_t id, struct store_message *out,
                      struct smol_err *err);

/* Lists a session's messages in order (by seq) into a malloc'd array of
 * *n (free with store_messages_free); returns *n. SMOL_ENOTFOUND when
 * the session does not exist. */
int store_message_list(struct store *st, int64_t session_id,
                       struct store_message **out, size_t *n, struct smol_err *err);
void store_messages_free(struct store_message *v, size_t n);

/* Deletes every message of the session that comes after seq (seq 0:
 * all of them), for edit, regenerate and /clear. Returns the number
 * deleted. SMOL_ENOTFOUND when the session does not exist. */
int store_session_truncate(struct store *st, int64_t session_id, int64_t after_seq,
                           struct smol_err *err);

/* Marks every GENERATING message PARTIAL (stop reason "interrupted").
 * The server calls it once at start-up, before its worker runs: such
 * messages were left by a process that died mid-answer. Returns how
 * many were changed. */
int store_recover_interrupted(struct store *st, struct smol_err *err);

/* ---- export and import --------------------------------------------- */

/*
 * The exchange format, one JSON object:
 *
 *   {"format": "smolbot-chat", "version": 1,
 *    "title": "...", "created_ms": 1700000000000, "updated_ms": ...,
 *    "settings": {"thinking": true, "temperature": 0.6, "top_p": 0.95,
 *                 "max_tokens": 0, "system_prompt": "..."},
 *    "messages": [{"role": "user"|"assistant"|"system"|"tool",
 *                  "status": "complete"|"partial"|"generating",
 *                  "content": "...", "reasoning": "...",
 *                  "tool_calls": [...], "tool_call_id": "...",
 *                  "stats": {"n_prompt": 0, "n_cached": 0, "n_gen": 0,
 *                            "prompt_tps": 0, "gen_tps": 0, "ttft_ms": 0,
 *                            "stop_reason": "stop"},
 *                  "created_ms": ...}, ...]}
 *
 * reasoning, tool_calls, tool_call_id, stats and system_prompt are left
 * out when absent. Database ids are not exported.
 */

/* Writes session id as the JSON above into a malloc'd NUL-terminated
 * string *json (caller frees) of *len bytes. */
int store_session_export(struct store *st, int64_t id, char **json, size_t *len,
                         struct smol_err *err);

/* Imports an exported chat as a new session (*id), atomically: all of it
 * or nothing. The input is untrusted and validated strictly: the format
 * and version, every key known and of its type, numbers in range, strings
 * valid UTF-8 within the limits above, at most STORE_IMPORT_MAX bytes and
 * STORE_IMPORT_MAX_MESSAGES messages. A "generating" message is imported
 * as partial. The new session keeps the export's created_ms; its
 * updated_ms is now, so it shows first in the list. SMOL_EFORMAT with
 * the offending key (and message index) otherwise. */
int store_session_import(struct store *st, const char *json, size_t len, int64_t *id,
                         struct smol_err *err);

/* ---- names --------------------------------------------------------- */

/* "system", "user", "assistant", "tool"; "complete", "partial",
 * "generating". Never NULL. */
const char *store_role_name(enum store_role r);
const char *store_status_name(enum store_status s);
/* Parses a name back; false when unknown. */
bool store_role_parse(const char *name, enum store_role *r);
bool store_status_parse(const char *name, enum store_status *s);

#endif
