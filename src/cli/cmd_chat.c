/*
 * cmd_chat.c: `smolbot chat -m MODEL`, the terminal chat.
 *
 * A loop of: read a line (libedit: editing and history), run a slash
 * command or add a user message, render the whole conversation with the
 * template (dropping the oldest turns when it no longer fits), let the
 * sequence reuse its cached prefix (smol_seq_sync) and generate, with
 * the chat stream splitting reasoning (shown dimmed, or folded into one
 * line) from the answer. Ctrl-C stops the answer being generated and
 * keeps what was said; at the prompt it clears the line; Ctrl-D quits.
 * When stdin is not a terminal, all of it is one message: the answer is
 * printed and the command exits.
 */
#include "cli.h"
#include "buf.h"

#include <cJSON.h>
#include <editline/readline.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Set by SIGINT; read by the generation callback and the prompt loop.
 * A process-wide flag is the one thing a signal handler can touch. */
static volatile sig_atomic_t chat_interrupted;

static void chat_on_sigint(int sig)
{
    (void)sig;
    chat_interrupted = 1;
}

/* An owned message (the engine's struct smol_message borrows). */
struct chat_msg {
    int role;
    char *content;
    char *reasoning;
};

struct chat {
    struct smol_model *m;
    struct smol_seq *seq;
    struct chat_msg *msgs;
    int n_msgs, cap_msgs;
    char *system;           /* owned; NULL: the template's default */
    bool thinking;          /* reasoning mode for the next turns */
    bool show_thinking;     /* print reasoning dimmed (else one folded line) */
    bool tty;               /* stdout is a terminal: colours allowed */
    struct smol_gen_params gp;
    int n_ctx;
    /* last turn's figures, for /stats */
    int last_prompt, last_reused, last_gen, last_dropped;
    double last_ttft_ms, last_tps;
};

struct chat_turn {
    struct chat *c;
    struct smol_chat_stream *st;
    int in_reasoning;       /* printing inside a dimmed block */
    size_t n_reasoning;
    double t0, t_first;
    int n_tokens;
};

static double chat_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- messages ---- */

static void chat_clear(struct chat *c)
{
    for (int i = 0; i < c->n_msgs; i++) {
        free(c->msgs[i].content);
        free(c->msgs[i].reasoning);
    }
    c->n_msgs = 0;
}

static int chat_push(struct chat *c, int role, const char *content, const char *reasoning)
{
    if (c->n_msgs == c->cap_msgs) {
        int cap = c->cap_msgs ? c->cap_msgs * 2 : 16;
        struct chat_msg *p = realloc(c->msgs, (size_t)cap * sizeof(*p));
        if (!p)
            return -1;
        c->msgs = p;
        c->cap_msgs = cap;
    }
    struct chat_msg *mm = &c->msgs[c->n_msgs];
    mm->role = role;
    mm->content = strdup(content ? content : "");
    mm->reasoning = reasoning && *reasoning ? strdup(reasoning) : NULL;
    if (!mm->content)
        return -1;
    c->n_msgs++;
    return 0;
}

/* The engine's view of the conversation, with the system prompt first.
 * Returns a malloc'd array of *n borrowed messages. */
static struct smol_message *chat_view(const struct chat *c, int *n)
{
    struct smol_message *v = calloc((size_t)c->n_msgs + 1, sizeof(*v));
    if (!v)
        return NULL;
    int k = 0;
    if (c->system)
        v[k++] = (struct smol_message){.role = SMOL_ROLE_SYSTEM, .content = c->system};
    for (int i = 0; i < c->n_msgs; i++)
        v[k++] = (struct smol_message){.role = c->msgs[i].role, .content = c->msgs[i].content,
                                       .reasoning = c->msgs[i].reasoning};
    *n = k;
    return v;
}

/* ---- one turn ---- */

static void chat_dim(const struct chat *c, bool on)
{
    if (c->tty)
        fputs(on ? "\033[2m" : "\033[0m", stdout);
}

