/*
 * cmd_bench.c: `smolbot bench -m MODEL [-p 512] [-n 128] [-t N] [-r 3]
 * [--json]`: how fast the engine processes a prompt and decodes, and how
 * that compares with what this machine's memory allows.
 *
 * Each of the -r runs (bench.h) evaluates a p-token prompt as a batch on
 * a fresh sequence, then decodes n tokens greedily; the medians are
 * reported. A first, untimed 1-token evaluation faults the weights in
 * from the page cache. After each run, in the same process and on as
 * many threads, bench.h measures read bandwidth (best of 3 passes); the
 * run's roofline is that bandwidth over the bytes one decode step
 * reads, and its fraction is its decode speed over that roofline. The
 * report gives the medians: bandwidth, the roofline at that median,
 * and tg_fraction, the median of the runs' own fractions (pairing each
 * run with the bandwidth of its moment; a shared machine's bandwidth
 * moves by tens of percent within a minute). Peak RSS is read after
 * the first run, before any bandwidth buffer exists, so it is the
 * model's.
 *
 * Uses the engine's bench.h beside smol.h.
 */
#include "bench.h"
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define BENCH_MAX_REPS 100

static const char bench_usage_line[] =
    "usage: smolbot bench -m MODEL [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-t THREADS] [-r REPS] "
    "[--json] [--bw-mib MIB]";

struct bench_args {
    const char *model;
    long n_prompt, n_gen, n_threads, reps, bw_mib;
    bool json;
};

/* The results the report prints. */
struct bench_report {
    struct smol_model_info info;
    double pp_tps, tg_tps, ttft_ms;
    uint64_t peak_rss, decode_bytes;
    double bw_gbs, roofline_tps, tg_fraction;
    const char *kernels;
    /* per run, in order */
    double pp[BENCH_MAX_REPS], tg[BENCH_MAX_REPS], ttft[BENCH_MAX_REPS];
    double bw[BENCH_MAX_REPS], frac[BENCH_MAX_REPS];
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n), n <= BENCH_MAX_REPS (v keeps its order). */
static double median(const double *v, int n)
{
    double s[BENCH_MAX_REPS];
    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ru_maxrss is KiB on Linux: the high-water mark of resident memory,
 * which counts the mapped weights the runs touched. */
static uint64_t peak_rss_bytes(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
}

static bool bench_parse(int argc, char **argv, struct bench_args *a, int *status)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"prompt", required_argument, NULL, 'p'},
        {"gen", required_argument, NULL, 'n'},     {"threads", required_argument, NULL, 't'},
        {"reps", required_argument, NULL, 'r'},    {"json", no_argument, NULL, 'j'},
        {"bw-mib", required_argument, NULL, 'B'},  {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    *status = 1;
    while ((c = getopt_long(argc, argv, "m:p:n:t:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'p': if (!cli_parse_int("-p", optarg, 1, 1 << 20, &a->n_prompt)) return false; break;
        case 'n': if (!cli_parse_int("-n", optarg, 1, 1 << 20, &a->n_gen)) return false; break;
        case 't': if (!cli_parse_int("-t", optarg, 1, 256, &a->n_threads)) return false; break;
        case 'r': if (!cli_parse_int("-r", optarg, 1, BENCH_MAX_REPS, &a->reps)) return false; break;
        case 'B': if (!cli_parse_int("--bw-mib", optarg, 1, 1 << 20, &a->bw_mib)) return false; break;
        case 'j': a->json = true; break;
        case 'h': printf("%s\n", bench_usage_line); *status = 0; return false;
        default: cli_fail("%s", bench_usage_line); return false;
        }
    }
    if (optind < argc) {
        cli_fail("unexpected argument '%s'", argv[optind]);
        return false;
    }
    if (!a->model) {
        cli_fail("bench needs a model (-m MODEL.gguf)");
        return false;
    }
    return true;
}

static void bench_print_json(const struct bench_args *a, const struct bench_report *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", a->model);
    cJSON_AddNumberToObject(o, "file_bytes", (double)r->info.file_size);
    cJSON_AddNumberToObject(o, "decode_bytes", (double)r->decode_bytes);
    cJSON_AddStringToObject(o, "types", r->info.type_counts);
    cJSON_AddNumberToObject(o, "n_prompt", (double)a->n_prompt);
    cJSON_AddNumberToObject(o, "n_gen", (double)a->n_gen);
    cJSON_AddNumberToObject(o, "reps", (double)a->reps);
    cJSON_AddNumberToObject(o, "threads", (double)a->n_threads);
    cJSON_AddStringToObject(o, "kernels", r->kernels);
    cJSON_AddNumberToObject(o, "pp_tps", r->pp_tps);
    cJSON_AddNumberToObject(o, "tg_tps", r->tg_tps);
    cJSON_AddNumberToObject(o, "ttft_ms", r->ttft_ms);
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)r->peak_rss);
    cJSON_AddNumberToObject(o, "bandwidth_gbs", r->bw_gbs);
    cJSON_AddNumberToObject(o, "roofline_tps", r->roofline_tps);
    cJSON_AddNumberToObject(o, "tg_fraction", r->tg_fraction);
    cJSON *runs = cJSON_AddArrayToObject(o, "runs");
    for (long i = 0; runs && i < a->reps; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "pp_tps", r->pp[i]);
        cJSON_AddNumberToObject(x, "tg_tps", r->tg[i]);
        cJSON_AddNumberToObject(x, "ttft_ms", r->ttft[i]);
        cJSON_AddNumberToObject(x, "bandwidth_gbs", r->bw[i]);
        cJSON_AddNumberToObject(x, "tg_fraction", r->frac[i]);
        cJSON_AddItemToArray(runs, x);
    }
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static void bench_print_table(const struct bench_args *a, const struct bench_report *r)
{
    const double mib = 1048576.0;
    printf("model       %s (%.1f MiB; %s)\n", a->model, r->info.file_size / mib, r->info.type_counts);
    printf("threads     %ld, kernels %s, median of %ld runs\n", a->n_threads, r->kernels, a->reps);
    printf("%-11s %10s\n", "test", "result");
    printf("pp %-8ld %10.2f tok/s\n", a->n_prompt, r->pp_tps);
    printf("tg %-8ld %10.2f tok/s\n", a->n_gen, r->tg_tps);
    printf("%-11s %10.1f ms\n", "ttft", r->ttft_ms);
    printf("%-11s %10.1f MiB\n", "peak rss", r->peak_rss / mib);
    printf("%-11s %10.2f GB/s (read, %ld MiB, median of the runs' best of 3)\n", "bandwidth",
           r->bw_gbs, a->bw_mib);
    printf("%-11s %10.2f tok/s (%.1f MiB read per token)\n", "roofline", r->roofline_tps,
           r->decode_bytes / mib);
    printf("%-11s %10.1f %% of the roofline (median of the runs' own)\n", "tg/roofline",
           100.0 * r->tg_fraction);
}

