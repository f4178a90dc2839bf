/*
 * store.c: the chat database: opening, the schema and its migrations,
 * sessions and messages (see store.h for the contracts).
 *
 * One SQLite connection per struct store, behind a mutex. Statements are
 * prepared once at open and reset after each use, so no read snapshot
 * outlives a call (a held snapshot would stop WAL checkpoints and show
 * stale rows to this connection).
 */
#include "store_int.h"
#include "mem.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A writer waits this long for another connection's write to finish
 * before giving up with "database is locked". */
#define STORE_BUSY_MS 5000

/* ================================================================== */
/* The schema                                                          */
/* ================================================================== */

/*
 * migrations[i] takes a database from user_version i to i + 1. Each runs
 * in one transaction together with the user_version bump, so a crash
 * mid-migration leaves the previous version intact. Never edit a shipped
 * migration: add the next one.
 *
 * Timestamps are Unix milliseconds. AUTOINCREMENT keeps ids from being
 * reused after a delete, so a stale page pointing at a deleted chat can
 * never land on a new one. UNIQUE(session_id, seq) is also the index that
 * lists a chat in order and that ON DELETE CASCADE uses.
 */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: chats and their messages */
    "CREATE TABLE sessions(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  title TEXT NOT NULL DEFAULT '',\n"
    "  created_ms INTEGER NOT NULL,\n"
    "  updated_ms INTEGER NOT NULL,\n"
    "  settings TEXT NOT NULL DEFAULT '{}');\n"
    "CREATE INDEX sessions_by_update ON sessions(updated_ms DESC, id DESC);\n"
    "CREATE TABLE messages(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
    "  seq INTEGER NOT NULL,\n"
    "  role TEXT NOT NULL CHECK(role IN ('system','user','assistant','tool')),\n"
    "  status TEXT NOT NULL DEFAULT 'complete'\n"
    "    CHECK(status IN ('complete','partial','generating')),\n"
    "  content TEXT NOT NULL DEFAULT '',\n"
    "  reasoning TEXT,\n"
    "  created_ms INTEGER NOT NULL,\n"
    "  UNIQUE(session_id, seq));\n",
    /* 1 -> 2: tool calls, generation statistics, checkpoint times */
    "ALTER TABLE messages ADD COLUMN tool_calls TEXT;\n"
    "ALTER TABLE messages ADD COLUMN tool_call_id TEXT;\n"
    "ALTER TABLE messages ADD COLUMN stats TEXT;\n"
    "ALTER TABLE messages ADD COLUMN updated_ms INTEGER NOT NULL DEFAULT 0;\n"
    "UPDATE messages SET updated_ms = created_ms;\n"
    "CREATE INDEX messages_generating ON messages(status) WHERE status = 'generating';\n",
};

#define MSG_COLS                                                                   \
    "id, session_id, seq, role, status, content, reasoning, tool_calls, "          \
    "tool_call_id, stats, created_ms, updated_ms"
#define SESSION_COLS                                                               \
    "id, title, created_ms, updated_ms, settings, "                                \
    "(SELECT count(*) FROM messages WHERE session_id = sessions.id)"
/* The next updated_ms: now, or one past the newest, whichever is later. */
#define NEXT_UPDATE "max(?9, (SELECT coalesce(max(updated_ms), 0) + 1 FROM sessions))"