static int chat_on_event(void *user, int channel, const char *text, size_t len)
{
    struct chat_turn *t = user;
    struct chat *c = t->c;
    if (channel == SMOL_CH_REASONING) {
        t->n_reasoning += len;
        if (!c->show_thinking)
            return 0;
        if (!t->in_reasoning) {
            chat_dim(c, true);
            fputs("[thinking]\n", stdout);
            t->in_reasoning = 1;
        }
        fwrite(text, 1, len, stdout);
    } else {
        if (t->in_reasoning) {
            fputs("\n[/thinking]\n", stdout);
            chat_dim(c, false);
            t->in_reasoning = 0;
        } else if (t->n_reasoning && !c->show_thinking) {
            chat_dim(c, true);
            printf("[thought for %zu bytes; /show_thinking on shows it]\n", t->n_reasoning);
            chat_dim(c, false);
            t->n_reasoning = 0;
        }
        if (channel == SMOL_CH_TOOL_CALL || channel == SMOL_CH_TOOL_CALL_INCOMPLETE)
            printf("[tool call%s] ", channel == SMOL_CH_TOOL_CALL ? "" : " (incomplete)");
        fwrite(text, 1, len, stdout);
    }
    fflush(stdout);
    return 0;
}

static int chat_on_piece(void *user, int32_t token, const char *text, size_t len)
{
    struct chat_turn *t = user;
    if (token >= 0) {
        if (t->n_tokens++ == 0)
            t->t_first = chat_now_ms();
    }
    if (chat_interrupted)
        return 1;
    return smol_chat_stream_feed(t->st, text, len, chat_on_event, t) != 0;
}

/* Answers the conversation's last user message. 0, or 1 on an error
 * that was reported (the conversation keeps going). */
static int chat_answer(struct chat *c)
{
    int n_view = 0;
    struct smol_message *view = chat_view(c, &n_view);
    if (!view)
        return cli_fail("out of memory");
    struct smol_chat_opts o = {.thinking = c->thinking ? 1 : 0};
    struct smol_err err = {0};
    int32_t *toks = NULL;
    int n_toks = 0, dropped = 0, rc = 1;
    struct chat_turn t = {.c = c};
    const int reserve = MIN(c->gp.max_tokens > 0 ? c->gp.max_tokens : 512, c->n_ctx / 2);
    t.t0 = chat_now_ms();
    if (smol_chat_prompt(c->m, view, n_view, &o, c->n_ctx, reserve, &toks, &n_toks, &dropped,
                         &err) != 0) {
        cli_fail("%s", err.msg);
        goto done;
    }
    if (dropped) {
        chat_dim(c, true);
        printf("[%d old message%s left out to fit the %d-token context]\n", dropped,
               dropped == 1 ? "" : "s", c->n_ctx);
        chat_dim(c, false);
    }
    const bool thinking = smol_chat_thinking(c->m, view, n_view, &o);
    struct smol_chat_stream_opts so = {.thinking = thinking};
    t.st = smol_chat_stream_new(&so, &err);
    if (!t.st) {
        cli_fail("%s", err.msg);
        goto done;
    }
    int reused = 0;
    const int n_eval = smol_seq_sync(c->seq, toks, n_toks, &reused, &err);
    if (n_eval < 0) {
        cli_fail("%s", err.msg);
        goto done;
    }
    struct smol_gen_params gp = c->gp;
    const int room = smol_seq_n_ctx(c->seq) - smol_seq_len(c->seq);
    if (gp.max_tokens <= 0 || gp.max_tokens > room)
        gp.max_tokens = room;
    struct smol_gen_stats gs;
    chat_interrupted = 0;
    int n = smol_generate(c->seq, NULL, 0, &gp, chat_on_piece, &t, &gs, &err);
    if (n < 0) {
        cli_fail("%s", err.msg);
        goto done;
    }
    smol_chat_stream_finish(t.st, chat_on_event, &t);
    if (t.in_reasoning) {
        fputs("\n[/thinking]", stdout);
        chat_dim(c, false);
    }
    if (chat_interrupted) {
        chat_dim(c, true);
        fputs(" [stopped]", stdout);
        chat_dim(c, false);
    }
    fputc('\n', stdout);
    /* Keep what was said, in the form the template expects next turn. */
    char *content = smol_chat_stream_history(t.st);
    const char *reasoning = smol_chat_stream_reasoning(t.st, NULL);
    if (!content || chat_push(c, SMOL_ROLE_ASSISTANT, content, reasoning) != 0) {
        free(content);
        cli_fail("out of memory");
        goto done;
    }
    free(content);
    c->last_prompt = n_toks;
    c->last_reused = reused;
    c->last_gen = gs.n_gen;
    c->last_dropped = dropped;
    c->last_ttft_ms = t.n_tokens ? t.t_first - t.t0 : 0.0;
    c->last_tps = gs.gen_ms > 0 && gs.n_gen > 1 ? (gs.n_gen - 1) * 1000.0 / gs.gen_ms : 0.0;
    rc = 0;
done:
    chat_interrupted = 0;
    smol_chat_stream_free(t.st);
    free(toks);
    free(view);
    return rc;
}

