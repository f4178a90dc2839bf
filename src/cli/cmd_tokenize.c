/* cmd_tokenize.c: `smolbot tokenize -m MODEL [--no-special] TEXT|-`. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL;
    int flags = SMOL_TOKENIZE_SPECIAL;
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"no-special", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    static const char usage[] = "usage: smolbot tokenize -m MODEL.gguf [--no-special] TEXT (- reads stdin)";
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'S': flags = 0; break;
        case 'h': puts(usage); return 0;
        default: return cli_fail("%s", usage);
        }
    }
    if (optind != argc - 1)
        return cli_fail("%s", usage);
    const char *arg = argv[optind];
    char *text = NULL;
    size_t len;
    if (!strcmp(arg, "-")) {
        text = cli_read_stream(stdin, &len);
        if (!text)
            return cli_fail("cannot read standard input");
    } else {
        len = strlen(arg);
    }
    struct smol_model *m = cli_open_model(model, 1, CLI_OPEN_VOCAB);
    int rc = 1;
    if (m) {
        int n;
        int32_t *ids = cli_tokenize(m, text ? text : arg, len, flags, &n);
        if (ids) {
            cli_print_ids(stdout, ids, n);
            free(ids);
            rc = 0;
        }
    }
    smol_model_close(m);
    free(text);
    return rc;
}
