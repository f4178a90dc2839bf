/* cmd_info.c: `smolbot info -m MODEL`: what a GGUF model is. */
#include "cli.h"

#include <getopt.h>

int cmd_info(int argc, char **argv)
{
    const char *model = NULL;
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'h': printf("usage: smolbot info -m MODEL.gguf\n"); return 0;
        default: return cli_fail("usage: smolbot info -m MODEL.gguf");
        }
    }
    if (optind < argc)
        return cli_fail("unexpected argument '%s'", argv[optind]);
    struct smol_model *m = cli_open_model(model, 0, CLI_OPEN_MAP);
    if (!m)
        return 1;
    struct smol_model_info in;
    smol_model_get_info(m, &in);
    printf("model:            %s\n", model);
    printf("name:             %s\n", in.name[0] ? in.name : "(none)");
    printf("architecture:     %s\n", in.arch);
    printf("vocabulary:       %d tokens (bos %d, eos %d)\n", in.n_vocab, in.bos, in.eos);
    printf("context (train):  %d\n", in.n_ctx_train);
    printf("embedding:        %d\n", in.n_embd);
    printf("layers:           %d", in.n_layer);
    if (in.nope_interval)
        printf(" (every %dth without RoPE)", in.nope_interval);
    printf("\n");
    printf("heads:            %d query, %d key/value, head dim %d\n", in.n_head, in.n_head_kv,
           in.head_dim);
    printf("feed-forward:     %d\n", in.n_ff);
    printf("rope:             base %g, %d dims\n", (double)in.rope_base, in.n_rot);
    printf("rms epsilon:      %g\n", (double)in.rms_eps);
    printf("embeddings:       %s\n", in.tied_embeddings ? "tied (no output.weight)" : "separate output.weight");
    printf("tensors:          %d (%s)\n", in.n_tensors, in.type_counts);
    printf("parameters:       %llu (%.2f M)\n", (unsigned long long)in.n_params, in.n_params / 1e6);
    printf("file size:        %llu bytes (%.2f MiB)\n", (unsigned long long)in.file_size,
           in.file_size / 1048576.0);
    printf("kernels:          %s, %d thread%s\n", in.kernels, in.n_threads, in.n_threads == 1 ? "" : "s");
    printf("chat template:    %s\n", !in.has_chat_template ? "absent (using ChatML)"
                                     : in.is_smollm3_template ? "present (SmolLM3)"
                                                              : "present, not SmolLM3 (using ChatML)");
    smol_model_close(m);
    return 0;
}