int cmd_bench(int argc, char **argv)
{
    /* threads 0: the engine's default (one per online CPU) */
    struct bench_args a = {.n_prompt = 512, .n_gen = 128, .reps = 3, .bw_mib = 1024};
    int status;
    if (!bench_parse(argc, argv, &a, &status))
        return status;
    struct bench_report r = {.kernels = "generic"};
    struct smol_err err = {0};
    if (bench_decode_bytes(a.model, &r.decode_bytes, &err))
        return cli_fail("cannot open model '%s': %s", a.model, err.msg);
    struct smol_model *m = cli_open_model(a.model, (int)a.n_threads, CLI_OPEN_RUN);
    if (!m)
        return 1;
    smol_model_get_info(m, &r.info);
    /* what the engine really runs: its kernel table and pool size (the
     * bandwidth test then uses as many threads) */
    if (r.info.kernels[0])
        r.kernels = r.info.kernels;
    if (r.info.n_threads > 0)
        a.n_threads = r.info.n_threads;
    else if (a.n_threads == 0) {
        long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
        a.n_threads = n_cpu > 0 ? MIN(n_cpu, 256) : 1;
    }

    /* untimed: fault the weights in, so run 1 is not a disk benchmark */
    struct bench_params warm = {.n_prompt = 1, .n_gen = 1, .seed = 1};
    struct bench_run run;
    double *pp = r.pp, *tg = r.tg, *ttft = r.ttft, *bwr = r.bw, *frac = r.frac;
    int rc = bench_run_once(m, &warm, &run, &err);
    for (long i = 0; i < a.reps && !rc; i++) {
        struct bench_params p = {.n_prompt = (int)a.n_prompt, .n_gen = (int)a.n_gen,
                                 .seed = 1234 + (uint64_t)i};
        rc = bench_run_once(m, &p, &run, &err);
        if (rc)
            break;
        pp[i] = a.n_prompt / (run.pp_ms / 1e3);
        tg[i] = a.n_gen / (run.tg_ms / 1e3);
        ttft[i] = run.ttft_ms;
        /* every run does the same, so the first one's high-water mark
         * is the model's; read it before a bandwidth buffer exists */
        if (i == 0)
            r.peak_rss = peak_rss_bytes();
        /* the bandwidth right after each run, so that each decode
         * figure is compared with what the memory gave at that time
         * (on a shared machine it moves by tens of percent) */
        struct bench_bandwidth bw;
        rc = bench_measure_bandwidth((uint64_t)a.bw_mib << 20, (int)a.n_threads, 3, &bw, &err);
        if (rc)
            break;
        bwr[i] = bw.best_gbs;
        frac[i] = r.decode_bytes && bw.best_gbs > 0
                      ? tg[i] / (bw.best_gbs * 1e9 / (double)r.decode_bytes) : 0;
        if (!a.json)
            fprintf(stderr, "run %ld/%ld: pp %.2f tok/s, tg %.2f tok/s, ttft %.1f ms, "
                    "bandwidth %.2f GB/s, tg %.1f %% of its roofline\n", i + 1, a.reps, pp[i],
                    tg[i], ttft[i], bwr[i], 100.0 * frac[i]);
    }
    smol_model_close(m);
    if (rc)
        return cli_fail("bench run failed: %s", err.msg);
    r.pp_tps = median(pp, (int)a.reps);
    r.tg_tps = median(tg, (int)a.reps);
    r.ttft_ms = median(ttft, (int)a.reps);
    r.bw_gbs = median(bwr, (int)a.reps);
    r.roofline_tps = r.decode_bytes ? r.bw_gbs * 1e9 / (double)r.decode_bytes : 0;
    r.tg_fraction = median(frac, (int)a.reps);
    if (a.json)
        bench_print_json(&a, &r);
    else
        bench_print_table(&a, &r);
    return 0;
}
