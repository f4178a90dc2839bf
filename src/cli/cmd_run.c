/*
 * cmd_run.c: `smolbot run`: one generation from a prompt (rendered with
 * the chat template unless --raw) or from token ids. Text streams to
 * stdout as it is produced; speed goes to stderr at the end.
 */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char run_usage[] =
    "usage: smolbot run -m MODEL.gguf (-p PROMPT | --ids 1,2,3) [options]\n"
    "  -p, --prompt TEXT     user message (chat template applied unless --raw)\n"
    "      --ids LIST        comma-separated prompt token ids (no template)\n"
    "      --raw             tokenize PROMPT as is, without the chat template\n"
    "      --system TEXT     system prompt for the chat template\n"
    "      --no-think        render the prompt in no-thinking mode (default: thinking)\n"
    "  -n, --max-tokens N    tokens to generate (default 256)\n"
    "  -c, --ctx N           context size (default: prompt + N, at most the model's)\n"
    "      --temp T          temperature, 0 = greedy (default 0.6)\n"
    "      --top-k K         keep the K most likely tokens (default off)\n"
    "      --top-p P         nucleus sampling (default 0.95)\n"
    "      --min-p P         drop tokens below P x the top probability (default off)\n"
    "      --repeat-penalty R  penalise recent tokens (default 1 = off)\n"
    "      --seed S          seed for reproducible sampling (default: random)\n"
    "      --ignore-eos      keep generating past end-of-generation tokens\n"
    "      --print-ids       print the generated ids as a JSON array instead of text\n"
    "  -t, --threads N       threads (default: all cores)\n";

struct run_out {
    bool print_ids;
    int32_t *ids;
    int n, cap;
};