static const char *const stmt_sql[ST_N_STMT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN DEFERRED",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SESSION_INSERT] = "INSERT INTO sessions(title, created_ms, updated_ms, settings) "
                          "VALUES(?1, ?2, " NEXT_UPDATE ", ?3)",
    [ST_SESSION_GET] = "SELECT " SESSION_COLS " FROM sessions WHERE id = ?1",
    [ST_SESSION_LIST] = "SELECT " SESSION_COLS " FROM sessions "
                        "ORDER BY updated_ms DESC, id DESC LIMIT ?1 OFFSET ?2",
    [ST_SESSION_EXISTS] = "SELECT 1 FROM sessions WHERE id = ?1",
    [ST_SESSION_RENAME] = "UPDATE sessions SET title = ?2 WHERE id = ?1",
    [ST_SESSION_SETTINGS] = "UPDATE sessions SET settings = ?2 WHERE id = ?1",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE id = ?1",
    [ST_SESSION_TOUCH] = "UPDATE sessions SET updated_ms = " NEXT_UPDATE " WHERE id = ?1",
    [ST_MSG_NEXT_SEQ] = "SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE session_id = ?1",
    [ST_MSG_INSERT] = "INSERT INTO messages(session_id, seq, role, status, content, reasoning, "
                      "tool_calls, tool_call_id, stats, created_ms, updated_ms) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, ?11, ?9)",
    [ST_MSG_UPDATE] = "UPDATE messages SET status = ?2, content = ?3, reasoning = ?4, "
                      "tool_calls = ?5, tool_call_id = ?6, stats = ?7, updated_ms = ?9 "
                      "WHERE id = ?1",
    [ST_MSG_SESSION] = "SELECT session_id FROM messages WHERE id = ?1",
    [ST_MSG_GET] = "SELECT " MSG_COLS " FROM messages WHERE id = ?1",
    [ST_MSG_LIST] = "SELECT " MSG_COLS " FROM messages WHERE session_id = ?1 ORDER BY seq",
    [ST_MSG_TRUNCATE] = "DELETE FROM messages WHERE session_id = ?1 AND seq > ?2",
    [ST_MSG_RECOVER] = "UPDATE messages SET status = 'partial', updated_ms = ?9, "
                       "stats = json_set(coalesce(stats, '{}'), '$.stop_reason', 'interrupted') "
                       "WHERE status = 'generating'",
};

/* ================================================================== */
/* Helpers shared with store_json.c                                    */
/* ================================================================== */

int64_t st_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int st_fail(struct store *st, struct smol_err *err, const char *what)
{
    int rc = sqlite3_errcode(st->db) & 0xff;
    int code = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? SMOL_EFORMAT
               : rc == SQLITE_FULL                         ? SMOL_EFULL
                                                           : SMOL_EIO;
    return err_set(err, code, "store: %s in '%s': %s", what, st->path, sqlite3_errmsg(st->db));
}

sqlite3_stmt *st_stmt(struct store *st, enum st_stmt id)
{
    sqlite3_stmt *s = st->stmt[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Steps a statement that returns no rows (or whose rows we ignore);
 * true when it finished. */
static bool st_exec(sqlite3_stmt *s)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    return rc == SQLITE_DONE;
}

int st_begin(struct store *st, struct smol_err *err)
{
    return st_exec(st_stmt(st, ST_BEGIN)) ? 0 : st_fail(st, err, "cannot start a transaction");
}

int st_commit(struct store *st, struct smol_err *err)
{
    if (st_exec(st_stmt(st, ST_COMMIT)))
        return 0;
    int rc = st_fail(st, err, "cannot commit");
    st_rollback(st);
    return rc;
}

void st_rollback(struct store *st)
{
    /* Harmless when SQLite already rolled back on its own. */
    if (!sqlite3_get_autocommit(st->db))
        st_exec(st_stmt(st, ST_ROLLBACK));
}

int st_check_text(const char *s, size_t max, const char *what, struct smol_err *err)
{
    if (!s)
        return 0;
    size_t len = strlen(s), bad;
    if (len > max)
        return err_set(err, SMOL_EINVAL, "store: %s is %zu bytes, more than the limit %zu", what,
                       len, max);
    if (!utf8_valid(s, len, &bad))
        return err_set(err, SMOL_EINVAL, "store: %s is not valid UTF-8 at byte %zu", what, bad);
    return 0;
}

/* Binds s as text, or SQL NULL when s is NULL. The text must outlive
 * the step (SQLITE_STATIC): every caller steps before returning. */
static void st_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* A malloc'd copy of a text column; NULL for SQL NULL. *oom is set when
 * the copy failed. */
static char *st_col_text(sqlite3_stmt *s, int i, bool *oom)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t) {
        if (sqlite3_column_type(s, i) != SQLITE_NULL)
            *oom = true;
        return NULL;
    }
    char *c = mem_strndup((const char *)t, (size_t)sqlite3_column_bytes(s, i));
    if (!c)
        *oom = true;
    return c;
}

void st_lock(struct store *st)
{
    pthread_mutex_lock(&st->mu);
}

void st_unlock(struct store *st)
{
    for (int i = 0; i < ST_N_STMT; i++)
        if (sqlite3_stmt_busy(st->stmt[i]))
            sqlite3_reset(st->stmt[i]);
    st_rollback(st);
    pthread_mutex_unlock(&st->mu);
}

