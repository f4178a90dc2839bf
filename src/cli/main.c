/*
 * main.c: the smolbot command line: dispatch to one command per file.
 * The only place in smolbot that exits.
 */
#include "cli.h"

#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"chat", cmd_chat, "chat in the terminal"},
    {"serve", cmd_serve, "serve the OpenAI-compatible API (and the web chat) over HTTP"},
    {"run", cmd_run, "generate text from a prompt or token ids"},
    {"info", cmd_info, "describe a GGUF model"},
    {"tokenize", cmd_tokenize, "print the token ids of a text as JSON"},
    {"logits", cmd_logits, "write the logits of every position to a file"},
    {"pull", cmd_pull, "download a model (default SmolLM3-3B Q4_K_M) into the models directory"},
    {"template", cmd_template, "print the prompt the chat template makes of a conversation"},
    {"quantize", cmd_quantize, "convert a model's weights to another type (llama-quantize's mixes)"},
    {"synth", cmd_synth, "write a random-weight SmolLM3 model (any shape, type, vocabulary)"},
    {"bench", cmd_bench, "measure prompt and decode speed against this machine's memory bandwidth"},
};

static void main_usage(FILE *f)
{
    fprintf(f, "usage: smolbot COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'smolbot COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        main_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        main_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (!strcmp(argv[1], commands[i].name))
            exit(commands[i].fn(argc - 1, argv + 1));
    cli_fail("unknown command '%s' (try 'smolbot --help')", argv[1]);
    return 2;
}