/* ---- saving and loading ---- */

static const char *const chat_role_names[] = {"system", "user", "assistant", "tool"};

static int chat_save(const struct chat *c, const char *path)
{
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "messages");
    if (c->system) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", "system");
        cJSON_AddStringToObject(o, "content", c->system);
        cJSON_AddItemToArray(arr, o);
    }
    for (int i = 0; i < c->n_msgs; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", chat_role_names[c->msgs[i].role]);
        cJSON_AddStringToObject(o, "content", c->msgs[i].content);
        if (c->msgs[i].reasoning)
            cJSON_AddStringToObject(o, "reasoning_content", c->msgs[i].reasoning);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddBoolToObject(root, "thinking", c->thinking);
    cJSON_AddNumberToObject(root, "temperature", c->gp.sampling.temperature);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return cli_fail("out of memory");
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f || fputs(text, f) < 0 || fputc('\n', f) == EOF)
        rc = cli_fail("cannot write '%s': %s", path, strerror(errno));
    if (f && fclose(f) != 0 && rc == 0)
        rc = cli_fail("cannot write '%s': %s", path, strerror(errno));
    free(text);
    return rc;
}

static int chat_load(struct chat *c, const char *path)
{
    size_t len;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_fail("cannot read '%s': %s", path, strerror(errno));
    char *text = cli_read_stream(f, &len);
    fclose(f);
    if (!text)
        return cli_fail("cannot read '%s'", path);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(root);
        return cli_fail("'%s' is not a saved chat (no \"messages\" array)", path);
    }
    char *arr_text = cJSON_PrintUnformatted(arr);
    struct smol_message *msgs = NULL;
    int n = 0;
    struct smol_err err = {0};
    int rc = arr_text ? smol_messages_from_json(arr_text, strlen(arr_text), &msgs, &n, &err)
                      : SMOL_ENOMEM;
    free(arr_text);
    if (rc) {
        cJSON_Delete(root);
        return cli_fail("'%s': %s", path, err.msg[0] ? err.msg : "out of memory");
    }
    chat_clear(c);
    free(c->system);
    c->system = NULL;
    for (int i = 0; i < n && rc == 0; i++) {
        if (i == 0 && msgs[i].role == SMOL_ROLE_SYSTEM)
            rc = (c->system = strdup(msgs[i].content ? msgs[i].content : "")) ? 0 : -1;
        else
            rc = chat_push(c, msgs[i].role, msgs[i].content, msgs[i].reasoning);
    }
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(root, "thinking");
    if (cJSON_IsBool(th))
        c->thinking = cJSON_IsTrue(th);
    const cJSON *temp = cJSON_GetObjectItemCaseSensitive(root, "temperature");
    if (cJSON_IsNumber(temp) && temp->valuedouble >= 0 && temp->valuedouble <= 100)
        c->gp.sampling.temperature = (float)temp->valuedouble;
    smol_messages_free(msgs, n);
    cJSON_Delete(root);
    if (rc)
        return cli_fail("out of memory");
    printf("loaded %d messages from %s\n", c->n_msgs, path);
    return 0;
}

/* ---- commands ---- */

static const char chat_help[] =
    "/think            reason step by step before answering (SmolLM3's /think)\n"
    "/no_think         answer directly\n"
    "/show_thinking on|off  show the reasoning dimmed, or fold it into one line\n"
    "/system TEXT      set the system prompt (empty: the default)\n"
    "/temp T           sampling temperature (0 = greedy)\n"
    "/clear            forget the conversation\n"
    "/save FILE        save the conversation as JSON\n"
    "/load FILE        load a saved conversation\n"
    "/stats            tokens, speed, time to first token, context used\n"
    "/help             this list\n"
    "/quit             leave (or Ctrl-D); Ctrl-C stops an answer\n";