/* ================================================================== */
/* Opening                                                             */
/* ================================================================== */

int store_default_path(char *buf, size_t cap, struct smol_err *err)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    /* The XDG spec says a relative XDG_DATA_HOME is invalid and ignored. */
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, cap, "%s/smolbot/chats.db", xdg);
    else if (home && home[0])
        n = snprintf(buf, cap, "%s/.local/share/smolbot/chats.db", home);
    else
        return err_set(err, SMOL_ENOTFOUND,
                       "store: neither XDG_DATA_HOME nor HOME is set; give the database path");
    if (n < 0 || (size_t)n >= cap)
        return err_set(err, SMOL_ERANGE, "store: the default database path is too long");
    return 0;
}

/* mkdir -p of the directory part of path, creating what is missing with
 * mode 0700; an existing directory keeps its mode. */
static int store_make_dirs(const char *path, struct smol_err *err)
{
    char *dir = mem_strndup(path, strlen(path));
    if (!dir)
        return err_set(err, SMOL_ENOMEM, "store: out of memory");
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (!slash || slash == dir)
        goto out; /* the current directory or the root */
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            rc = err_set(err, SMOL_EIO, "store: cannot create directory '%s': %s", dir,
                         strerror(errno));
            goto out;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    /* access() answers for the real user, which is what the open will be. */
    if (access(dir, W_OK | X_OK) != 0)
        rc = err_set(err, SMOL_EIO, "store: cannot write in directory '%s': %s", dir,
                     strerror(errno));
out:
    free(dir);
    return rc;
}

/* Creates the database file with mode 0600 when it does not exist yet;
 * SQLite then gives its -wal and -shm files the same mode. */
static int store_make_file(const char *path, struct smol_err *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return err_set(err, SMOL_EINVAL, "store: '%s' is not a regular file", path);
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
        return err_set(err, SMOL_EIO, "store: cannot create '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return 0;
}

/* Runs one PRAGMA (our constant text) and copies its first column into
 * out (may be NULL). */
static int store_pragma(struct store *st, const char *sql, char *out, size_t cap,
                        struct smol_err *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return st_fail(st, err, sql);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && out) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(out, cap, "%s", t ? (const char *)t : "");
    }
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_DONE : SQLITE_ERROR;
    int ret = rc == SQLITE_DONE ? 0 : st_fail(st, err, sql);
    sqlite3_finalize(s);
    return ret;
}

static int store_user_version(struct store *st, int *v, struct smol_err *err)
{
    char b[32];
    int rc = store_pragma(st, "PRAGMA user_version", b, sizeof(b), err);
    *v = atoi(b);
    return rc;
}

/* Brings the schema to STORE_SCHEMA_VERSION, one migration per
 * transaction. The version is read again under the write lock, because
 * another process may have migrated while we waited for it. */
static int store_migrate(struct store *st, struct smol_err *err)
{
    int v, rc = store_user_version(st, &v, err);
    if (rc)
        return rc;
    if (v > STORE_SCHEMA_VERSION)
        return err_set(err, SMOL_EUNSUPPORTED,
                       "store: '%s' has schema version %d, newer than this smolbot's %d; "
                       "upgrade smolbot or use another --db",
                       st->path, v, STORE_SCHEMA_VERSION);
    if (v == 0) {
        char n[32];
        if ((rc = store_pragma(st, "SELECT count(*) FROM sqlite_schema", n, sizeof(n), err)))
            return rc;
        if (atoi(n) != 0)
            return err_set(err, SMOL_EFORMAT,
                           "store: '%s' is an SQLite database but not smolbot's "
                           "(it has tables and no schema version)",
                           st->path);
    }
    while (v < STORE_SCHEMA_VERSION) {
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return st_fail(st, err, "cannot start the schema migration");
        char bump[48];
        int now;
        if ((rc = store_user_version(st, &now, err)))
            goto fail;
        if (now != v) { /* someone else migrated meanwhile */
            sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
            v = now;
            continue;
        }
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(st->db, bump, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof(what), "migration to schema version %d failed", v + 1);
            rc = st_fail(st, err, what);
            goto fail;
        }
        v++;
    }
    return 0;
