/*
 * cmd_pull.c: `smolbot pull [NAME|URL] [--dir DIR] [--sha256 HEX]`:
 * download a model into the models directory (src/net/pull.h does the
 * work). Progress goes to stderr; the path of the file, and nothing
 * else, to stdout, so that scripts can write MODEL=$(smolbot pull).
 */
#include "cli.h"
#include "pull.h"

#include <getopt.h>
#include <string.h>
#include <unistd.h>

static void pull_usage(FILE *f)
{
    size_t n;
    const struct pull_source *src = pull_sources(&n);
    fprintf(f,
            "usage: smolbot pull [NAME|URL] [--dir DIR] [--sha256 HEX] [--retries N]\n"
            "\n"
            "Downloads a GGUF model, resuming an interrupted download and checking its\n"
            "size and SHA-256, into DIR (default $SMOLBOT_MODELS, else\n"
            "~/.local/share/smolbot/models). Prints the file's path on stdout.\n"
            "\n"
            "  NAME           a known model (default %s)\n"
            "  URL            any http:// or https:// file; saved under its last path segment\n"
            "  --dir DIR      where to put it\n"
            "  --sha256 HEX   the expected SHA-256 (also checks a file already there)\n"
            "  --retries N    resumes after a dropped connection (default 5)\n"
            "\nknown models:\n",
            PULL_DEFAULT_NAME);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-10s %s (%.2f GB)\n", src[i].name, src[i].file_name, src[i].size / 1e9);
}

int cmd_pull(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"sha256", required_argument, NULL, 's'},
        {"retries", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    struct pull_request rq = {.retries = 5};
    char dir[4096], url[4096], sha[65];
    long retries;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': rq.dir = optarg; break;
        case 's':
            if (!pull_parse_sha256(optarg, sha))
                return cli_fail("--sha256 expects 64 hex digits, got '%s'", optarg);
            rq.sha256 = sha;
            rq.verify_existing = true;
            break;
        case 'r':
            if (!cli_parse_int("--retries", optarg, 0, 100, &retries))
                return 1;
            rq.retries = (int)retries;
            break;
        case 'h': pull_usage(stdout); return 0;
        default: pull_usage(stderr); return 2;
        }
    }
    if (argc - optind > 1)
        return cli_fail("pull takes one NAME or URL, got '%s' too", argv[optind + 1]);
    const char *what = optind < argc ? argv[optind] : PULL_DEFAULT_NAME;

    struct smol_err err = {0};
    if (strstr(what, "://")) {
        if (!pull_url_ok(what))
            return cli_fail("pull: only http:// and https:// URLs can be pulled, not '%s'", what);
        rq.url = what;
    } else {
        const struct pull_source *src = pull_find_source(what);
        if (!src)
            return cli_fail("pull: unknown model '%s' (known: %s; or give an https:// URL)", what,
                            PULL_DEFAULT_NAME);
        /* SMOLBOT_PULL_BASE stands in for https://huggingface.co (tests). */
        const char *base = getenv("SMOLBOT_PULL_BASE");
        if (!base || !base[0])
            base = PULL_DEFAULT_BASE;
        size_t bl = strlen(base);
        while (bl && base[bl - 1] == '/')
            bl--;
        if (snprintf(url, sizeof(url), "%.*s%s", (int)bl, base, src->path) >= (int)sizeof(url))
            return cli_fail("pull: SMOLBOT_PULL_BASE is too long");
        rq.url = url;
        rq.file_name = src->file_name;
        rq.size = src->size;
        if (!rq.sha256)
            rq.sha256 = src->sha256;
    }
    if (!rq.dir) {
        if (pull_models_dir(dir, sizeof(dir), &err))
            return cli_fail("%s", err.msg);
        rq.dir = dir;
    }
    rq.progress = stderr;
    rq.progress_tty = isatty(STDERR_FILENO);

    struct pull_result res;
    if (pull_file(&rq, &res, &err))
        return cli_fail("%s", err.msg);
    if (res.existed)
        fprintf(stderr, "pull: %s is already here (%llu bytes)\n", res.path,
                (unsigned long long)res.size);
    else
        fprintf(stderr, "pull: saved %s (%llu bytes, sha256 %s)\n", res.path,
                (unsigned long long)res.size, res.sha256);
    printf("%s\n", res.path);
    return 0;
}
