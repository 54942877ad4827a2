/*
 * bench_read: the C side of jpegcoef's read against libjpeg-turbo's own limit, without Python.
 *
 *   bench_read PASSES [-only bare|blocks|channels] FILE...   (files are loaded into memory first)
 *
 * For every image and pass, three methods run in an order that rotates per image and pass:
 *   bare      jpeg_mem_src + jpeg_read_header + jpeg_read_coefficients + jpeg_finish_decompress
 *             with one reused decompressor (nothing copied out): the limit
 *   blocks    jc_read(..., 0): coefficients in the (Hb, Wb, 64) layout, buffer handed over
 *   channels  jc_read(..., JC_CHANNELS): the (64, Hb, Wb) layout
 * (jc_read's buffers are given back with jc_release, as Python does when an array dies.)
 * Per method it prints images/s from the sum over images of each image's fastest pass (robust
 * to other processes) and from the median pass, and the time ratio to bare; then one JSON line.
 * -only runs one method alone (for callgrind: valgrind --tool=callgrind --cache-sim=yes ...).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

#include "jpegcoef.h"

struct bare_err { struct jpeg_error_mgr pub; jmp_buf jb; };
static void bare_exit(j_common_ptr c) { longjmp(((struct bare_err *)c->err)->jb, 1); }
static void bare_quiet(j_common_ptr c, int level) { (void)c; (void)level; }

static double now_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int bare_read(struct jpeg_decompress_struct *ci, struct bare_err *e, const unsigned char *buf,
                     size_t len, unsigned long *sum)
{
  if (setjmp(e->jb)) {
    jpeg_abort_decompress(ci);
    return -1;
  }
  jpeg_mem_src(ci, buf, (unsigned long)len);
  jpeg_read_header(ci, TRUE);
  jpeg_read_coefficients(ci);
  *sum += ci->comp_info[0].width_in_blocks;
  jpeg_finish_decompress(ci);
  return 0;
}

int main(int argc, char **argv)
{
  enum { M = 3 };
  static const char *names[M] = {"bare", "blocks", "channels"};
  int passes, n, p, i, k, m, only = -1, first = 2;
  unsigned char **buf;
  size_t *len;
  double *best[M], *pass_total[M], robust[M], median[M];
  unsigned long sum = 0;
  struct jpeg_decompress_struct ci;
  struct bare_err err;
  jc_decoder *d;
  jc_info info;

  if (argc < 3) {
    fprintf(stderr, "usage: %s PASSES FILE...\n", argv[0]);
    return 2;
  }
  passes = atoi(argv[1]);
  if (argc > 4 && strcmp(argv[2], "-only") == 0) {
    for (m = 0; m < M; m++)
      if (strcmp(argv[3], names[m]) == 0)
        only = m;
    if (only < 0) { fprintf(stderr, "-only: bare, blocks or channels\n"); return 2; }
    first = 4;
  }
  n = argc - first;
  if (passes < 1) passes = 1;
  buf = (unsigned char **)calloc((size_t)n, sizeof *buf);
  len = (size_t *)calloc((size_t)n, sizeof *len);
  for (m = 0; m < M; m++) {
    best[m] = (double *)malloc((size_t)n * sizeof(double));
    pass_total[m] = (double *)calloc((size_t)passes, sizeof(double));
    for (i = 0; i < n; i++) best[m][i] = 1e30;
  }
  for (i = 0; i < n; i++) {
    FILE *f = fopen(argv[i + first], "rb");
    long sz;
    if (!f) { fprintf(stderr, "cannot open %s\n", argv[i + first]); return 2; }
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf[i] = (unsigned char *)malloc(sz > 0 ? (size_t)sz : 1);
    len[i] = sz > 0 ? (size_t)sz : 0;
    if (len[i] && fread(buf[i], 1, len[i], f) != len[i]) { fprintf(stderr, "read %s\n", argv[i + first]); return 2; }
    fclose(f);
  }
  ci.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = bare_exit;
  err.pub.emit_message = bare_quiet;
  jpeg_create_decompress(&ci);
  d = jc_decoder_new();

  for (p = 0; p < passes; p++)
    for (i = 0; i < n; i++)
      for (k = 0; k < M; k++) {
        double t0, t;
        int rc;
        m = (k + i + p) % M;
        if (only >= 0 && m != only)
          continue;
        t0 = now_ns();
        if (m == 0) {
          rc = bare_read(&ci, &err, buf[i], len[i], &sum);
        } else {
          rc = jc_read(d, buf[i], len[i], m == 2 ? JC_CHANNELS : 0, 0, 0, &info);
          if (rc == 0) {
            sum += (unsigned long)((const int16_t *)info.data)[info.data_size / 4];
            jc_release(info.data);
          }
        }
        t = now_ns() - t0;
        if (rc != 0) { fprintf(stderr, "%s: %s failed\n", argv[i + first], names[m]); return 1; }
        if (t < best[m][i]) best[m][i] = t;
        pass_total[m][p] += t;
      }

  for (m = 0; m < M; m++) {
    robust[m] = 0;
    for (i = 0; i < n; i++) robust[m] += best[m][i];
    qsort(pass_total[m], (size_t)passes, sizeof(double), cmp_double);
    median[m] = pass_total[m][passes / 2];
  }
  printf("%d images, %d passes (checksum %lu)\n", n, passes, sum);
  printf("%-9s %12s %12s %14s %14s\n", "method", "img/s best", "img/s median", "time/bare best", "time/bare med");
  for (m = 0; m < M; m++)
    printf("%-9s %12.0f %12.0f %14.3f %14.3f\n", names[m], n / robust[m] * 1e9, n / median[m] * 1e9,
           robust[m] / robust[0], median[m] / median[0]);
  printf("{\"images\": %d, \"passes\": %d", n, passes);
  for (m = 0; m < M; m++)
    printf(", \"%s\": {\"ips_best\": %.1f, \"ips_median\": %.1f, \"time_vs_bare_best\": %.4f, "
           "\"time_vs_bare_median\": %.4f}", names[m], n / robust[m] * 1e9, n / median[m] * 1e9,
           robust[m] / robust[0], median[m] / median[0]);
  printf("}\n");
  jc_decoder_free(d);
  jpeg_destroy_decompress(&ci);
  for (i = 0; i < n; i++) free(buf[i]);
  free(buf);
  free(len);
  for (m = 0; m < M; m++) { free(best[m]); free(pass_total[m]); }
  return 0;
}