fail:
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int store_open(const char *path, struct store **out, struct smol_err *err)
{
    char def[4096];
    *out = NULL;
    if (!path) {
        int rc = store_default_path(def, sizeof(def), err);
        if (rc)
            return rc;
        path = def;
    }
    if (!path[0])
        return err_set(err, SMOL_EINVAL, "store: empty database path");
    bool memory = !strcmp(path, ":memory:");
    int rc;
    if (!memory && ((rc = store_make_dirs(path, err)) || (rc = store_make_file(path, err))))
        return rc;

    struct store *st = calloc(1, sizeof(*st));
    if (!st || !(st->path = mem_strndup(path, strlen(path)))) {
        free(st);
        return err_set(err, SMOL_ENOMEM, "store: out of memory");
    }
    pthread_mutex_init(&st->mu, NULL);
    /* NOMUTEX: st->mu already serialises the connection. No URI names:
     * the path is a file name, whatever it looks like. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_EXRESCODE;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        rc = st->db ? st_fail(st, err, "cannot open the database")
                    : err_set(err, SMOL_ENOMEM, "store: out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, STORE_BUSY_MS);

    /* The first real read: a file that is not SQLite fails here. */
    char mode[16] = "";
    struct smol_err e = {0};
    if ((rc = store_pragma(st, "PRAGMA journal_mode = WAL", mode, sizeof(mode), &e))) {
        if (rc == SMOL_EFORMAT)
            err_set(err, rc, "store: '%s' is not a smolbot chat database (SQLite says: %s)",
                    path, sqlite3_errmsg(st->db));
        else
            err_set(err, rc, "%s", e.msg);
        goto fail;
    }
    if (strcmp(mode, "wal") != 0 && !memory) {
        rc = err_set(err, SMOL_EUNSUPPORTED,
                     "store: cannot put '%s' in WAL mode (journal mode stays '%s'); "
                     "is it on a network file system?",
                     path, mode);
        goto fail;
    }
    /* FULL: in WAL mode that is one fsync per commit, which at chat
     * rates costs nothing and makes a committed message survive a power
     * cut, not only a crash (NORMAL would only promise the latter). */
    if ((rc = store_pragma(st, "PRAGMA synchronous = FULL", NULL, 0, err)) ||
        (rc = store_pragma(st, "PRAGMA foreign_keys = ON", NULL, 0, err)) ||
        (rc = store_migrate(st, err)))
        goto fail;
    for (int i = 0; i < ST_N_STMT; i++) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            rc = st_fail(st, err, "cannot prepare a statement");
            goto fail;
        }
    }
    *out = st;
    return 0;
fail:
    store_close(st);
    return rc;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < ST_N_STMT; i++)
        sqlite3_finalize(st->stmt[i]);
    /* close_v2 would defer; every statement is finalised, so this closes
     * now and checkpoints the WAL when we are the last connection. */
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    free(st->path);
    free(st);
}

const char *store_path(const struct store *st)
{
    return st->path;
}

/* ================================================================== */
/* Names                                                               */
/* ================================================================== */

static const char *const role_names[] = {"system", "user", "assistant", "tool"};
static const char *const status_names[] = {"complete", "partial", "generating"};

const char *store_role_name(enum store_role r)
{
    return (unsigned)r < ARRAY_SIZE(role_names) ? role_names[r] : "?";
}

const char *store_status_name(enum store_status s)
{
    return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "?";
}

bool store_role_parse(const char *name, enum store_role *r)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(role_names); i++)
        if (!strcmp(name, role_names[i])) {
            *r = (enum store_role)i;
            return true;
        }
    return false;
}

bool store_status_parse(const char *name, enum store_status *s)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(status_names); i++)
        if (!strcmp(name, status_names[i])) {
            *s = (enum store_status)i;
            return true;
        }
    return false;
}

/* ================================================================== */
/* Sessions                                                            */
/* ================================================================== */

void store_session_release(struct store_session *s)
{
    if (!s)
        return;
    free(s->title);
    store_settings_release(&s->settings);
    memset(s, 0, sizeof(*s));
}

void store_sessions_free(struct store_session *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_session_release(&v[i]);
    free(v);
}

