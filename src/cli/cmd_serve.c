/*
 * cmd_serve.c: `smolbot serve`: the HTTP server with the OpenAI-compatible
 * API, the engine's worker, and the web chat with its chats in the store.
 *
 * Start-up order: the HTTP server listens first (answering 503 "loading"
 * while the model maps), then the model, the worker, ready. SIGINT and
 * SIGTERM are blocked in every thread and taken by sigwait here, so the
 * shutdown runs on this thread in a fixed order: stop accepting
 * connections, let the generations in flight end (at most
 * --shutdown-timeout seconds, then cancel them; the page's answers are
 * saved as far as they got), end the page's event streams, let the
 * replies reach the clients (at most 5 s more), close the rest, stop the
 * worker, close the store, exit 0.
 */
#include "cli.h"
#include "http.h"
#include "model_guard.h"
#include "openai.h"
#include "store.h"
#include "ui.h"
#include "worker.h"

#include <getopt.h>
#include <libgen.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <string.h>

static const char serve_usage[] =
    "usage: smolbot serve -m MODEL.gguf [options]\n"
    "  -m, --model PATH          the GGUF model to serve\n"
    "      --host ADDR           address to listen on (default 127.0.0.1: this machine only)\n"
    "      --port N              port (default 3000; 0 picks a free one, printed at start)\n"
    "  -c, --ctx N               context per conversation in tokens (default: the model's,\n"
    "                            at most 4096)\n"
    "  -t, --threads N           threads (default: all cores)\n"
    "      --api-key KEY         require 'Authorization: Bearer KEY' (also $SMOLBOT_API_KEY)\n"
    "      --db PATH             the web chat's database (default\n"
    "                            $XDG_DATA_HOME/smolbot/chats.db, else ~/.local/share/...)\n"
    "      --cors-origin ORIGIN  allow browser calls from ORIGIN (default: no CORS headers)\n"
    "      --alias NAME          the model id in the API (default: the file name)\n"
    "      --slots N             conversations whose KV cache is kept (default 2)\n"
    "      --max-body BYTES      request body limit (default 1048576)\n"
    "      --max-header BYTES    request line and headers limit (default 32768)\n"
    "      --max-connections N   open connections (default 64)\n"
    "      --max-streams N       streamed replies at once (default 16)\n"
    "      --max-queue N         generations queued or running (default 32)\n"
    "      --max-per-client N    of them from one client address (default 8)\n"
    "      --timeout S           idle connection timeout in seconds (default 120)\n"
    "      --sse-keepalive-ms MS keep-alive comment interval of event streams (default 30000)\n"
    "      --shutdown-timeout S  how long SIGINT/SIGTERM waits for generations (default 10)\n"
    "      --date TEXT           the chat template's date, \"DD Month YYYY\" (default: today)\n"
    "      --ui-token-delay-ms MS  slow the web chat's answers to one token per MS (tests)\n"
    "  -v, --verbose             log every request on stderr\n";

/* The model id: the file name without directories and ".gguf". */
static void serve_model_id(const char *path, char *out, size_t cap)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    snprintf(out, cap, "%s", basename(tmp));
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf"))
        out[n - 5] = '\0';
}

