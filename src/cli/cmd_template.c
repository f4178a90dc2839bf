/*
 * cmd_template.c: `smolbot template -m MODEL --messages FILE.json [...]`
 * prints the prompt the model's chat template makes of a conversation,
 * byte for byte and nothing else, so it can be diffed against a Jinja
 * render. The model is opened for its template only (vocab_only).
 */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char template_usage[] =
    "usage: smolbot template -m MODEL.gguf --messages FILE.json [options]\n"
    "  prints the rendered prompt on stdout, exactly\n"
    "      --messages FILE   an OpenAI-style messages array (- reads stdin)\n"
    "      --think           reasoning mode on (the template's default)\n"
    "      --no-think        reasoning mode off (/think or /no_think in the system message wins)\n"
    "      --tools FILE      an OpenAI-style tools array\n"
    "      --python-tools FILE  a tools array for the template's python_tools\n"
    "      --date DATE       \"DD Month YYYY\" for the header (default: today)\n"
    "      --no-generation-prompt  end after the last message";

/* Reads a whole file (or stdin for "-") into a malloc'd NUL-terminated
 * buffer; prints the failure. */
static char *template_read(const char *path, size_t *len)
{
    if (!strcmp(path, "-")) {
        char *s = cli_read_stream(stdin, len);
        if (!s)
            cli_fail("cannot read standard input");
        return s;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail("cannot open '%s'", path);
        return NULL;
    }
    char *s = cli_read_stream(f, len);
    bool bad = ferror(f);
    fclose(f);
    if (!s || bad) {
        free(s);
        cli_fail("cannot read '%s'", path);
        return NULL;
    }
    return s;
}

/* A tools file as NUL-terminated JSON text; a NUL byte inside would
 * silently cut it, so it is refused. */
static char *template_read_json(const char *path)
{
    size_t len;
    char *s = template_read(path, &len);
    if (s && strlen(s) != len) {
        cli_fail("%s: holds a NUL byte at offset %zu", path, strlen(s));
        free(s);
        return NULL;
    }
    return s;
}

int cmd_template(int argc, char **argv)
{
    enum { O_THINK = 256, O_NOTHINK, O_TOOLS, O_PYTOOLS, O_DATE, O_NOGEN, O_MESSAGES };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"messages", required_argument, NULL, O_MESSAGES},
        {"think", no_argument, NULL, O_THINK},
        {"no-think", no_argument, NULL, O_NOTHINK},
        {"tools", required_argument, NULL, O_TOOLS},
        {"python-tools", required_argument, NULL, O_PYTOOLS},
        {"date", required_argument, NULL, O_DATE},
        {"no-generation-prompt", no_argument, NULL, O_NOGEN},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *model = NULL, *messages = NULL, *tools = NULL, *pytools = NULL;
    struct smol_chat_opts co = {.thinking = -1};
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case O_MESSAGES: messages = optarg; break;
        case O_THINK: co.thinking = 1; break;
        case O_NOTHINK: co.thinking = 0; break;
        case O_TOOLS: tools = optarg; break;
        case O_PYTOOLS: pytools = optarg; break;
        case O_DATE: co.date = optarg; break;
        case O_NOGEN: co.no_generation_prompt = true; break;
        case 'h': puts(template_usage); return 0;
        default: return cli_fail("usage: smolbot template -m MODEL.gguf --messages FILE.json "
                                 "(see smolbot template --help)");
        }
    }
    if (optind != argc)
        return cli_fail("unexpected argument '%s' (see smolbot template --help)", argv[optind]);
    if (!messages)
        return cli_fail("no conversation given (use --messages FILE.json)");
    if (!model)
        return cli_fail("no model given (use -m MODEL.gguf)");

    int rc = 1;
    struct smol_model *m = NULL;
    struct smol_message *msgs = NULL;
    int n_msgs = 0;
    char *text = NULL, *tools_json = NULL, *pytools_json = NULL, *prompt = NULL;
    struct smol_err err = {0};
    size_t len;
    if (!(text = template_read(messages, &len)))
        goto out;
    if (smol_messages_from_json(text, len, &msgs, &n_msgs, &err) != 0) {
        cli_fail("%s: %s", messages, err.msg);
        goto out;
    }
    if (tools && !(co.tools_json = tools_json = template_read_json(tools)))
        goto out;
    if (pytools && !(co.python_tools_json = pytools_json = template_read_json(pytools)))
        goto out;
    if (!(m = cli_open_model(model, 1, CLI_OPEN_VOCAB)))
        goto out;
    if (!(prompt = smol_chat_render(m, msgs, n_msgs, &co, &err))) {
        /* name the file a tools error comes from */
        const char *file = !strncmp(err.msg, "chat: tools:", 12)          ? tools
                           : !strncmp(err.msg, "chat: python tools:", 19) ? pytools
                                                                           : NULL;
        if (file)
            cli_fail("%s: %s", file, err.msg);
        else
            cli_fail("%s", err.msg);
        goto out;
    }
    /* the prompt, exactly: no newline of our own */
    size_t n = strlen(prompt);
    if (fwrite(prompt, 1, n, stdout) != n || fflush(stdout) != 0) {
        cli_fail("cannot write the prompt to standard output");
        goto out;
    }
    rc = 0;
out:
    free(prompt);
    smol_model_close(m);
    smol_messages_free(msgs, n_msgs);
    free(text);
    free(tools_json);
    free(pytools_json);
    return rc;
}