/* Fills *out from a row of SESSION_COLS. */
static int st_session_row(struct store *st, sqlite3_stmt *s, struct store_session *out,
                          struct smol_err *err)
{
    bool oom = false;
    memset(out, 0, sizeof(*out));
    store_settings_init(&out->settings);
    out->id = sqlite3_column_int64(s, 0);
    out->title = st_col_text(s, 1, &oom);
    out->created_ms = sqlite3_column_int64(s, 2);
    out->updated_ms = sqlite3_column_int64(s, 3);
    out->n_messages = sqlite3_column_int64(s, 5);
    if (!oom && !out->title)
        out->title = mem_strndup("", 0), oom = !out->title;
    if (!oom && st_settings_from_json((const char *)sqlite3_column_text(s, 4), &out->settings))
        oom = true;
    if (oom) {
        store_session_release(out);
        return err_set(err, SMOL_ENOMEM, "store: out of memory reading '%s'", st->path);
    }
    return 0;
}

int st_session_get(struct store *st, int64_t id, struct store_session *out, struct smol_err *err)
{
    sqlite3_stmt *s = st_stmt(st, ST_SESSION_GET);
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return st_session_row(st, s, out, err);
    if (rc == SQLITE_DONE)
        return err_set(err, SMOL_ENOTFOUND, "store: no session %lld", (long long)id);
    return st_fail(st, err, "cannot read a session");
}

/* SMOL_ENOTFOUND unless session id exists. */
static int st_session_exists(struct store *st, int64_t id, struct smol_err *err)
{
    sqlite3_stmt *s = st_stmt(st, ST_SESSION_EXISTS);
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return err_set(err, SMOL_ENOTFOUND, "store: no session %lld", (long long)id);
    return st_fail(st, err, "cannot read a session");
}

int st_session_insert(struct store *st, const char *title, const struct store_settings *settings,
                      int64_t created_ms, int64_t *id, struct smol_err *err)
{
    struct store_settings def;
    store_settings_init(&def);
    if (!settings)
        settings = &def;
    int rc;
    if ((rc = st_check_text(title, STORE_TITLE_MAX, "the title", err)) ||
        (rc = st_settings_check(settings, err)))
        return rc;
    char *json = st_settings_to_json(settings);
    if (!json)
        return err_set(err, SMOL_ENOMEM, "store: out of memory");
    sqlite3_stmt *s = st_stmt(st, ST_SESSION_INSERT);
    st_bind_text(s, 1, title ? title : "");
    sqlite3_bind_int64(s, 2, created_ms);
    st_bind_text(s, 3, json);
    sqlite3_bind_int64(s, 9, st_now_ms());
    rc = st_exec(s) ? 0 : st_fail(st, err, "cannot create a session");
    if (!rc)
        *id = sqlite3_last_insert_rowid(st->db);
    sqlite3_reset(s);
    free(json);
    return rc;
}

int store_session_create(struct store *st, const char *title,
                         const struct store_settings *settings, int64_t *id,
                         struct smol_err *err)
{
    st_lock(st);
    int rc = st_session_insert(st, title, settings, st_now_ms(), id, err);
    st_unlock(st);
    return rc;
}

int store_session_get(struct store *st, int64_t id, struct store_session *out,
                      struct smol_err *err)
{
    st_lock(st);
    int rc = st_session_get(st, id, out, err);
    st_unlock(st);
    return rc;
}

int store_session_list(struct store *st, int limit, int offset, struct store_session **out,
                       size_t *n, struct smol_err *err)
{
    struct store_session *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    *n = 0;
    st_lock(st);
    sqlite3_stmt *s = st_stmt(st, ST_SESSION_LIST);
    sqlite3_bind_int64(s, 1, limit > 0 ? limit : -1); /* LIMIT -1: no limit */
    sqlite3_bind_int64(s, 2, offset > 0 ? offset : 0);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            struct store_session *nv = mem_alloc_array(cap, sizeof(*v));
            if (!nv) {
                rc = err_set(err, SMOL_ENOMEM, "store: out of memory listing sessions");
                goto out;
            }
            if (len)
                memcpy(nv, v, len * sizeof(*v));
            free(v);
            v = nv;
        }
        if ((rc = st_session_row(st, s, &v[len], err)))
            goto out;
        len++;
    }
    if (step != SQLITE_DONE)
        rc = st_fail(st, err, "cannot list sessions");
