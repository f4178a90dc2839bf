/*
 * store_int.h: what store.c (the connection, schema, sessions and
 * messages) and store_json.c (settings and stats as JSON, export and
 * import) share. Private to src/store/; clients include store.h only.
 *
 * Every function here expects the caller to hold st->mu (the public
 * functions lock it once and then call these), so that an export sees
 * one consistent snapshot and an import is one transaction.
 */
#ifndef SMOL_STORE_INT_H
#define SMOL_STORE_INT_H

#include "store.h"

#include <pthread.h>
#include <sqlite3.h>

/* The prepared statements, compiled once at open. */
enum st_stmt {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_SESSION_LIST,
    ST_SESSION_EXISTS,
    ST_SESSION_RENAME,
    ST_SESSION_SETTINGS,
    ST_SESSION_DELETE,
    ST_SESSION_TOUCH,
    ST_MSG_NEXT_SEQ,
    ST_MSG_INSERT,
    ST_MSG_UPDATE,
    ST_MSG_SESSION,
    ST_MSG_GET,
    ST_MSG_LIST,
    ST_MSG_TRUNCATE,
    ST_MSG_RECOVER,
    ST_N_STMT
};

struct store {
    sqlite3 *db;
    pthread_mutex_t mu;            /* serialises every call on db */
    char *path;                    /* owned, as given to store_open */
    sqlite3_stmt *stmt[ST_N_STMT]; /* owned; reset after every use */
};

/* Locks st->mu. st_unlock resets every statement still holding a row
 * and rolls back any transaction a failed path left open, then unlocks. */
void st_lock(struct store *st);
void st_unlock(struct store *st);

/* Unix time in milliseconds. */
int64_t st_now_ms(void);

/* Records a failed SQLite call as "store: WHAT in 'PATH': ERRMSG" and
 * returns the status it maps to (SMOL_EFORMAT for a corrupt file,
 * SMOL_EFULL for a full disk, SMOL_EIO otherwise). */
int st_fail(struct store *st, struct smol_err *err, const char *what);

/* The statement id, reset and with its bindings cleared. */
sqlite3_stmt *st_stmt(struct store *st, enum st_stmt id);

/* Runs BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int st_begin(struct store *st, struct smol_err *err);
int st_commit(struct store *st, struct smol_err *err);
void st_rollback(struct store *st);

/* Checks that s is valid UTF-8 of at most max bytes; names it as what
 * in the SMOL_EINVAL sentence. NULL passes. */
int st_check_text(const char *s, size_t max, const char *what, struct smol_err *err);

/* Inserts a session row (no lock, no transaction of its own) with the
 * given created_ms; updated_ms becomes now (kept strictly increasing). */
int st_session_insert(struct store *st, const char *title,
                      const struct store_settings *settings, int64_t created_ms,
                      int64_t *id, struct smol_err *err);

/* Inserts a message row at the end of a session (no lock, no
 * transaction) with the given created_ms, and touches the session. */
int st_message_insert(struct store *st, int64_t session_id, const struct store_message *in,
                      int64_t created_ms, int64_t *id, int64_t *seq, struct smol_err *err);

/* Unlocked versions of store_session_get and store_message_list. */
int st_session_get(struct store *st, int64_t id, struct store_session *out,
                   struct smol_err *err);
int st_message_list(struct store *st, int64_t session_id, struct store_message **out,
                    size_t *n, struct smol_err *err);

/* ---- store_json.c -------------------------------------------------- */

/* Checks settings against the ranges in store.h (SMOL_EINVAL). */
int st_settings_check(const struct store_settings *s, struct smol_err *err);
/* Settings as a compact JSON object (malloc'd), or NULL when out of
 * memory. */
char *st_settings_to_json(const struct store_settings *s);
/* Fills *s from a stored JSON object, leniently: fields that are missing,
 * of the wrong type or out of range keep their defaults (a damaged row
 * must not hide the whole chat list). Returns 0 or SMOL_ENOMEM. */
int st_settings_from_json(const char *json, struct store_settings *s);

/* Checks stats (finite, non-negative numbers; stop_reason of [a-z0-9_-]). */
int st_stats_check(const struct store_stats *s, struct smol_err *err);
/* Stats as a compact JSON object (malloc'd); *out is NULL when every
 * field is empty (stored as SQL NULL). Returns 0 or SMOL_ENOMEM. */
int st_stats_to_json(const struct store_stats *s, char **out);
/* Fills *s from stored JSON, leniently (see st_settings_from_json). */
void st_stats_from_json(const char *json, struct store_stats *s);

/* Checks that json (NULL passes) is a JSON array of objects within
 * STORE_JSON_MAX bytes; it is stored as given. */
int st_tool_calls_check(const char *json, struct smol_err *err);

#endif