/* Runs a slash command. Returns 1 to quit, else 0. */
static int chat_command(struct chat *c, char *line)
{
    char *arg = line + strcspn(line, " \t");
    if (*arg) {
        *arg++ = '\0';
        arg += strspn(arg, " \t");
    }
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit"))
        return 1;
    if (!strcmp(line, "/help")) {
        fputs(chat_help, stdout);
    } else if (!strcmp(line, "/think")) {
        c->thinking = true;
        puts("thinking on");
    } else if (!strcmp(line, "/no_think")) {
        c->thinking = false;
        puts("thinking off");
    } else if (!strcmp(line, "/show_thinking")) {
        if (strcmp(arg, "on") && strcmp(arg, "off")) {
            cli_fail("/show_thinking expects on or off");
            return 0;
        }
        c->show_thinking = !strcmp(arg, "on");
        printf("reasoning %s\n", c->show_thinking ? "shown" : "folded");
    } else if (!strcmp(line, "/system")) {
        free(c->system);
        c->system = *arg ? strdup(arg) : NULL;
        puts(*arg ? "system prompt set" : "system prompt reset to the default");
    } else if (!strcmp(line, "/temp")) {
        double t;
        if (cli_parse_float("/temp", arg, 0, 100, &t)) {
            c->gp.sampling.temperature = (float)t;
            printf("temperature %g\n", t);
        }
    } else if (!strcmp(line, "/clear")) {
        chat_clear(c);
        smol_seq_truncate(c->seq, 0);
        puts("conversation cleared");
    } else if (!strcmp(line, "/save")) {
        if (!*arg)
            cli_fail("/save expects a file name");
        else if (chat_save(c, arg) == 0)
            printf("saved %d messages to %s\n", c->n_msgs, arg);
    } else if (!strcmp(line, "/load")) {
        if (!*arg)
            cli_fail("/load expects a file name");
        else
            chat_load(c, arg);
    } else if (!strcmp(line, "/stats")) {
        printf("messages: %d\ncontext: %d of %d tokens used\n"
               "last turn: prompt %d tokens (%d reused from the cache, %d evaluated), "
               "%d generated, %.1f tokens/s, first token after %.0f ms%s\n",
               c->n_msgs, smol_seq_len(c->seq), smol_seq_n_ctx(c->seq), c->last_prompt,
               c->last_reused, c->last_prompt - c->last_reused, c->last_gen, c->last_tps,
               c->last_ttft_ms, c->last_dropped ? " (old messages left out)" : "");
    } else {
        cli_fail("unknown command '%s' (try /help)", line);
    }
    return 0;
}

/* ---- the command ---- */

static const char chat_usage[] =
    "usage: smolbot chat -m MODEL.gguf [options]\n"
    "  -c, --ctx N         context size (default 4096, at most the model's)\n"
    "  -n, --max-tokens N  most tokens per answer (default: what the context allows)\n"
    "      --temp T        temperature (default 0.6; 0 = greedy)\n"
    "      --top-p P       nucleus sampling (default 0.95)\n"
    "      --seed S        reproducible sampling\n"
    "      --system TEXT   system prompt\n"
    "      --no-think      start with thinking off\n"
    "      --hide-thinking fold the reasoning into one line\n"
    "  -t, --threads N     threads (default: all cores)\n"
    "Type /help in the chat for its commands.\n";