out:
    st_unlock(st);
    if (rc) {
        store_sessions_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return (int)MIN(len, (size_t)INT32_MAX);
}

/* Runs an UPDATE/DELETE on one session row: SMOL_ENOTFOUND when it
 * matched nothing. */
static int st_session_change(struct store *st, sqlite3_stmt *s, int64_t id, const char *what,
                             struct smol_err *err)
{
    if (!st_exec(s))
        return st_fail(st, err, what);
    if (sqlite3_changes(st->db) == 0)
        return err_set(err, SMOL_ENOTFOUND, "store: no session %lld", (long long)id);
    return 0;
}

int store_session_rename(struct store *st, int64_t id, const char *title, struct smol_err *err)
{
    int rc = st_check_text(title, STORE_TITLE_MAX, "the title", err);
    if (rc)
        return rc;
    st_lock(st);
    sqlite3_stmt *s = st_stmt(st, ST_SESSION_RENAME);
    sqlite3_bind_int64(s, 1, id);
    st_bind_text(s, 2, title ? title : "");
    rc = st_session_change(st, s, id, "cannot rename a session", err);
    st_unlock(st);
    return rc;
}

int store_session_set_settings(struct store *st, int64_t id,
                               const struct store_settings *settings, struct smol_err *err)
{
    int rc = st_settings_check(settings, err);
    if (rc)
        return rc;
    char *json = st_settings_to_json(settings);
    if (!json)
        return err_set(err, SMOL_ENOMEM, "store: out of memory");
    st_lock(st);
    sqlite3_stmt *s = st_stmt(st, ST_SESSION_SETTINGS);
    sqlite3_bind_int64(s, 1, id);
    st_bind_text(s, 2, json);
    rc = st_session_change(st, s, id, "cannot change a session's settings", err);
    st_unlock(st);
    free(json);
    return rc;
}

int store_session_delete(struct store *st, int64_t id, struct smol_err *err)
{
    st_lock(st);
    sqlite3_stmt *s = st_stmt(st, ST_SESSION_DELETE);
    sqlite3_bind_int64(s, 1, id);
    /* The messages go with it: ON DELETE CASCADE, in the same statement. */
    int rc = st_session_change(st, s, id, "cannot delete a session", err);
    st_unlock(st);
    return rc;
}

/* ================================================================== */
/* Messages                                                            */
/* ================================================================== */

void store_message_release(struct store_message *m)
{
    if (!m)
        return;
    free(m->content);
    free(m->reasoning);
    free(m->tool_calls);
    free(m->tool_call_id);
    memset(m, 0, sizeof(*m));
}

void store_messages_free(struct store_message *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_message_release(&v[i]);
    free(v);
}

/* Validates the writable fields of a message and makes the stats JSON
 * (*stats: malloc'd, or NULL when there are none). */
static int st_message_prepare(const struct store_message *in, char **stats, struct smol_err *err)
{
    int rc;
    *stats = NULL;
    if ((unsigned)in->role >= ARRAY_SIZE(role_names))
        return err_set(err, SMOL_EINVAL, "store: message role %d is not a role", (int)in->role);
    if ((unsigned)in->status >= ARRAY_SIZE(status_names))
        return err_set(err, SMOL_EINVAL, "store: message status %d is not a status",
                       (int)in->status);
    if ((rc = st_check_text(in->content, STORE_TEXT_MAX, "the message content", err)) ||
        (rc = st_check_text(in->reasoning, STORE_TEXT_MAX, "the reasoning", err)) ||
        (rc = st_check_text(in->tool_call_id, STORE_TOOL_CALL_ID_MAX, "the tool_call_id", err)) ||
        (rc = st_stats_check(&in->stats, err)) || (rc = st_tool_calls_check(in->tool_calls, err)))
        return rc;
    if (st_stats_to_json(&in->stats, stats))
        return err_set(err, SMOL_ENOMEM, "store: out of memory");
    return 0;
}

/* Binds status, content, reasoning, tool_calls and tool_call_id to the
 * five parameters from ?first on (ST_MSG_INSERT numbers them from 4,
 * ST_MSG_UPDATE from 2). */
