/*
 * pull.h: downloading a model file over HTTP(S): resumable, verified,
 * and atomic.
 *
 * pull_file fetches one URL into DIR/NAME. While it runs the bytes go to
 * DIR/NAME.part; an interrupted download (a dropped connection, Ctrl-C,
 * a kill) leaves the .part behind and the next pull continues from its
 * end with an HTTP Range request. A server that ignores Range (answers
 * 200 with the whole file) is handled by starting the .part over. When
 * the bytes are all there, the size and the SHA-256 are checked; a
 * mismatch deletes the .part and fails, and only a verified file is
 * renamed (atomically, then fsync'd) to DIR/NAME. So a file under its
 * final name was always verified, which is why an existing one is
 * accepted on its size alone.
 *
 * The expected SHA-256 comes from the caller, else from the server:
 * Hugging Face sends the LFS object's SHA-256 as X-Linked-ETag (and its
 * size as X-Linked-Size) on the redirect from /resolve/, and that is used
 * when the caller gave none. With neither, only the size the server
 * announced is checked, and the computed hash is reported.
 *
 * Uses libcurl (http and https only, redirects only to http(s), and only
 * to https from an https URL) and OpenSSL's EVP for SHA-256. Not
 * thread-safe in one respect: curl_global_init runs on first use; call
 * pull_file from one thread at a time.
 *
 * Errors: 0 on success, a negative SMOL_E* with one sentence in *err
 * ("pull: ..."), for example "pull: cannot reach huggingface.co: Could
 * not resolve host: huggingface.co; download ... yourself and run
 * `MODEL=path make run`".
 */
#ifndef SMOL_PULL_H
#define SMOL_PULL_H

#include "base.h"
#include "err.h"

/* A model smolbot knows by name. */
struct pull_source {
    const char *name;      /* what `smolbot pull NAME` accepts */
    const char *path;      /* below the base URL ("/org/repo/resolve/main/file") */
    const char *file_name; /* the name it is saved under */
    uint64_t size;         /* exact bytes */
    const char *sha256;    /* 64 lower-case hex digits */
};

/* The name `smolbot pull` uses when given none. */
#define PULL_DEFAULT_NAME "smollm3"
/* Where known names are fetched from; SMOLBOT_PULL_BASE overrides it
 * (tests point it at a local server). */
#define PULL_DEFAULT_BASE "https://huggingface.co"

/* The source known as name (case-insensitive), or NULL. */
const struct pull_source *pull_find_source(const char *name);
/* The known sources, for help texts: *n entries. */
const struct pull_source *pull_sources(size_t *n);

struct pull_request {
    const char *url;       /* http:// or https:// */
    const char *dir;       /* destination; missing directories are created 0700 */
    const char *file_name; /* NULL: the URL's last path segment (pull_name_from_url) */
    const char *sha256;    /* 64 hex digits, or NULL (see above) */
    uint64_t size;         /* exact bytes, or 0 when unknown */
    bool verify_existing;  /* hash an existing DIR/NAME against sha256 too */
    int retries;           /* resumes within this call after a failed attempt */
    FILE *progress;        /* where progress goes, or NULL for none */
    bool progress_tty;     /* redraw one line in place; else plain lines */
};

struct pull_result {
    char path[4096];       /* DIR/NAME */
    uint64_t size;         /* bytes of the file */
    char sha256[65];       /* its SHA-256 (hex), when it was computed; else "" */
    bool existed;          /* already there: nothing was downloaded */
    uint64_t resumed_from; /* bytes a .part held when this call began */
};

/* Downloads rq->url as described above; fills *res. */
int pull_file(const struct pull_request *rq, struct pull_result *res, struct smol_err *err);

/* Checks that url is http(s) and writes its last path segment,
 * percent-decoded, into out. Refuses (SMOL_EINVAL) a name that is empty,
 * starts with '.', contains '/', '\\', "..", control characters or
 * invalid UTF-8, or is longer than 255 bytes: a URL must never choose
 * where on disk it lands. */
int pull_name_from_url(const char *url, char *out, size_t cap, struct smol_err *err);

/* True when url starts with http:// or https:// (any case). */
bool pull_url_ok(const char *url);

/* Writes the models directory into buf: $SMOLBOT_MODELS, else
 * $XDG_DATA_HOME/smolbot/models (when absolute), else
 * $HOME/.local/share/smolbot/models. */
int pull_models_dir(char *buf, size_t cap, struct smol_err *err);

/* Normalises a SHA-256 given by a person: 64 hex digits, any case, into
 * out[65] lower-case. false when it is not one. */
bool pull_parse_sha256(const char *s, char out[65]);

#endif
