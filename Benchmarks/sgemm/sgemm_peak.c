/* The machine's OpenBLAS sgemm throughput: C = A·B, n×n×n (default 2048), row-major, with OpenBLAS
 * running `threads` threads. Prints one JSON line: best and median GFLOP/s over `reps` runs.
 *   cc -O2 sgemm_peak.c -o sgemm_peak $(pkg-config --cflags --libs openblas)
 *   ./sgemm_peak THREADS [N] [REPS]
 * OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the environment sets them (reported). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, n = argc > 2 ? atoi(argv[2]) : 2048, reps = argc > 3 ? atoi(argv[3]) : 7;
    openblas_set_num_threads(threads);
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) { a[i] = (float)((i * 7) % 13) / 13.f - .5f; b[i] = (float)((i * 5) % 11) / 11.f - .5f; c[i] = 0; }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b, n, 0.f, c, n); /* warm-up */
    double g[64]; if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
        g[r] = 2.0 * n * (double)n * n / (now() - t0) / 1e9;
    }
    qsort(g, reps, sizeof(double), cmp);
    const char *ct = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("{\"threads\": %d, \"n\": %d, \"gflops_best\": %.2f, \"gflops_median\": %.2f, \"core\": \"%s\", "
           "\"config\": \"%s\", \"OPENBLAS_CORETYPE\": \"%s\", \"OPENBLAS_L2_SIZE\": \"%s\", \"check\": %.3f}\n",
           threads, n, g[reps - 1], g[reps / 2], openblas_get_corename(), openblas_get_config(), ct ? ct : "", l2 ? l2 : "",
           c[12345 % ((long)n * n)]);
    return 0;
}