static void st_bind_message(sqlite3_stmt *s, int first, const struct store_message *in)
{
    sqlite3_bind_text(s, first, status_names[in->status], -1, SQLITE_STATIC);
    st_bind_text(s, first + 1, in->content ? in->content : "");
    st_bind_text(s, first + 2, in->reasoning);
    st_bind_text(s, first + 3, in->tool_calls);
    st_bind_text(s, first + 4, in->tool_call_id);
}

int st_message_insert(struct store *st, int64_t session_id, const struct store_message *in,
                      int64_t created_ms, int64_t *id, int64_t *seq, struct smol_err *err)
{
    char *stats;
    int rc = st_message_prepare(in, &stats, err);
    if (rc)
        return rc;
    if ((rc = st_session_exists(st, session_id, err)))
        goto out;
    sqlite3_stmt *s = st_stmt(st, ST_MSG_NEXT_SEQ);
    sqlite3_bind_int64(s, 1, session_id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = st_fail(st, err, "cannot number a message");
        goto out;
    }
    int64_t next = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);

    s = st_stmt(st, ST_MSG_INSERT);
    sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_int64(s, 2, next);
    sqlite3_bind_text(s, 3, role_names[in->role], -1, SQLITE_STATIC);
    st_bind_message(s, 4, in);
    sqlite3_bind_int64(s, 9, st_now_ms());
    st_bind_text(s, 10, stats);
    sqlite3_bind_int64(s, 11, created_ms);
    if (!st_exec(s)) {
        rc = st_fail(st, err, "cannot append a message");
        goto out;
    }
    *id = sqlite3_last_insert_rowid(st->db);
    if (seq)
        *seq = next;
    s = st_stmt(st, ST_SESSION_TOUCH);
    sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_int64(s, 9, st_now_ms());
    if (!st_exec(s))
        rc = st_fail(st, err, "cannot update a session's time");
out:
    free(stats);
    return rc;
}

int store_message_append(struct store *st, int64_t session_id, const struct store_message *in,
                         int64_t *id, int64_t *seq, struct smol_err *err)
{
    st_lock(st);
    int rc = st_begin(st, err);
    if (!rc)
        rc = st_message_insert(st, session_id, in, st_now_ms(), id, seq, err);
    if (!rc)
        rc = st_commit(st, err);
    st_unlock(st); /* rolls back on failure */
    return rc;
}

int store_message_update(struct store *st, int64_t id, const struct store_message *in,
                         struct smol_err *err)
{
    char *stats;
    int rc = st_message_prepare(in, &stats, err);
    if (rc)
        return rc;
    st_lock(st);
    if ((rc = st_begin(st, err)))
        goto out;
    sqlite3_stmt *s = st_stmt(st, ST_MSG_SESSION);
    sqlite3_bind_int64(s, 1, id);
    int step = sqlite3_step(s);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE
                 ? err_set(err, SMOL_ENOTFOUND, "store: no message %lld", (long long)id)
                 : st_fail(st, err, "cannot read a message");
        goto out;
    }
    int64_t session_id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);

    s = st_stmt(st, ST_MSG_UPDATE);
    sqlite3_bind_int64(s, 1, id);
    st_bind_message(s, 2, in);
    st_bind_text(s, 7, stats);
    sqlite3_bind_int64(s, 9, st_now_ms());
    if (!st_exec(s)) {
        rc = st_fail(st, err, "cannot update a message");
        goto out;
    }
    s = st_stmt(st, ST_SESSION_TOUCH);
    sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_int64(s, 9, st_now_ms());
    if (!st_exec(s)) {
        rc = st_fail(st, err, "cannot update a session's time");
        goto out;
    }
    rc = st_commit(st, err);
out:
    st_unlock(st);
    free(stats);
    return rc;
}

