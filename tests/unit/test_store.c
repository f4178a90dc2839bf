/*
 * test_store.c: the chat store: sessions, messages, export and import,
 * migrations, bad files, permissions, threads, and kill -9 mid-write.
 *
 * Each test works in its own fresh directory. Some checks look at the
 * database with SQLite directly, to see what is on disk rather than
 * what the store says.
 */
#include "testutil.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------- */

static char dir_path[512];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* A fresh directory per test (state), removed afterwards. */
static int setup_dir(void **state)
{
    snprintf(dir_path, sizeof(dir_path), "%s", test_tmp_path("-store"));
    if (mkdir(dir_path, 0755) != 0)
        return -1;
    *state = dir_path;
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    chmod(dir_path, 0755);
    nftw(dir_path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* dir_path/name in a static buffer (4 rotating slots). */
static const char *in_dir(const char *name)
{
    static char slots[4][600];
    static unsigned k;
    char *p = slots[k++ % 4];
    snprintf(p, sizeof(slots[0]), "%s/%s", dir_path, name);
    return p;
}

static struct store *open_ok(const char *path)
{
    struct smol_err e = {0};
    struct store *st = NULL;
    int rc = store_open(path, &st, &e);
    if (rc)
        fail_msg("store_open(%s): %s", path, e.msg);
    return st;
}

/* The first column of a one-row query, run on a separate connection. */
static void raw_query(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static int64_t append(struct store *st, int64_t sid, enum store_role role, const char *text)
{
    struct store_message m = {.role = role, .status = STORE_MSG_COMPLETE, .content = (char *)text};
    struct smol_err e = {0};
    int64_t id = 0;
    if (store_message_append(st, sid, &m, &id, NULL, &e))
        fail_msg("append: %s", e.msg);
    return id;
}

/* ---- opening ------------------------------------------------------- */

static void test_default_path_and_modes(void **state)
{
    (void)state;
    char path[600], want[600];
    struct smol_err e = {0};
    const char *old_xdg = getenv("XDG_DATA_HOME");
    char saved[512] = "";
    if (old_xdg)
        snprintf(saved, sizeof(saved), "%s", old_xdg);

    setenv("XDG_DATA_HOME", in_dir("xdg/data"), 1);
    assert_int_equal(store_default_path(path, sizeof(path), &e), 0);
    snprintf(want, sizeof(want), "%s/xdg/data/smolbot/chats.db", dir_path);
    assert_string_equal(path, want);
    /* A relative XDG_DATA_HOME is ignored, as the spec says. */
    setenv("XDG_DATA_HOME", "relative/dir", 1);
    setenv("HOME", in_dir("home"), 1);
    assert_int_equal(store_default_path(path, sizeof(path), &e), 0);
    snprintf(want, sizeof(want), "%s/home/.local/share/smolbot/chats.db", dir_path);
    assert_string_equal(path, want);
    assert_int_equal(store_default_path(path, 10, &e), SMOL_ERANGE);

    /* NULL opens the default file, creating private directories. */
    setenv("XDG_DATA_HOME", in_dir("xdg/data"), 1);
    struct store *st = open_ok(NULL);
    snprintf(want, sizeof(want), "%s/xdg/data/smolbot/chats.db", dir_path);
    assert_string_equal(store_path(st), want);
    store_close(st);
    struct stat sb;
    assert_int_equal(stat(in_dir("xdg/data/smolbot"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(in_dir("xdg"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(want, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    char v[64];
    raw_query(want, "PRAGMA journal_mode", v, sizeof(v));
    assert_string_equal(v, "wal");
    raw_query(want, "PRAGMA user_version", v, sizeof(v));
    assert_int_equal(atoi(v), STORE_SCHEMA_VERSION);

    /* The caller's path wins over the environment. */
    st = open_ok(in_dir("given/x.db"));
    assert_string_equal(store_path(st), in_dir("given/x.db"));
    store_close(st);
    assert_int_equal(stat(in_dir("given/x.db"), &sb), 0);

    if (old_xdg)
        setenv("XDG_DATA_HOME", saved, 1);
    else
        unsetenv("XDG_DATA_HOME");
}

static void expect_open_fails(const char *path, int code, const char *want)
{
    struct smol_err e = {0};
    struct store *st = (struct store *)1;
    int rc = store_open(path, &st, &e);
    if (rc != code || !strstr(e.msg, want))
        fail_msg("store_open(%s) = %d '%s', want %d with '%s'", path, rc, e.msg, code, want);
    assert_null(st);
}

static void test_bad_files(void **state)
{
    (void)state;
    /* Text is not SQLite. */
    char junk[4096];
    memset(junk, 'x', sizeof(junk));
    memcpy(junk, "hello, I am not a database\n", 27);
    assert_int_equal(test_write_file(in_dir("text.db"), junk, sizeof(junk)), 0);
    expect_open_fails(in_dir("text.db"), SMOL_EFORMAT, "is not a smolbot chat database");

    /* The SQLite magic followed by garbage: a corrupt header. */
    memcpy(junk, "SQLite format 3", 16);
    assert_int_equal(test_write_file(in_dir("corrupt.db"), junk, sizeof(junk)), 0);
    expect_open_fails(in_dir("corrupt.db"), SMOL_EFORMAT, "is not a smolbot chat database");

    /* Somebody else's SQLite database. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(in_dir("other.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_open_fails(in_dir("other.db"), SMOL_EFORMAT, "not smolbot's");

    /* A newer schema than ours. */
    struct store *st = open_ok(in_dir("new.db"));
    store_close(st);
    assert_int_equal(sqlite3_open(in_dir("new.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_open_fails(in_dir("new.db"), SMOL_EUNSUPPORTED, "schema version 99, newer");

    /* A directory where the file should be; a file where a directory
     * should be; an empty path. */
    assert_int_equal(mkdir(in_dir("adir"), 0755), 0);
    expect_open_fails(in_dir("adir"), SMOL_EINVAL, "is not a regular file");
    expect_open_fails(in_dir("text.db/sub/chats.db"), SMOL_EIO, "cannot create directory");
    expect_open_fails("", SMOL_EINVAL, "empty database path");
}

/* In a child (dropping root, which ignores permissions, to nobody),
 * opens a database in a directory it cannot write. */
static void test_read_only_directory(void **state)
{
    (void)state;
    assert_int_equal(mkdir(in_dir("ro"), 0755), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0) {
            /* nobody: the directory is root's 0755, so not writable */
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(3);
        } else if (chmod(in_dir("ro"), 0555) != 0) {
            _exit(3);
        }
        struct smol_err e = {0};
        struct store *st = NULL;
        int rc = store_open(in_dir("ro/chats.db"), &st, &e);
        if (write(fds[1], e.msg, strlen(e.msg)) < 0)
            _exit(4);
        store_close(st);
        _exit(rc == SMOL_EIO ? 0 : 1);
    }
    close(fds[1]);
    char msg[600] = "";
    ssize_t n = read(fds[0], msg, sizeof(msg) - 1);
    close(fds[0]);
    msg[n > 0 ? n : 0] = '\0';
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child: status %d, message '%s'", status, msg);
    assert_non_null(strstr(msg, "cannot write in directory"));
    assert_non_null(strstr(msg, "Permission denied"));
}

/* ---- migrations ---------------------------------------------------- */

/* The version 1 schema as it was, written by hand (not by the store),
 * with a chat in it. */
static const char *const v1_db =
    "CREATE TABLE sessions(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  title TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL, settings TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX sessions_by_update ON sessions(updated_ms DESC, id DESC);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  role TEXT NOT NULL CHECK(role IN ('system','user','assistant','tool')),"
    "  status TEXT NOT NULL DEFAULT 'complete'"
    "    CHECK(status IN ('complete','partial','generating')),"
    "  content TEXT NOT NULL DEFAULT '', reasoning TEXT, created_ms INTEGER NOT NULL,"
    "  UNIQUE(session_id, seq));"
    "INSERT INTO sessions VALUES(7, 'old chat', 1000, 2000, '{\"thinking\":false,\"temperature\":0.2}');"
    "INSERT INTO messages VALUES(1, 7, 1, 'user', 'complete', 'hi', NULL, 1000);"
    "INSERT INTO messages VALUES(2, 7, 2, 'assistant', 'generating', 'hel', 'think', 1500);"
    "PRAGMA user_version = 1;";

static void test_migration_from_v1(void **state)
{
    (void)state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(in_dir("v1.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_db, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct store *st = open_ok(in_dir("v1.db"));
    char v[32];
    raw_query(in_dir("v1.db"), "PRAGMA user_version", v, sizeof(v));
    assert_int_equal(atoi(v), STORE_SCHEMA_VERSION);

    struct smol_err e = {0};
    struct store_session s;
    assert_int_equal(store_session_get(st, 7, &s, &e), 0);
    assert_string_equal(s.title, "old chat");
    assert_false(s.settings.thinking);
    assert_true(s.settings.temperature == 0.2);
    assert_true(s.settings.top_p == 0.95); /* absent: the default */
    assert_int_equal(s.n_messages, 2);
    store_session_release(&s);

    struct store_message *m;
    size_t n;
    assert_int_equal(store_message_list(st, 7, &m, &n, &e), 2);
    assert_string_equal(m[0].content, "hi");
    assert_int_equal(m[1].status, STORE_MSG_GENERATING);
    assert_string_equal(m[1].reasoning, "think");
    assert_null(m[1].tool_calls); /* the new columns, empty */
    assert_int_equal(m[1].updated_ms, 1500);
    assert_int_equal(m[1].stats.n_gen, 0);
    store_messages_free(m, n);

    /* The new columns work, and the migrated chat keeps growing. */
    struct store_message tool = {.role = STORE_ROLE_TOOL, .content = "42",
                                 .tool_call_id = "call_1"};
    int64_t id, seq;
    assert_int_equal(store_message_append(st, 7, &tool, &id, &seq, &e), 0);
    assert_int_equal(seq, 3);
    store_close(st);

    /* Opening again is a no-op. */
    st = open_ok(in_dir("v1.db"));
    store_close(st);
}

/* ---- sessions and messages ----------------------------------------- */

static void test_sessions(void **state)
{
    (void)state;
    struct store *st = open_ok(in_dir("s.db"));
    struct smol_err e = {0};
    int64_t a, b, c;
    struct store_settings set;
    store_settings_init(&set);
    set.thinking = false;
    set.temperature = 1.25;
    set.max_tokens = 512;
    set.system_prompt = "Be brief. \xc3\xa9t\xc3\xa9";
    assert_int_equal(store_session_create(st, "first", &set, &a, &e), 0);
    assert_int_equal(store_session_create(st, NULL, NULL, &b, &e), 0);
    assert_int_equal(store_session_create(st, "third", NULL, &c, &e), 0);
    assert_true(a > 0 && b > a && c > b);

    struct store_session s;
    assert_int_equal(store_session_get(st, a, &s, &e), 0);
    assert_string_equal(s.title, "first");
    assert_false(s.settings.thinking);
    assert_true(s.settings.temperature == 1.25);
    assert_int_equal(s.settings.max_tokens, 512);
    assert_string_equal(s.settings.system_prompt, set.system_prompt);
    assert_true(s.created_ms > 1600000000000);
    store_session_release(&s);
    assert_int_equal(store_session_get(st, b, &s, &e), 0);
    assert_string_equal(s.title, "");
    assert_true(s.settings.thinking);
    assert_true(s.settings.temperature == 0.6);
    assert_null(s.settings.system_prompt);
    store_session_release(&s);

    /* Newest activity first: c, b, a; a message moves a to the top, a
     * rename does not move b. */
    struct store_session *v;
    size_t n;
    assert_int_equal(store_session_list(st, 0, 0, &v, &n, &e), 3);
    assert_true(v[0].id == c && v[1].id == b && v[2].id == a);
    store_sessions_free(v, n);
    append(st, a, STORE_ROLE_USER, "hello");
    assert_int_equal(store_session_rename(st, b, "renamed", &e), 0);
    assert_int_equal(store_session_list(st, 0, 0, &v, &n, &e), 3);
    assert_true(v[0].id == a && v[1].id == c && v[2].id == b);
    assert_int_equal(v[0].n_messages, 1);
    assert_string_equal(v[2].title, "renamed");
    assert_true(v[0].updated_ms > v[1].updated_ms && v[1].updated_ms > v[2].updated_ms);
    store_sessions_free(v, n);
    /* Paging. */
    assert_int_equal(store_session_list(st, 1, 1, &v, &n, &e), 1);
    assert_true(v[0].id == c);
    store_sessions_free(v, n);

    /* Settings replaced; bad settings refused. */
    set.temperature = 0;
    set.system_prompt = NULL;
    assert_int_equal(store_session_set_settings(st, a, &set, &e), 0);
    assert_int_equal(store_session_get(st, a, &s, &e), 0);
    assert_true(s.settings.temperature == 0);
    assert_null(s.settings.system_prompt);
    store_session_release(&s);
    set.temperature = 3;
    assert_int_equal(store_session_set_settings(st, a, &set, &e), SMOL_EINVAL);
    assert_non_null(strstr(e.msg, "temperature 3"));
    err_clear(&e);
    set.temperature = 0.5;
    set.top_p = -0.1;
    assert_int_equal(store_session_set_settings(st, a, &set, &e), SMOL_EINVAL);
    err_clear(&e);

    /* Bad titles: invalid UTF-8, too long. */
    assert_int_equal(store_session_rename(st, a, "bad \xff title", &e), SMOL_EINVAL);
    assert_non_null(strstr(e.msg, "not valid UTF-8 at byte 4"));
    err_clear(&e);
    char long_title[STORE_TITLE_MAX + 2];
    memset(long_title, 'a', sizeof(long_title) - 1);
    long_title[sizeof(long_title) - 1] = '\0';
    assert_int_equal(store_session_create(st, long_title, NULL, &c, &e), SMOL_EINVAL);
    err_clear(&e);

    /* Missing sessions. */
    assert_int_equal(store_session_get(st, 999, &s, &e), SMOL_ENOTFOUND);
    assert_non_null(strstr(e.msg, "no session 999"));
    err_clear(&e);
    assert_int_equal(store_session_rename(st, 999, "x", &e), SMOL_ENOTFOUND);
    err_clear(&e);
    assert_int_equal(store_session_delete(st, 999, &e), SMOL_ENOTFOUND);
    err_clear(&e);

    /* Delete takes the messages along; ids are not reused. */
    int64_t mid = append(st, a, STORE_ROLE_ASSISTANT, "hi there");
    assert_int_equal(store_session_delete(st, a, &e), 0);
    struct store_message m;
    assert_int_equal(store_message_get(st, mid, &m, &e), SMOL_ENOTFOUND);
    err_clear(&e);
    char cnt[32];
    raw_query(in_dir("s.db"), "SELECT count(*) FROM messages", cnt, sizeof(cnt));
    assert_string_equal(cnt, "0");
    int64_t d;
    assert_int_equal(store_session_create(st, "after", NULL, &d, &e), 0);
    assert_true(d > c);
    store_close(st);
}

static void test_messages(void **state)
{
    (void)state;
    struct store *st = open_ok(in_dir("m.db"));
    struct smol_err e = {0};
    int64_t sid, uid, aid, seq;
    assert_int_equal(store_session_create(st, "chat", NULL, &sid, &e), 0);

    struct store_message in = {.role = STORE_ROLE_USER, .content = "What is 2+2? \xe2\x82\xac"};
    assert_int_equal(store_message_append(st, sid, &in, &uid, &seq, &e), 0);
    assert_int_equal(seq, 1);

    /* An answer: appended as generating, checkpointed, finalised. */
    struct store_message ans = {.role = STORE_ROLE_ASSISTANT, .status = STORE_MSG_GENERATING};
    assert_int_equal(store_message_append(st, sid, &ans, &aid, &seq, &e), 0);
    assert_int_equal(seq, 2);
    ans.content = "It is";
    ans.reasoning = "Two plus two";
    assert_int_equal(store_message_update(st, aid, &ans, &e), 0);
    struct store_message got;
    assert_int_equal(store_message_get(st, aid, &got, &e), 0);
    assert_string_equal(got.content, "It is");
    assert_int_equal(got.status, STORE_MSG_GENERATING);
    store_message_release(&got);

    ans.status = STORE_MSG_COMPLETE;
    ans.content = "It is 4.";
    ans.reasoning = "Two plus two is four.";
    ans.stats = (struct store_stats){.n_prompt = 17, .n_cached = 3, .n_gen = 9,
                                     .prompt_tps = 120.5, .gen_tps = 21.25, .ttft_ms = 88.0};
    snprintf(ans.stats.stop_reason, sizeof(ans.stats.stop_reason), "stop");
    assert_int_equal(store_message_update(st, aid, &ans, &e), 0);

    /* A tool call and its result. */
    struct store_message call = {
        .role = STORE_ROLE_ASSISTANT,
        .tool_calls = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
                      "{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":2}\"}}]"};
    int64_t cid;
    assert_int_equal(store_message_append(st, sid, &call, &cid, NULL, &e), 0);
    struct store_message result = {.role = STORE_ROLE_TOOL, .content = "4",
                                   .tool_call_id = "call_1"};
    int64_t rid;
    assert_int_equal(store_message_append(st, sid, &result, &rid, &seq, &e), 0);
    assert_int_equal(seq, 4);

    struct store_message *v;
    size_t n;
    assert_int_equal(store_message_list(st, sid, &v, &n, &e), 4);
    assert_int_equal(v[0].role, STORE_ROLE_USER);
    assert_string_equal(v[0].content, in.content);
    assert_null(v[0].reasoning);
    assert_int_equal(v[1].seq, 2);
    assert_int_equal(v[1].status, STORE_MSG_COMPLETE);
    assert_string_equal(v[1].content, "It is 4.");
    assert_string_equal(v[1].reasoning, "Two plus two is four.");
    assert_int_equal(v[1].stats.n_prompt, 17);
    assert_int_equal(v[1].stats.n_cached, 3);
    assert_int_equal(v[1].stats.n_gen, 9);
    assert_true(v[1].stats.gen_tps == 21.25 && v[1].stats.ttft_ms == 88.0);
    assert_string_equal(v[1].stats.stop_reason, "stop");
    assert_true(v[1].updated_ms >= v[1].created_ms);
    assert_string_equal(v[2].tool_calls, call.tool_calls);
    assert_string_equal(v[2].content, "");
    assert_string_equal(v[3].tool_call_id, "call_1");
    assert_int_equal(v[3].role, STORE_ROLE_TOOL);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].session_id, sid);
    store_messages_free(v, n);

    /* Refused: bad UTF-8, bad tool_calls, bad stats, bad enums, a
     * missing session or message. Nothing is written. */
    struct store_message bad = {.role = STORE_ROLE_USER, .content = "caf\xc3"};
    assert_int_equal(store_message_append(st, sid, &bad, &rid, NULL, &e), SMOL_EINVAL);
    assert_non_null(strstr(e.msg, "message content is not valid UTF-8 at byte 3"));
    err_clear(&e);
    bad.content = "ok";
    bad.tool_calls = "{\"not\":\"an array\"}";
    assert_int_equal(store_message_append(st, sid, &bad, &rid, NULL, &e), SMOL_EINVAL);
    assert_non_null(strstr(e.msg, "tool_calls"));
    err_clear(&e);
    bad.tool_calls = "[1, 2";
    assert_int_equal(store_message_append(st, sid, &bad, &rid, NULL, &e), SMOL_EINVAL);
    err_clear(&e);
    bad.tool_calls = NULL;
    bad.stats.gen_tps = -1;
    assert_int_equal(store_message_append(st, sid, &bad, &rid, NULL, &e), SMOL_EINVAL);
    err_clear(&e);
    bad.stats.gen_tps = 0;
    snprintf(bad.stats.stop_reason, sizeof(bad.stats.stop_reason), "Stop!");
    assert_int_equal(store_message_append(st, sid, &bad, &rid, NULL, &e), SMOL_EINVAL);
    err_clear(&e);
    bad.stats.stop_reason[0] = '\0';
    bad.role = (enum store_role)9;
    assert_int_equal(store_message_append(st, sid, &bad, &rid, NULL, &e), SMOL_EINVAL);
    err_clear(&e);
    bad.role = STORE_ROLE_USER;
    assert_int_equal(store_message_append(st, 4242, &bad, &rid, NULL, &e), SMOL_ENOTFOUND);
    err_clear(&e);
    assert_int_equal(store_message_update(st, 4242, &bad, &e), SMOL_ENOTFOUND);
    err_clear(&e);
    assert_int_equal(store_message_list(st, 4242, &v, &n, &e), SMOL_ENOTFOUND);
    err_clear(&e);
    char cnt[32];
    raw_query(in_dir("m.db"), "SELECT count(*) FROM messages", cnt, sizeof(cnt));
    assert_string_equal(cnt, "4");

    /* Edit the first user message and regenerate: truncate after it. */
    in.content = "What is 3+3?";
    assert_int_equal(store_message_update(st, uid, &in, &e), 0);
    assert_int_equal(store_session_truncate(st, sid, 1, &e), 3);
    assert_int_equal(store_message_list(st, sid, &v, &n, &e), 1);
    assert_string_equal(v[0].content, "What is 3+3?");
    store_messages_free(v, n);
    /* The next message takes seq 2 again. */
    assert_int_equal(store_message_append(st, sid, &ans, &aid, &seq, &e), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(store_session_truncate(st, sid, 0, &e), 2);
    assert_int_equal(store_session_truncate(st, 4242, 0, &e), SMOL_ENOTFOUND);
    err_clear(&e);

    /* Recovery marks leftover GENERATING answers PARTIAL. */
    ans.status = STORE_MSG_GENERATING;
    ans.content = "half an ans";
    assert_int_equal(store_message_append(st, sid, &ans, &aid, NULL, &e), 0);
    assert_int_equal(store_recover_interrupted(st, &e), 1);
    assert_int_equal(store_message_get(st, aid, &got, &e), 0);
    assert_int_equal(got.status, STORE_MSG_PARTIAL);
    assert_string_equal(got.content, "half an ans");
    assert_string_equal(got.stats.stop_reason, "interrupted");
    assert_int_equal(got.stats.n_gen, 9); /* the rest of the stats stays */
    store_message_release(&got);
    assert_int_equal(store_recover_interrupted(st, &e), 0);
    store_close(st);

    /* An in-memory store works too (tests of other modules use it). */
    st = open_ok(":memory:");
    assert_int_equal(store_session_create(st, "m", NULL, &sid, &e), 0);
    append(st, sid, STORE_ROLE_USER, "x");
    store_close(st);
}

static void test_names(void **state)
{
    (void)state;
    enum store_role r;
    enum store_status s;
    for (int i = 0; i <= STORE_ROLE_TOOL; i++) {
        assert_true(store_role_parse(store_role_name((enum store_role)i), &r));
        assert_int_equal(r, i);
    }
    for (int i = 0; i <= STORE_MSG_GENERATING; i++) {
        assert_true(store_status_parse(store_status_name((enum store_status)i), &s));
        assert_int_equal(s, i);
    }
    assert_false(store_role_parse("User", &r));
    assert_false(store_status_parse("", &s));
    assert_string_equal(store_role_name((enum store_role)7), "?");
}

/* ---- export and import --------------------------------------------- */

static void test_export_import(void **state)
{
    (void)state;
    struct store *st = open_ok(in_dir("x.db"));
    struct smol_err e = {0};
    int64_t sid;
    struct store_settings set;
    store_settings_init(&set);
    set.system_prompt = "You are \"terse\".\n";
    set.top_p = 0.5;
    assert_int_equal(store_session_create(st, "Export \xe2\x9c\x93", &set, &sid, &e), 0);
    append(st, sid, STORE_ROLE_USER, "line1\nline2 <script>alert(1)</script> \\ \"q\"");
    struct store_message ans = {.role = STORE_ROLE_ASSISTANT, .status = STORE_MSG_PARTIAL,
                                .content = "partial", .reasoning = "hmm",
                                .tool_calls = "[{\"id\":\"c1\",\"function\":{\"name\":\"f\"}}]",
                                .stats = {.n_gen = 5, .gen_tps = 12.5, .stop_reason = "cancelled"}};
    int64_t aid;
    assert_int_equal(store_message_append(st, sid, &ans, &aid, NULL, &e), 0);

    char *json;
    size_t len;
    assert_int_equal(store_session_export(st, sid, &json, &len, &e), 0);
    assert_int_equal(strlen(json), len);
    assert_non_null(strstr(json, "\"format\":\t\"smolbot-chat\""));
    assert_non_null(strstr(json, "\"status\":\t\"partial\""));

    int64_t nid;
    assert_int_equal(store_session_import(st, json, len, &nid, &e), 0);
    assert_true(nid != sid);
    struct store_session a, b;
    assert_int_equal(store_session_get(st, sid, &a, &e), 0);
    assert_int_equal(store_session_get(st, nid, &b, &e), 0);
    assert_string_equal(a.title, b.title);
    assert_int_equal(a.created_ms, b.created_ms);
    assert_true(b.updated_ms > a.updated_ms); /* the import shows first */
    assert_string_equal(b.settings.system_prompt, set.system_prompt);
    assert_true(b.settings.top_p == 0.5 && b.settings.thinking);
    assert_int_equal(b.n_messages, 2);
    store_session_release(&a);
    store_session_release(&b);

    struct store_message *va, *vb;
    size_t na, nb;
    assert_int_equal(store_message_list(st, sid, &va, &na, &e), 2);
    assert_int_equal(store_message_list(st, nid, &vb, &nb, &e), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(va[i].role, vb[i].role);
        assert_int_equal(va[i].status, vb[i].status);
        assert_int_equal(va[i].seq, vb[i].seq);
        assert_int_equal(va[i].created_ms, vb[i].created_ms);
        assert_string_equal(va[i].content, vb[i].content);
        assert_memory_equal(&va[i].stats, &vb[i].stats, sizeof(va[i].stats));
    }
    assert_string_equal(vb[1].reasoning, "hmm");
    assert_string_equal(vb[1].stats.stop_reason, "cancelled");
    assert_string_equal(vb[1].tool_calls, "[{\"id\":\"c1\",\"function\":{\"name\":\"f\"}}]");
    store_messages_free(va, na);
    store_messages_free(vb, nb);

    /* Exporting the import gives the same document but for updated_ms. */
    char *json2;
    size_t len2;
    assert_int_equal(store_session_export(st, nid, &json2, &len2, &e), 0);
    char *u1 = strstr(json, "\"updated_ms\""), *u2 = strstr(json2, "\"updated_ms\"");
    assert_non_null(u1);
    assert_non_null(u2);
    assert_int_equal(u1 - json, u2 - json2);
    assert_memory_equal(json, json2, (size_t)(u1 - json));
    assert_string_equal(strchr(u1, '\n'), strchr(u2, '\n'));
    free(json2);
    free(json);

    assert_int_equal(store_session_export(st, 999, &json, &len, &e), SMOL_ENOTFOUND);
    store_close(st);
}

static void test_import_rejects(void **state)
{
    (void)state;
    struct store *st = open_ok(in_dir("i.db"));
#define HEAD "{\"format\":\"smolbot-chat\",\"version\":1,"
    static const struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"", "not valid JSON"},
        {"[1,2]", "the chat is not an object"},
        {"{\"format\":\"smolbot-chat\",\"version\":1,\"messages\":[]} x", "data after the JSON"},
        {"{\"format\":\"other\",\"version\":1,\"messages\":[]}", "format is not"},
        {"{\"format\":\"smolbot-chat\",\"version\":2,\"messages\":[]}", "only version 1"},
        {"{\"format\":\"smolbot-chat\",\"version\":1}", "lacks the key 'messages'"},
        {HEAD "\"messages\":[],\"evil\":1}", "unknown key 'evil'"},
        {HEAD "\"messages\":[],\"title\":\"a\",\"title\":\"b\"}", "the key 'title' twice"},
        {HEAD "\"messages\":{}}", "messages is not an array"},
        {HEAD "\"title\":5,\"messages\":[]}", "title is not a string"},
        {HEAD "\"created_ms\":-1,\"messages\":[]}", "created_ms must be an integer"},
        {HEAD "\"created_ms\":1.5,\"messages\":[]}", "created_ms must be an integer"},
        {HEAD "\"settings\":{\"temperature\":9},\"messages\":[]}", "temperature must be"},
        {HEAD "\"settings\":{\"thinking\":1},\"messages\":[]}", "thinking is not a boolean"},
        {HEAD "\"settings\":{\"max_tokens\":2.5},\"messages\":[]}", "max_tokens must be"},
        {HEAD "\"settings\":[],\"messages\":[]}", "settings is not an object"},
        {HEAD "\"messages\":[1]}", "messages[0] is not an object"},
        {HEAD "\"messages\":[{\"content\":\"x\"}]}", "messages[0] lacks the key 'role'"},
        {HEAD "\"messages\":[{\"role\":\"user\"}]}", "lacks the key 'content'"},
        {HEAD "\"messages\":[{\"role\":\"root\",\"content\":\"x\"}]}", "role must be"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
              "{\"role\":\"user\",\"content\":\"y\",\"status\":\"done\"}]}",
         "messages[1].status must be"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":7}]}", "content is not a string"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":{}}]}",
         "tool_calls is not an array of objects"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"stats\":{\"n_gen\":-4}}]}",
         "messages[0].stats.n_gen must be"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"stats\":{\"stop_reason\":\"<b>\"}}]}",
         "stop_reason must be"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"stats\":{\"who\":1}}]}",
         "unknown key 'who'"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", "\\u0000"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", "not valid UTF-8"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}", "not valid JSON"},
    };
#undef HEAD
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct smol_err e = {0};
        int64_t id = -1;
        int rc = store_session_import(st, cases[i].json, strlen(cases[i].json), &id, &e);
        if (rc >= 0 || !strstr(e.msg, cases[i].want))
            fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, e.msg, cases[i].want);
    }
    /* Nested too deep for cJSON, and too many bytes. */
    size_t deep = 5000;
    char *big = malloc(2 * deep + 200);
    int k = snprintf(big, 200, "{\"format\":\"smolbot-chat\",\"version\":1,\"messages\":[{"
                               "\"role\":\"user\",\"content\":\"x\",\"tool_calls\":");
    for (size_t i = 0; i < deep; i++)
        big[k++] = '[';
    for (size_t i = 0; i < deep; i++)
        big[k++] = ']';
    k += snprintf(big + k, 10, "}]}");
    struct smol_err e = {0};
    int64_t id;
    assert_int_equal(store_session_import(st, big, (size_t)k, &id, &e), SMOL_EFORMAT);
    free(big);
    err_clear(&e);
    assert_int_equal(store_session_import(st, "{}", STORE_IMPORT_MAX + 1, &id, &e), SMOL_EFORMAT);
    assert_non_null(strstr(e.msg, "more than the limit"));

    /* A failed import leaves nothing behind: not even the session row
     * when only the last message is bad. */
    err_clear(&e);
    const char *half = "{\"format\":\"smolbot-chat\",\"version\":1,\"title\":\"t\",\"messages\":["
                       "{\"role\":\"user\",\"content\":\"ok\"},"
                       "{\"role\":\"user\",\"content\":\"ok\",\"stats\":{\"ttft_ms\":\"slow\"}}]}";
    assert_int_equal(store_session_import(st, half, strlen(half), &id, &e), SMOL_EFORMAT);
    char cnt[32];
    raw_query(in_dir("i.db"), "SELECT count(*) FROM sessions", cnt, sizeof(cnt));
    assert_string_equal(cnt, "0");

    /* And a minimal valid one, with nulls for optional fields and a
     * generating message that becomes partial. */
    err_clear(&e);
    const char *ok = " {\"format\":\"smolbot-chat\",\"version\":1,\"messages\":["
                     "{\"role\":\"assistant\",\"content\":\"\",\"reasoning\":null,"
                     "\"status\":\"generating\",\"stats\":null}]}\n";
    assert_int_equal(store_session_import(st, ok, strlen(ok), &id, &e), 0);
    struct store_message *v;
    size_t n;
    assert_int_equal(store_message_list(st, id, &v, &n, &e), 1);
    assert_int_equal(v[0].status, STORE_MSG_PARTIAL);
    assert_null(v[0].reasoning);
    store_messages_free(v, n);
    store_close(st);
}

/* ---- threads and processes ----------------------------------------- */

enum { N_THREADS = 4, N_PER_THREAD = 25 };

struct writer {
    struct store *st;
    int64_t sid;
    int k;
    int failures;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < N_PER_THREAD; i++) {
        char text[32];
        snprintf(text, sizeof(text), "t%d-%d", w->k, i);
        struct store_message m = {.role = STORE_ROLE_USER, .content = text};
        struct smol_err e = {0};
        int64_t id;
        if (store_message_append(w->st, w->sid, &m, &id, NULL, &e) != 0) {
            fprintf(stderr, "writer %d: %s\n", w->k, e.msg);
            w->failures++;
        }
    }
    return NULL;
}

/* Threads sharing one store, and threads each with their own store on
 * the same file (the busy timeout queues them): every message lands,
 * numbered 1..N without gaps or repeats. */
static void test_concurrent_writers(void **state)
{
    (void)state;
    struct store *shared = open_ok(in_dir("c.db"));
    struct store *own[N_THREADS];
    struct smol_err e = {0};
    int64_t sid;
    assert_int_equal(store_session_create(shared, "busy", NULL, &sid, &e), 0);
    for (int round = 0; round < 2; round++) {
        pthread_t th[N_THREADS];
        struct writer w[N_THREADS];
        for (int k = 0; k < N_THREADS; k++) {
            own[k] = round ? open_ok(in_dir("c.db")) : NULL;
            w[k] = (struct writer){round ? own[k] : shared, sid, k + N_THREADS * round, 0};
            assert_int_equal(pthread_create(&th[k], NULL, writer_main, &w[k]), 0);
        }
        for (int k = 0; k < N_THREADS; k++) {
            pthread_join(th[k], NULL);
            assert_int_equal(w[k].failures, 0);
            store_close(own[k]);
        }
    }
    struct store_message *v;
    size_t n;
    assert_int_equal(store_message_list(shared, sid, &v, &n, &e), 2 * N_THREADS * N_PER_THREAD);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].seq, (int64_t)i + 1);
    store_messages_free(v, n);
    store_close(shared);
}

/* The child: writes messages as fast as it can, telling the parent the
 * id of each one once store_message_append has returned. */
static void crash_child(const char *path, int fd)
{
    struct smol_err e = {0};
    struct store *st = NULL;
    int64_t sid;
    if (store_open(path, &st, &e) || store_session_create(st, "crash", NULL, &sid, &e))
        _exit(2);
    for (int i = 0;; i++) {
        char text[64];
        snprintf(text, sizeof(text), "message %d", i);
        struct store_message m = {.role = i % 2 ? STORE_ROLE_ASSISTANT : STORE_ROLE_USER,
                                  .status = STORE_MSG_GENERATING, .content = text};
        int64_t id;
        if (store_message_append(st, sid, &m, &id, NULL, &e))
            _exit(3);
        /* a checkpoint, as an answer being streamed gets */
        m.status = STORE_MSG_COMPLETE;
        if (store_message_update(st, id, &m, &e))
            _exit(4);
        char line[64];
        int n = snprintf(line, sizeof(line), "%lld %d\n", (long long)id, i);
        if (write(fd, line, (size_t)n) != n)
            _exit(5);
    }
}

static void test_kill9_loses_nothing_committed(void **state)
{
    (void)state;
    const char *path = in_dir("k.db");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(path, fds[1]);
    }
    close(fds[1]);
    /* Once it has committed a few dozen messages, kill it mid-stride:
     * the kill lands at an arbitrary point of some append or update. */
    FILE *f = fdopen(fds[0], "r");
    static long long ids[100000];
    static int idx[100000];
    int n = 0;
    while (n < 40 && fscanf(f, "%lld %d", &ids[n], &idx[n]) == 2)
        n++;
    usleep(100 * 1000);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Everything else the child reported, in order. */
    while (n < 100000 && fscanf(f, "%lld %d", &ids[n], &idx[n]) == 2)
        n++;
    fclose(f);
    fprintf(stderr, "kill -9 test: the child reported %d committed messages\n", n);
    assert_true(n >= 40);

    char ok[64];
    raw_query(path, "PRAGMA integrity_check", ok, sizeof(ok));
    assert_string_equal(ok, "ok");
    struct store *st = open_ok(path);
    struct smol_err e = {0};
    for (int i = 0; i < n; i++) {
        struct store_message m;
        char want[64];
        snprintf(want, sizeof(want), "message %d", idx[i]);
        if (store_message_get(st, ids[i], &m, &e))
            fail_msg("message %lld (#%d) lost: %s", ids[i], idx[i], e.msg);
        assert_string_equal(m.content, want);
        assert_int_equal(m.status, STORE_MSG_COMPLETE);
        assert_int_equal(m.seq, idx[i] + 1);
        store_message_release(&m);
    }
    /* At most the message in flight was left generating. */
    int fixed = store_recover_interrupted(st, &e);
    assert_true(fixed == 0 || fixed == 1);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_path_and_modes, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_bad_files, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_read_only_directory, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_migration_from_v1, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_sessions, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_messages, setup_dir, teardown_dir),
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_export_import, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_import_rejects, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_kill9_loses_nothing_committed, setup_dir,
                                        teardown_dir),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
