/*
 * cmd_synth.c: `smolbot synth OUT.gguf [--shape S] [--type T] [--seed N]
 * [--vocab FROM.gguf]`: a random-weight SmolLM3 model, by default with
 * exactly SmolLM3-3B's shapes, as a Q4_K_M like the real file (synth.h
 * says how the weights are drawn). With --vocab the tokenizer, chat
 * template and vocabulary size come from another GGUF.
 *
 * A file tool like quantize: it uses the engine's synth.h and gguf.h,
 * not only smol.h.
 */
#include "cli.h"
#include "gguf.h"
#include "synth.h"

#include <getopt.h>
#include <sys/stat.h>
#include <time.h>

static const char synth_usage_line[] =
    "usage: smolbot synth OUT.gguf [--shape 3b|tiny|WxLxHxKVxFF] [--type TYPE] [--seed N] "
    "[--vocab FROM.gguf]";

int cmd_synth(int argc, char **argv)
{
    const char *shape_spec = "3b", *type = "Q4_K_M", *vocab_path = NULL;
    uint64_t seed = 1;
    static const struct option opts[] = {
        {"shape", required_argument, NULL, 's'}, {"type", required_argument, NULL, 'T'},
        {"seed", required_argument, NULL, 'S'},  {"vocab", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': shape_spec = optarg; break;
        case 'T': type = optarg; break;
        case 'v': vocab_path = optarg; break;
        case 'S':
            if (!cli_parse_u64("--seed", optarg, &seed))
                return 1;
            break;
        case 'h':
            printf("%s\nTYPE: %s (default Q4_K_M); shape default 3b\n", synth_usage_line,
                   quantize_scheme_names());
            return 0;
        default: return cli_fail("%s", synth_usage_line);
        }
    }
    if (argc - optind != 1)
        return cli_fail("synth needs exactly one output path (got %d arguments)", argc - optind);
    const char *out = argv[optind];

    struct smol_err err = {0};
    struct synth_opts o = {.seed = seed, .name = "smolbot synthetic"};
    if (synth_shape_parse(shape_spec, &o.shape, &err))
        return cli_fail("%s", err.msg);
    o.scheme = quantize_scheme_find(type);
    if (!o.scheme)
        return cli_fail("unknown type '%s' (one of %s)", type, quantize_scheme_names());
    struct gguf_file *vocab = NULL;
    if (vocab_path && gguf_open(&vocab, vocab_path, &err) != 0)
        return cli_fail("cannot open vocabulary '%s': %s", vocab_path, err.msg);
    o.vocab = vocab;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = synth_write_model(out, &o, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    gguf_close(vocab);
    if (rc)
        return cli_fail("cannot write '%s': %s", out, err.msg);
    struct stat st;
    long long size = stat(out, &st) == 0 ? (long long)st.st_size : -1;
    const struct synth_shape *s = &o.shape;
    printf("%s: %dx%dx%dx%dx%d %s, %s vocabulary, seed %llu: %lld bytes in %.1f s\n", out,
           s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->n_ff, o.scheme->name,
           vocab_path ? vocab_path : "generated", (unsigned long long)seed, size,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