/* Fills *out from a row of MSG_COLS. */
static int st_message_row(struct store *st, sqlite3_stmt *s, struct store_message *out,
                          struct smol_err *err)
{
    bool oom = false;
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(s, 0);
    out->session_id = sqlite3_column_int64(s, 1);
    out->seq = sqlite3_column_int64(s, 2);
    const char *role = (const char *)sqlite3_column_text(s, 3);
    const char *status = (const char *)sqlite3_column_text(s, 4);
    /* The CHECK constraints make these unreachable short of a hand-edited
     * file, which still gets a sentence rather than a crash. */
    if (!store_role_parse(role, &out->role) || !store_status_parse(status, &out->status))
        return err_set(err, SMOL_EFORMAT, "store: message %lld in '%s' has role '%s' status '%s'",
                       (long long)out->id, st->path, role ? role : "", status ? status : "");
    out->content = st_col_text(s, 5, &oom);
    out->reasoning = st_col_text(s, 6, &oom);
    out->tool_calls = st_col_text(s, 7, &oom);
    out->tool_call_id = st_col_text(s, 8, &oom);
    st_stats_from_json((const char *)sqlite3_column_text(s, 9), &out->stats);
    out->created_ms = sqlite3_column_int64(s, 10);
    out->updated_ms = sqlite3_column_int64(s, 11);
    if (!oom && !out->content)
        out->content = mem_strndup("", 0), oom = !out->content;
    if (oom) {
        store_message_release(out);
        return err_set(err, SMOL_ENOMEM, "store: out of memory reading '%s'", st->path);
    }
    return 0;
}

int store_message_get(struct store *st, int64_t id, struct store_message *out,
                      struct smol_err *err)
{
    st_lock(st);
    sqlite3_stmt *s = st_stmt(st, ST_MSG_GET);
    sqlite3_bind_int64(s, 1, id);
    int step = sqlite3_step(s), rc;
    if (step == SQLITE_ROW)
        rc = st_message_row(st, s, out, err);
    else if (step == SQLITE_DONE)
        rc = err_set(err, SMOL_ENOTFOUND, "store: no message %lld", (long long)id);
    else
        rc = st_fail(st, err, "cannot read a message");
    st_unlock(st);
    return rc;
}

int st_message_list(struct store *st, int64_t session_id, struct store_message **out, size_t *n,
                    struct smol_err *err)
{
    struct store_message *v = NULL;
    size_t len = 0, cap = 0;
    *out = NULL;
    *n = 0;
    int rc = st_session_exists(st, session_id, err);
    if (rc)
        return rc;
    sqlite3_stmt *s = st_stmt(st, ST_MSG_LIST);
    sqlite3_bind_int64(s, 1, session_id);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            struct store_message *nv = mem_alloc_array(cap, sizeof(*v));
            if (!nv) {
                rc = err_set(err, SMOL_ENOMEM, "store: out of memory listing messages");
                goto fail;
            }
            if (len)
                memcpy(nv, v, len * sizeof(*v));
            free(v);
            v = nv;
        }
        if ((rc = st_message_row(st, s, &v[len], err)))
            goto fail;
        len++;
    }
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        rc = st_fail(st, err, "cannot list messages");
        goto fail;
    }
    *out = v;
    *n = len;
    return 0;
fail:
    sqlite3_reset(s);
    store_messages_free(v, len);
    return rc;
}

int store_message_list(struct store *st, int64_t session_id, struct store_message **out,
                       size_t *n, struct smol_err *err)
{
    st_lock(st);
    int rc = st_message_list(st, session_id, out, n, err);
    st_unlock(st);
    return rc ? rc : (int)MIN(*n, (size_t)INT32_MAX);
}

int store_session_truncate(struct store *st, int64_t session_id, int64_t after_seq,
                           struct smol_err *err)
{
    st_lock(st);
    int rc = st_begin(st, err);
    if (!rc)
        rc = st_session_exists(st, session_id, err);
    if (!rc) {
        sqlite3_stmt *s = st_stmt(st, ST_MSG_TRUNCATE);
        sqlite3_bind_int64(s, 1, session_id);
        sqlite3_bind_int64(s, 2, after_seq < 0 ? 0 : after_seq);
        rc = st_exec(s) ? sqlite3_changes(st->db) : st_fail(st, err, "cannot delete messages");
    }
    if (rc >= 0) {
        int n = rc;
        rc = st_commit(st, err);
        if (!rc)
            rc = n;
    }
    st_unlock(st);
    return rc;
}

int store_recover_interrupted(struct store *st, struct smol_err *err)
{
    st_lock(st);
    sqlite3_stmt *s = st_stmt(st, ST_MSG_RECOVER);
    sqlite3_bind_int64(s, 9, st_now_ms());
    int rc = st_exec(s) ? sqlite3_changes(st->db)
                        : st_fail(st, err, "cannot recover interrupted answers");
    st_unlock(st);
    return rc;
}