int cmd_serve(int argc, char **argv)
{
    const char *model = NULL, *alias = NULL, *db = NULL, *date = NULL;
    struct http_opts ho;
    http_opts_default(&ho);
    ho.api_key = getenv("SMOLBOT_API_KEY");
    struct openai_opts ao = {.max_streams = 16, .stream_buffer = 4u << 20, .stall_ms = 30000};
    openai_limits_default(&ao.limits);
    struct worker_opts wo = {.n_slots = 2, .max_queue = 32, .max_per_client = 8};
    long n_ctx = 0, threads = 0, v, shutdown_s = 10, ui_delay = 0;
    enum { O_HOST = 256, O_PORT, O_KEY, O_DB, O_CORS, O_ALIAS, O_SLOTS, O_BODY, O_HEADER,
           O_CONNS, O_STREAMS, O_QUEUE, O_PERCLIENT, O_TIMEOUT, O_KEEPALIVE, O_SHUTDOWN,
           O_DATE, O_UIDELAY };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"ctx", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"api-key", required_argument, NULL, O_KEY},
        {"db", required_argument, NULL, O_DB},
        {"cors-origin", required_argument, NULL, O_CORS},
        {"alias", required_argument, NULL, O_ALIAS},
        {"slots", required_argument, NULL, O_SLOTS},
        {"max-body", required_argument, NULL, O_BODY},
        {"max-header", required_argument, NULL, O_HEADER},
        {"max-connections", required_argument, NULL, O_CONNS},
        {"max-streams", required_argument, NULL, O_STREAMS},
        {"max-queue", required_argument, NULL, O_QUEUE},
        {"max-per-client", required_argument, NULL, O_PERCLIENT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"sse-keepalive-ms", required_argument, NULL, O_KEEPALIVE},
        {"shutdown-timeout", required_argument, NULL, O_SHUTDOWN},
        {"date", required_argument, NULL, O_DATE},
        {"ui-token-delay-ms", required_argument, NULL, O_UIDELAY},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "m:c:t:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case O_HOST: ho.host = optarg; break;
        case O_PORT: if (!cli_parse_int("--port", optarg, 0, 65535, &v)) return 1;
            ho.port = (int)v; break;
        case 'c': if (!cli_parse_int("-c", optarg, 16, 1 << 20, &n_ctx)) return 1; break;
        case 't': if (!cli_parse_int("-t", optarg, 1, 1024, &threads)) return 1; break;
        case O_KEY: ho.api_key = optarg; break;
        case O_DB: db = optarg; break;
        case O_CORS: ho.cors_origin = optarg; break;
        case O_ALIAS: alias = optarg; break;
        case O_SLOTS: if (!cli_parse_int("--slots", optarg, 1, WORKER_MAX_SLOTS, &v)) return 1;
            wo.n_slots = (int)v; break;
        case O_BODY: if (!cli_parse_int("--max-body", optarg, 1024, 1L << 30, &v)) return 1;
            ho.max_body = (size_t)v; break;
        case O_HEADER: if (!cli_parse_int("--max-header", optarg, 4096, 1 << 20, &v)) return 1;
            ho.max_header = (size_t)v; break;
        case O_CONNS: if (!cli_parse_int("--max-connections", optarg, 1, 100000, &v)) return 1;
            ho.max_connections = (int)v; break;
        case O_STREAMS: if (!cli_parse_int("--max-streams", optarg, 1, 100000, &v)) return 1;
            ao.max_streams = (int)v; break;
        case O_QUEUE: if (!cli_parse_int("--max-queue", optarg, 1, 100000, &v)) return 1;
            wo.max_queue = (int)v; break;
        case O_PERCLIENT: if (!cli_parse_int("--max-per-client", optarg, 1, 100000, &v)) return 1;
            wo.max_per_client = (int)v; break;
        case O_TIMEOUT: if (!cli_parse_int("--timeout", optarg, 1, 86400, &v)) return 1;
            ho.conn_timeout_s = (int)v; break;
        case O_KEEPALIVE: if (!cli_parse_int("--sse-keepalive-ms", optarg, 10, 3600000, &v)) return 1;
            ho.keepalive_ms = (int)v; break;
        case O_SHUTDOWN: if (!cli_parse_int("--shutdown-timeout", optarg, 0, 3600, &shutdown_s))
                return 1;
            break;
        case O_DATE: date = optarg; break;
        case O_UIDELAY: if (!cli_parse_int("--ui-token-delay-ms", optarg, 0, 10000, &ui_delay))
                return 1;
            break;
        case 'v': ho.log_requests = true; break;
        case 'h': fputs(serve_usage, stdout); return 0;
        default: return cli_fail("see 'smolbot serve --help'");
        }
    }
    if (optind < argc)
        return cli_fail("unexpected argument '%s' (see 'smolbot serve --help')", argv[optind]);
    if (!model)
        return cli_fail("no model given (use -m MODEL.gguf)");