int cmd_chat(int argc, char **argv)
{
    const char *model = NULL;
    long n_ctx = 4096, threads = 0, max_tokens = 0;
    struct chat c = {.thinking = true, .show_thinking = true};
    smol_sampling_default(&c.gp.sampling);
    enum { O_TEMP = 256, O_TOPP, O_SEED, O_SYSTEM, O_NOTHINK, O_HIDE };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"ctx", required_argument, NULL, 'c'},
        {"max-tokens", required_argument, NULL, 'n'}, {"temp", required_argument, NULL, O_TEMP},
        {"top-p", required_argument, NULL, O_TOPP}, {"seed", required_argument, NULL, O_SEED},
        {"system", required_argument, NULL, O_SYSTEM}, {"no-think", no_argument, NULL, O_NOTHINK},
        {"hide-thinking", no_argument, NULL, O_HIDE}, {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0},
    };
    int opt;
    double d;
    while ((opt = getopt_long(argc, argv, "m:c:n:t:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'm': model = optarg; break;
        case 'c': if (!cli_parse_int("-c", optarg, 16, 1 << 20, &n_ctx)) return 1; break;
        case 'n': if (!cli_parse_int("-n", optarg, 0, 1 << 20, &max_tokens)) return 1; break;
        case 't': if (!cli_parse_int("-t", optarg, 1, 1024, &threads)) return 1; break;
        case O_TEMP: if (!cli_parse_float("--temp", optarg, 0, 100, &d)) return 1;
            c.gp.sampling.temperature = (float)d; break;
        case O_TOPP: if (!cli_parse_float("--top-p", optarg, 0, 1, &d)) return 1;
            c.gp.sampling.top_p = (float)d; break;
        case O_SEED: if (!cli_parse_u64("--seed", optarg, &c.gp.sampling.seed)) return 1; break;
        case O_SYSTEM: free(c.system); c.system = strdup(optarg); break;
        case O_NOTHINK: c.thinking = false; break;
        case O_HIDE: c.show_thinking = false; break;
        case 'h': fputs(chat_usage, stdout); return 0;
        default: free(c.system); return cli_fail("see 'smolbot chat --help'");
        }
    }
    c.gp.max_tokens = (int)max_tokens;
    if (optind < argc) {
        free(c.system);
        return cli_fail("unexpected argument '%s' (see 'smolbot chat --help')", argv[optind]);
    }
    int rc = 1;
    c.m = cli_open_model(model, (int)threads, CLI_OPEN_RUN);
    if (!c.m)
        goto done;
    struct smol_model_info info;
    smol_model_get_info(c.m, &info);
    c.n_ctx = (int)MIN(n_ctx, (long)info.n_ctx_train);
    struct smol_err err = {0};
    c.seq = smol_seq_new(c.m, c.n_ctx, &err);
    if (!c.seq) {
        cli_fail("%s", err.msg);
        goto done;
    }
    c.tty = isatty(STDOUT_FILENO);

    if (!isatty(STDIN_FILENO)) {
        /* One message from the pipe, one answer, then exit. */
        size_t len;
        char *text = cli_read_stream(stdin, &len);
        if (!text) {
            cli_fail("cannot read standard input");
            goto done;
        }
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            text[--len] = '\0';
        if (!len) {
            free(text);
            cli_fail("standard input is empty: nothing to answer");
            goto done;
        }
        int pushed = chat_push(&c, SMOL_ROLE_USER, text, NULL);
        free(text);
        rc = pushed == 0 ? chat_answer(&c) : cli_fail("out of memory");
        goto done;
    }

    struct sigaction sa = {0};
    sa.sa_handler = chat_on_sigint; /* no SA_RESTART: interrupt the line read */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    printf("smolbot: chatting with %s (%s, thinking %s). /help lists commands, Ctrl-D quits.\n",
           info.name[0] ? info.name : model, info.arch, c.thinking ? "on" : "off");
    for (;;) {
        chat_interrupted = 0;
        char *line = readline("> ");
        if (!line) {
            if (chat_interrupted) { /* Ctrl-C at the prompt: a fresh line */
                putchar('\n');
                continue;
            }
            putchar('\n');
            break;
        }
        char *s = line + strspn(line, " \t");
        if (!*s) {
            free(line);
            continue;
        }
        add_history(s);
        if (*s == '/') {
            int quit = chat_command(&c, s);
            free(line);
            if (quit)
                break;
            continue;
        }
        if (chat_push(&c, SMOL_ROLE_USER, s, NULL) != 0) {
            free(line);
            cli_fail("out of memory");
            goto done;
        }
        free(line);
        chat_answer(&c);
    }
    rc = 0;
done:
    chat_clear(&c);
    free(c.msgs);
    free(c.system);
    smol_seq_free(c.seq);
    smol_model_close(c.m);
    return rc;
}