static int run_on_piece(void *user, int32_t token, const char *text, size_t len)
{
    struct run_out *o = user;
    if (o->print_ids) {
        if (token < 0)
            return 0;
        if (o->n == o->cap) {
            int cap = o->cap ? o->cap * 2 : 64;
            int32_t *p = realloc(o->ids, (size_t)cap * sizeof(int32_t));
            if (!p)
                return 1;
            o->ids = p;
            o->cap = cap;
        }
        o->ids[o->n++] = token;
        return 0;
    }
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *ids_arg = NULL, *system = NULL;
    bool raw = false, thinking = true;
    long n_ctx = 0, threads = 0, max_tokens = 256;
    struct smol_gen_params gp = {0};
    smol_sampling_default(&gp.sampling);
    struct run_out out = {0};
    enum { O_IDS = 256, O_RAW, O_SYSTEM, O_NOTHINK, O_TEMP, O_TOPK, O_TOPP, O_MINP, O_REP,
           O_SEED, O_IGN, O_PIDS };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"prompt", required_argument, NULL, 'p'},
        {"ids", required_argument, NULL, O_IDS},
        {"raw", no_argument, NULL, O_RAW},
        {"system", required_argument, NULL, O_SYSTEM},
        {"no-think", no_argument, NULL, O_NOTHINK},
        {"max-tokens", required_argument, NULL, 'n'},
        {"ctx", required_argument, NULL, 'c'},
        {"temp", required_argument, NULL, O_TEMP},
        {"top-k", required_argument, NULL, O_TOPK},
        {"top-p", required_argument, NULL, O_TOPP},
        {"min-p", required_argument, NULL, O_MINP},
        {"repeat-penalty", required_argument, NULL, O_REP},
        {"seed", required_argument, NULL, O_SEED},
        {"ignore-eos", no_argument, NULL, O_IGN},
        {"print-ids", no_argument, NULL, O_PIDS},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    double d;
    long l;
    while ((c = getopt_long(argc, argv, "m:p:n:c:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': prompt = optarg; break;
        case O_IDS: ids_arg = optarg; break;
        case O_RAW: raw = true; break;
        case O_SYSTEM: system = optarg; break;
        case O_NOTHINK: thinking = false; break;
        case 'n': if (!cli_parse_int("-n", optarg, 0, 1 << 20, &max_tokens)) return 1; break;
        case 'c': if (!cli_parse_int("-c", optarg, 1, 1 << 20, &n_ctx)) return 1; break;
        case 't': if (!cli_parse_int("-t", optarg, 1, 1024, &threads)) return 1; break;
        case O_TEMP: if (!cli_parse_float("--temp", optarg, 0, 100, &d)) return 1;
            gp.sampling.temperature = (float)d; break;
        case O_TOPK: if (!cli_parse_int("--top-k", optarg, 0, 1 << 24, &l)) return 1;
            gp.sampling.top_k = (int)l; break;
        case O_TOPP: if (!cli_parse_float("--top-p", optarg, 0, 1, &d)) return 1;
            gp.sampling.top_p = (float)d; break;
        case O_MINP: if (!cli_parse_float("--min-p", optarg, 0, 1, &d)) return 1;
            gp.sampling.min_p = (float)d; break;
        case O_REP: if (!cli_parse_float("--repeat-penalty", optarg, 0.01, 100, &d)) return 1;
            gp.sampling.repeat_penalty = (float)d; break;
        case O_SEED: if (!cli_parse_u64("--seed", optarg, &gp.sampling.seed)) return 1; break;
        case O_IGN: gp.ignore_eos = true; break;
        case O_PIDS: out.print_ids = true; break;
        case 'h': fputs(run_usage, stdout); return 0;
        default: return cli_fail("see 'smolbot run --help'");
        }
    }
    if (optind < argc)
        return cli_fail("unexpected argument '%s' (see 'smolbot run --help')", argv[optind]);
    if (!!prompt == !!ids_arg)
        return cli_fail("give exactly one of -p PROMPT and --ids LIST");
    gp.max_tokens = (int)max_tokens;

    int rc = 1;
    int32_t *ids = NULL;
    int n_ids = 0;
    char *rendered = NULL;
    struct smol_seq *s = NULL;
    struct smol_model *m = cli_open_model(model, (int)threads, CLI_OPEN_RUN);
    if (!m)
        goto done;
    if (ids_arg) {
        if (!cli_parse_ids(ids_arg, &ids, &n_ids))
            goto done;
    } else {
        const char *text = prompt;
        struct smol_span *spans = NULL;
        int n_spans = 0;
        if (!raw) {
            /* the template's control tokens are parsed; the prompt's and
             * the system text's own "<|im_end|>" stay text */
            struct smol_message msgs[2];
            int n_msgs = 0;
            if (system && *system)
                msgs[n_msgs++] = (struct smol_message){.role = SMOL_ROLE_SYSTEM, .content = system};
            msgs[n_msgs++] = (struct smol_message){.role = SMOL_ROLE_USER, .content = prompt};
            const struct smol_chat_opts o = {.thinking = thinking ? 1 : 0};
            struct smol_err err = {0};
            rendered = smol_chat_render_spans(m, msgs, n_msgs, &o, &spans, &n_spans, &err);
            if (!rendered) {
                cli_fail("cannot render the prompt: %s", err.msg);
                goto done;
            }
            text = rendered;
        }
        ids = cli_tokenize_spans(m, text, strlen(text), raw ? 0 : SMOL_TOKENIZE_SPECIAL, spans,
                                 n_spans, &n_ids);
        free(spans);
        if (!ids)
            goto done;
    }
    if (n_ids == 0) {
        cli_fail("the prompt is empty");
        goto done;
    }
    struct smol_model_info info;
    smol_model_get_info(m, &info);
    if (n_ctx == 0)
        n_ctx = MIN((long)info.n_ctx_train, (long)n_ids + (max_tokens ? max_tokens : info.n_ctx_train));
    if (n_ids >= n_ctx) {
        cli_fail("the prompt has %d tokens but the context holds %ld (raise -c)", n_ids, n_ctx);
        goto done;
    }
    struct smol_err err = {0};
    s = smol_seq_new(m, (int)n_ctx, &err);
    if (!s) {
        cli_fail("%s", err.msg);
        goto done;
    }
    struct smol_gen_stats st;
    if (smol_generate(s, ids, n_ids, &gp, run_on_piece, &out, &st, &err) < 0) {
        cli_fail("%s", err.msg);
        goto done;
    }
    if (out.print_ids)
        cli_print_ids(stdout, out.ids, out.n);
    else
        putchar('\n');
    fprintf(stderr, "\n[prompt %d tokens in %.0f ms (%.1f tok/s); generated %d tokens in %.0f ms (%.2f tok/s)]\n",
            st.n_prompt, st.prompt_ms, st.prompt_ms > 0 ? st.n_prompt * 1000.0 / st.prompt_ms : 0.0,
            st.n_gen, st.gen_ms, st.gen_ms > 0 && st.n_gen > 1 ? (st.n_gen - 1) * 1000.0 / st.gen_ms : 0.0);
    rc = 0;
done:
    smol_seq_free(s);
    smol_model_close(m);
    free(ids);
    free(rendered);
    free(out.ids);
    return rc;
}