#ifdef __GLIBC__
    /* Request bodies and replies of up to megabytes come and go on many
     * connection threads. glibc's default raises its mmap threshold to
     * the largest block freed, after which such blocks stay in the
     * per-thread arenas: one burst of big requests would keep tens of
     * MB resident for good (the soak test saw it). A fixed threshold
     * maps and unmaps them, so memory goes back after a burst. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    /* Before any thread exists: the signals go to sigwait below, and a
     * client that vanishes mid-write must not kill the process. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    struct smol_err err = {0};
    struct smol_model *m = NULL;
    struct worker *w = NULL;
    struct openai_api *api = NULL;
    struct http_server *srv = NULL;
    struct store *st = NULL;
    struct ui *ui = NULL;
    char id[256];
    serve_model_id(model, id, sizeof(id));
    ao.model_path = model;
    ao.model_id = alias ? alias : id;
    ao.n_slots = wo.n_slots;
    ao.date = date;
    /* the chats first: a database that cannot be opened stops us at once */
    if (store_open(db, &st, &err) < 0) {
        cli_fail("%s", err.msg);
        goto done;
    }
    int n_rec = store_recover_interrupted(st, &err);
    if (n_rec < 0) {
        cli_fail("%s", err.msg);
        goto done;
    }
    fprintf(stderr, "smolbot: chats in %s%s\n", store_path(st),
            n_rec > 0 ? " (answers cut by an earlier stop are kept as partial)" : "");
    struct ui_opts uo = {.model_id = alias ? alias : id, .model_path = model,
                         .api_key = ho.api_key, .date = date, .stream_buffer = ao.stream_buffer,
                         .stall_ms = ao.stall_ms, .max_streams = ao.max_streams * 2,
                         .token_delay_ms = (int)ui_delay};
    if (!(api = openai_new(&ao, &err)) || !(ui = ui_new(&uo, &err)) ||
        !(srv = http_new(&ho, &err)) || openai_register(api, srv) || ui_register(ui, srv) ||
        http_start(srv, &err)) {
        cli_fail("%s", err.code ? err.msg : "cannot set up the server");
        goto done;
    }
    fprintf(stderr, "smolbot: listening on http://%s%s%s:%d/ (loading %s)\n",
            strchr(ho.host, ':') ? "[" : "", ho.host, strchr(ho.host, ':') ? "]" : "",
            http_port(srv), model);
    fflush(stderr);

    m = cli_open_model(model, (int)threads, CLI_OPEN_RUN);
    if (!m)
        goto done;
    /* the weights are in memory unless SMOLBOT_MMAP maps the file; then a
     * file changed in place under the mapping gives 503s, not a SIGBUS */
    if (cli_map_weights() && model_guard_watch(model, &err) < 0) {
        fprintf(stderr, "smolbot: warning: %s\n", err.msg);
        err_clear(&err);
    }
    struct smol_model_info info;
    smol_model_get_info(m, &info);
    if (n_ctx > info.n_ctx_train) {
        cli_fail("-c %ld is more than the %d tokens the model was trained for", n_ctx,
                 info.n_ctx_train);
        goto done;
    }
    wo.n_ctx = n_ctx ? (int)n_ctx : MIN(info.n_ctx_train, 4096);
    if (!(w = worker_new(m, &wo, &err))) {
        cli_fail("%s", err.msg);
        goto done;
    }
    openai_attach(api, m, w, wo.n_ctx);
    if (ui_attach(ui, m, w, wo.n_ctx, st, &err) < 0) {
        cli_fail("%s", err.msg);
        goto done;
    }
    http_set_ready(srv, true);
    fprintf(stderr, "smolbot: ready: model '%s', context %d tokens, %d slot%s%s\n", ao.model_id,
            wo.n_ctx, wo.n_slots, wo.n_slots == 1 ? "" : "s",
            ho.api_key && *ho.api_key ? ", API key required" : "");
    fflush(stderr);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "smolbot: %s: shutting down (in-flight generations get up to %ld s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", shutdown_s);
    http_quiesce(srv);
    int n = worker_drain(w, (int)shutdown_s * 1000);
    if (n > 0)
        fprintf(stderr, "smolbot: cancelled %d generation%s at the shutdown timeout\n", n,
                n == 1 ? "" : "s");
    /* the answers are made; end the page's streams and let the last
     * bytes reach the clients */
    ui_shutdown(ui);
    n = http_drain(srv, 5000);
    if (n > 0)
        fprintf(stderr, "smolbot: closing %d request%s still in progress\n", n, n == 1 ? "" : "s");
    rc = 0;
done:
    ui_shutdown(ui);
    http_free(srv); /* ends every stream and connection first */
    worker_free(w); /* then no job refers to the page's chats */
    ui_free(ui);
    openai_free(api);
    store_close(st);
    model_guard_stop();
    smol_model_close(m);
    if (rc == 0)
        fprintf(stderr, "smolbot: stopped\n");
    return rc;
}
