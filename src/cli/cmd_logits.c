/*
 * cmd_logits.c: `smolbot logits -m MODEL --ids 1,2,3 -o FILE`: teacher-
 * forced logits of every position, little-endian float32
 * [n_ids][n_vocab], row i after feeding ids[0..i]. The parity checks
 * compare this with llama.cpp's.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

int cmd_logits(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *ids_arg = NULL;
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"ids", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    static const char usage[] = "usage: smolbot logits -m MODEL.gguf --ids 1,2,3 -o FILE";
    int c;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'i': ids_arg = optarg; break;
        case 'o': out = optarg; break;
        case 'h': puts(usage); return 0;
        default: return cli_fail("%s", usage);
        }
    }
    if (!ids_arg || !out || optind < argc)
        return cli_fail("%s", usage);
    int32_t *ids;
    int n;
    if (!cli_parse_ids(ids_arg, &ids, &n))
        return 1;
    int rc = 1;
    float *logits = NULL;
    struct smol_seq *s = NULL;
    struct smol_model *m = cli_open_model(model, 0, CLI_OPEN_RUN);
    if (!m)
        goto done;
    struct smol_err err = {0};
    s = smol_seq_new(m, n, &err);
    if (!s) {
        cli_fail("%s", err.msg);
        goto done;
    }
    const size_t n_vocab = (size_t)smol_n_vocab(m);
    logits = malloc((size_t)n * n_vocab * sizeof(float));
    if (!logits) {
        cli_fail("out of memory for %d x %zu logits", n, n_vocab);
        goto done;
    }
    if (smol_eval(s, ids, n, logits, SMOL_EVAL_ALL_LOGITS, &err) != 0) {
        cli_fail("%s", err.msg);
        goto done;
    }
    /* x86-64 and aarch64 Linux are little-endian: write as is */
    FILE *f = fopen(out, "wb");
    if (!f) {
        cli_fail("cannot write '%s': %s", out, strerror(errno));
        goto done;
    }
    size_t w = fwrite(logits, sizeof(float), (size_t)n * n_vocab, f);
    if (fclose(f) != 0 || w != (size_t)n * n_vocab) {
        cli_fail("cannot write '%s': %s", out, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(logits);
    smol_seq_free(s);
    smol_model_close(m);
    free(ids);
    return rc;
}
