/*
 * cmd_quantize.c: `smolbot quantize IN.gguf OUT.gguf TYPE [-t N]`: a
 * model's weights converted to another type or llama.cpp mix, as
 * llama-quantize makes it (quantize.h says what each TYPE means).
 *
 * Like the other tool commands (synth, bench), this one reaches past
 * smol.h into the engine's quantize.h: it is a file tool, not a client
 * of a loaded model.
 */
#include "cli.h"
#include "quantize.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

static void quantize_usage(FILE *f)
{
    fprintf(f, "usage: smolbot quantize IN.gguf OUT.gguf TYPE [-t THREADS]\n"
               "TYPE: %s\n", quantize_scheme_names());
}

int cmd_quantize(int argc, char **argv)
{
    long n_threads = 1;
    static const struct option opts[] = {
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!cli_parse_int("-t", optarg, 1, 64, &n_threads))
                return 1;
            break;
        case 'h': quantize_usage(stdout); return 0;
        default: return cli_fail("usage: smolbot quantize IN.gguf OUT.gguf TYPE [-t THREADS]");
        }
    }
    if (argc - optind != 3)
        return cli_fail("quantize needs IN.gguf OUT.gguf TYPE (got %d arguments)", argc - optind);
    const char *in = argv[optind], *out = argv[optind + 1], *type = argv[optind + 2];
    const struct quantize_scheme *s = quantize_scheme_find(type);
    if (!s)
        return cli_fail("unknown quantization type '%s' (one of %s)", type, quantize_scheme_names());
    if (!strcmp(in, out))
        return cli_fail("quantize: the output '%s' would overwrite the input", out);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct quantize_stats st;
    struct smol_err err = {0};
    if (quantize_file(in, out, s, (int)n_threads, &st, &err) != 0)
        return cli_fail("cannot quantize '%s': %s", in, err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    /* one summary: what it became and how big */
    char census[256] = "";
    size_t len = 0;
    for (uint32_t t = 0; t < GGML_TYPE_COUNT && len < sizeof(census); t++)
        if (st.type_count[t])
            len += (size_t)snprintf(census + len, sizeof(census) - len, "%s%s:%u", len ? " " : "",
                                    quant_type_info(t)->name, st.type_count[t]);
    printf("%s: %s, %d tensors (%s), %d converted, %d fallback; weights %.2f MiB -> %.2f MiB "
           "in %.1f s\n", out, s->name, st.n_tensors, census, st.n_converted, st.n_fallback,
           st.bytes_in / 1048576.0, st.bytes_out / 1048576.0, secs);
    return 0;
}
