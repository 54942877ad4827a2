/*
 * Fuzz target for the jpegcoef C library: every entry point a Python user reaches with
 * untrusted bytes, on one input.
 *
 *   1. jc_read, blocks layout (Hb, Wb, 64)            -> A
 *   2. jc_read, channels layout (64, Hb, Wb)          -> must equal A transposed, or both fail
 *   3. jc_read, strict; jc_read, header only          -> success only if 1. succeeded
 *   4. jc_decode to RGB, and native (no conversion)  -> output size consistent with the header
 *   5. jc_write of A (coding chosen from the input)   -> when it succeeds, re-reading the output
 *                                                       gives A's coefficients and tables
 *   6. jc_read_file on the input written to a file    -> exactly A, or the same error
 *   7. jc_read_rows (max_rows from the input, either layout) -> consistent geometry; succeeds
 *      when 1. succeeded, with at most A's warnings and A's top rows (one-scan or progressive)
 *   8. jc_read_bands (needed frequencies from the input, either layout) -> succeeds when 1.
 *      succeeded, with A's geometry and tables and at most A's warnings; zero outside the
 *      bands it decoded; when A had no warnings every coefficient is A's or zero, every needed
 *      one A's
 *
 * Limits as libjpeg-turbo's own OSS-Fuzz targets: images over 1 megapixel and files over 100
 * scans are refused (the reader's max_pixels / max_scans). A broken invariant calls abort(), so
 * libFuzzer and the mutation driver both report it as a crash with the input saved.
 *
 * Built two ways (CMakeLists.txt, -DJC_FUZZ=ON): with clang's -fsanitize=fuzzer (libFuzzer
 * provides main), or linked with fuzz_mutate.c (a deterministic mutation driver, any compiler).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jpegcoef.h"

/* jc_read/jc_decode buffers go back to the library's pool; jc_write's output is freed. */
#define RELEASE(p) jc_release(p)

#define FUZZ_MAX_PIXELS (1u << 20)
#define FUZZ_MAX_SCANS 100

/* Counters the mutation driver prints (outcomes of step 1). */
unsigned long fuzz_stat_ok, fuzz_stat_error, fuzz_stat_warned, fuzz_stat_written;

static void fail(const char *what)
{
  fprintf(stderr, "fuzz_read: invariant broken: %s\n", what);
  abort();
}

/* The decoder is reused across inputs, as each Python thread does. */
static jc_decoder *decoder(void)
{
  static jc_decoder *d;
  if (!d) {
    d = jc_decoder_new();
    if (!d)
      fail("jc_decoder_new");
  }
  return d;
}

/* Size of jc_read's buffer implied by its info: quant tables + every component's MCU grid. */
static size_t expected_read_size(const jc_info *info)
{
  size_t n = (size_t)info->num_components * 64;
  int i;
  for (i = 0; i < info->num_components; i++) {
    const jc_component *c = &info->comp[i];
    if (c->offset != n)
      fail("component offset");
    if (c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4 || c->hb < 1 || c->wb < 1 ||
        c->Hb < c->hb || c->Wb < c->wb)
      fail("component geometry");
    /* whole MCUs; a one-component image's MCU is one block (its true grid, whatever it declares) */
    if (info->num_components == 1 ? (c->Hb != c->hb || c->Wb != c->wb) : (c->Hb % c->v || c->Wb % c->h))
      fail("component grid");
    n += (size_t)c->Hb * c->Wb * 64;
  }
  return n * sizeof(int16_t);
}

/* The progression state: only for progressive files; Al values as libjpeg accepts them. */
static void check_progression(const jc_info *info)
{
  int ci, k;
  if (info->progression && !info->progressive)
    fail("progression state for a sequential file");
  if (info->last_good_row < -1)
    fail("last good row");
  for (ci = 0; ci < JC_MAX_COMPONENTS; ci++)
    for (k = 0; k < 20; k++) {
      int b = info->scan_bits[ci][k];
      if (b < -1 || b > 13 || ((!info->progression || ci >= info->num_components) && b != -1))
        fail("scan bits");
    }
}

static void check_header(const jc_info *info)
{
  if (info->width < 1 || info->height < 1 ||
      (uint64_t)info->width * (uint64_t)info->height > FUZZ_MAX_PIXELS)
    fail("image size");
  if (info->num_components < 1 || info->num_components > JC_MAX_COMPONENTS)
    fail("number of components");
  if (info->orientation < 1 || info->orientation > 8)
    fail("orientation");
  if (info->num_kept > JC_MAX_WARNINGS || info->num_kept > info->num_warnings)
    fail("warning counts");
  if (info->num_kept && !memchr(info->warnings[info->num_kept - 1], 0, JC_MSG_LEN))
    fail("warning text not terminated");
  check_progression(info);
}

static void check_error(const jc_info *info)
{
  if (info->data != NULL)
    fail("data set on error");
  if (!memchr(info->message, 0, JC_MSG_LEN) || info->message[0] == '\0')
    fail("empty or unterminated error message");
}

/* A private temporary file for step 6 (removed at exit). */
static char tmp_path[64];
static void remove_tmp(void) { if (tmp_path[0]) unlink(tmp_path); }
static const char *input_file(const uint8_t *data, size_t size)
{
  FILE *f;
  if (!tmp_path[0]) {
    int fd;
    snprintf(tmp_path, sizeof tmp_path, "/tmp/jpegcoef-fuzz-XXXXXX");
    fd = mkstemp(tmp_path);
    if (fd < 0)
      fail("mkstemp");
    close(fd);
    atexit(remove_tmp);
  }
  f = fopen(tmp_path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
    fail("cannot write the temporary input file");
  return tmp_path;
}

/* Step 7: jc_read_rows's result b against the full read a (rc_a: its return code). */
static void check_rows(const jc_info *a, int rc_a, jc_info *b, int max_rows, int chan)
{
  size_t n = (size_t)b->num_components * 64;
  int i, one = b->num_components == 1, mcu_h;
  check_header(b);
  mcu_h = one ? 8 : 8 * b->max_v;
  if (b->height > a->height && rc_a == 0)
    fail("rows: taller than the image");
  if (b->height % mcu_h && rc_a == 0 && b->height != a->height)
    fail("rows: a cut height off the MCU grid");
  if (b->height < max_rows && rc_a == 0 && b->height != a->height)
    fail("rows: fewer rows than asked for");
  for (i = 0; i < b->num_components; i++) {
    const jc_component *c = &b->comp[i];
    if (c->offset != n || c->hb < 1 || c->wb < 1 || c->Hb < c->hb || c->Wb < c->wb ||
        c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4)
      fail("rows: component geometry");
    n += (size_t)c->Hb * c->Wb * 64;
  }
  if (!b->data || b->data_size != n * sizeof(int16_t))
    fail("rows: buffer size");
  if (rc_a == 0) {
    const int16_t *pa = (const int16_t *)a->data, *pb = (const int16_t *)b->data;
    if (b->num_components != a->num_components || b->width != a->width)
      fail("rows: another header");
    if (b->num_warnings > a->num_warnings)
      fail("rows: more warnings than the full read");
    if (memcmp(pa, pb, (size_t)a->num_components * 64 * sizeof(int16_t)))
      fail("rows: other quantisation tables");
    if (a->num_scans == 1 || a->progressive) {
      for (i = 0; i < a->num_components; i++) {
        const jc_component *ca = &a->comp[i], *cb = &b->comp[i];
        size_t r, x, k, plane = (size_t)cb->Hb * cb->Wb;
        if (cb->Hb > ca->Hb || cb->Wb > ca->Wb)
          fail("rows: grid larger than the full read's");
        for (r = 0; r < (size_t)cb->Hb; r++)
          for (x = 0; x < (size_t)cb->Wb; x++)
            for (k = 0; k < 64; k++) {
              int16_t va = pa[ca->offset + (r * ca->Wb + x) * 64 + k];
              int16_t vb = chan ? pb[cb->offset + k * plane + r * cb->Wb + x]
                                : pb[cb->offset + (r * cb->Wb + x) * 64 + k];
              if (va != vb)
                fail("rows: a coefficient differs from the full read");
            }
      }
    }
  }
  RELEASE(b->data);
}

/* zig-zag index -> natural index, to draw needs as the low bands of the zig-zag order */
static const unsigned char zigzag[64] = {
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
  13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
  52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

/* Step 8: needs drawn from the input (per component: the first n zig-zag frequencies, or an
 * arbitrary mask), the banded read against the full read a. */
static void check_bands(jc_decoder *d, const uint8_t *data, size_t size, const jc_info *a, int rc_a)
{
  uint64_t bands[JC_MAX_COMPONENTS];
  jc_info b;
  int ci, k, chan = data[size / 11] & 1;
  for (ci = 0; ci < JC_MAX_COMPONENTS; ci++) {
    uint8_t x = data[(size / 13 * (size_t)(ci + 1)) % size], y = data[(size / 17 * (size_t)(ci + 2)) % size];
    bands[ci] = 0;
    if (x & 0x80) {                                 /* an arbitrary mask */
      for (k = 0; k < 8; k++)
        bands[ci] |= (uint64_t)data[(size_t)(x + y * 7 + k * 31) % size] << (8 * k);
    } else {
      for (k = 0; k < (x & 0x7f) % 65; k++)        /* the lowest n zig-zag frequencies */
        bands[ci] |= (uint64_t)1 << zigzag[k];
    }
  }
  memset(&b, 0, sizeof b);
  if (jc_read_bands(d, data, size, chan ? JC_CHANNELS : 0, FUZZ_MAX_PIXELS, FUZZ_MAX_SCANS, 0, bands,
                    &b) != 0) {
    check_error(&b);
    if (rc_a == 0)
      fail("bands: failed where the full read succeeded");
    return;
  }
  check_header(&b);
  if (b.scans_skipped < 0 || !b.data)
    fail("bands: result");
  for (ci = 0; ci < JC_MAX_COMPONENTS; ci++)
    if (!b.scans_skipped && b.bands_decoded[ci] != ~(uint64_t)0)
      fail("bands: decoded bands without a skipped scan");
  for (ci = 0; ci < b.num_components; ci++) {       /* outside the decoded bands: zero */
    const int16_t *pb = (const int16_t *)b.data + b.comp[ci].offset;
    size_t plane = (size_t)b.comp[ci].Hb * b.comp[ci].Wb, blk;
    for (blk = 0; blk < plane; blk++)
      for (k = 0; k < 64; k++)
        if (!(b.bands_decoded[ci] >> k & 1) && (chan ? pb[(size_t)k * plane + blk] : pb[blk * 64 + k]))
          fail("bands: a coefficient outside the decoded bands is not zero");
  }
  if (rc_a == 0) {
    const int16_t *pa = (const int16_t *)a->data, *pb = (const int16_t *)b.data;
    /* values: the whole read's, on data libjpeg found undamaged (a damaged AC scan may write
     * outside its band: into a needed coefficient in the whole read, from a skipped scan) */
    int compare = a->num_warnings == 0;
    if (b.data_size != a->data_size || b.num_components != a->num_components || b.width != a->width ||
        b.height != a->height || b.num_warnings > a->num_warnings)
      fail("bands: another geometry or more warnings than the full read");
    if (memcmp(pa, pb, (size_t)a->num_components * 64 * sizeof(int16_t)))
      fail("bands: other quantisation tables");
    for (ci = 0; ci < a->num_components; ci++) {
      const jc_component *c = &a->comp[ci];
      size_t plane = (size_t)c->Hb * c->Wb, blk;
      if (memcmp(c, &b.comp[ci], sizeof *c))
        fail("bands: other component info");
      for (blk = 0; blk < plane && compare; blk++)
        for (k = 0; k < 64; k++) {
          int16_t va = pa[c->offset + blk * 64 + k];
          int16_t vb = chan ? pb[c->offset + (size_t)k * plane + blk] : pb[c->offset + blk * 64 + k];
          if (vb != va && (vb != 0 || (bands[ci] >> k & 1)))
            fail("bands: a coefficient neither the full read's nor zero, or a needed one differs");
        }
    }
  }
  RELEASE(b.data);
}

/* Steps 1-8 on one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  jc_decoder *d = decoder();
  jc_info a, b;
  int rc_a, rc_b, i;
  const int16_t *qa;

  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);

  /* 1. blocks layout */
  rc_a = jc_read(d, data, size, 0, FUZZ_MAX_PIXELS, FUZZ_MAX_SCANS, &a);
  if (rc_a == 0) {
    fuzz_stat_ok++;
    if (a.num_warnings)
      fuzz_stat_warned++;
    check_header(&a);
    if (!a.data || a.data_size != expected_read_size(&a))
      fail("blocks buffer size");
  } else {
    fuzz_stat_error++;
    check_error(&a);
  }

  /* 2. channels layout: the same numbers, transposed */
  rc_b = jc_read(d, data, size, JC_CHANNELS, FUZZ_MAX_PIXELS, FUZZ_MAX_SCANS, &b);
  if (rc_b != rc_a)
    fail("layouts disagree on success");
  if (rc_b == 0) {
    const int16_t *pa = (const int16_t *)a.data, *pb = (const int16_t *)b.data;
    if (b.data_size != a.data_size || b.num_warnings != a.num_warnings)
      fail("layouts disagree on size or warnings");
    if (memcmp(pa, pb, (size_t)a.num_components * 64 * sizeof(int16_t)))
      fail("layouts disagree on quantisation tables");
    for (i = 0; i < a.num_components; i++) {
      const jc_component *c = &a.comp[i];
      size_t plane = (size_t)c->Hb * c->Wb, blk, k;
      if (memcmp(c, &b.comp[i], sizeof *c))
        fail("layouts disagree on component info");
      for (blk = 0; blk < plane; blk++)
        for (k = 0; k < 64; k++)
          if (pa[c->offset + blk * 64 + k] != pb[c->offset + k * plane + blk])
            fail("layouts disagree on a coefficient");
    }
    RELEASE(b.data);
  } else {
    check_error(&b);
    if (strcmp(a.message, b.message))
      fail("layouts disagree on the error");
  }

  /* 3. strict and header-only */
  memset(&b, 0, sizeof b);
  if (jc_read(d, data, size, JC_STRICT, FUZZ_MAX_PIXELS, FUZZ_MAX_SCANS, &b) == 0) {
    if (rc_a != 0 || b.num_warnings != 0)
      fail("strict read succeeded where it must not");
    RELEASE(b.data);
  } else {
    check_error(&b);
    if (rc_a == 0 && a.num_warnings == 0)
      fail("strict read failed on a clean file");
  }
  memset(&b, 0, sizeof b);
  if (jc_read(d, data, size, JC_HEADER_ONLY, FUZZ_MAX_PIXELS, FUZZ_MAX_SCANS, &b) == 0) {
    check_header(&b);
    if (b.data_size != (size_t)b.num_components * 64 * sizeof(int16_t))
      fail("header-only buffer size");
    RELEASE(b.data);
  } else {
    check_error(&b);
    if (rc_a == 0)
      fail("header-only read failed where the full read succeeded");
  }

  /* 4. full decode */
  {
    static const int spaces[2] = {JC_CS_RGB, JC_CS_NATIVE};
    int s;
    for (s = 0; s < 2; s++) {
      memset(&b, 0, sizeof b);
      if (jc_decode(d, data, size, spaces[s], 0, FUZZ_MAX_PIXELS, FUZZ_MAX_SCANS, &b) == 0) {
        if (!b.data || b.out_components < 1 || b.out_components > 4 ||
            b.data_size != (size_t)b.width * b.height * b.out_components)
          fail("decode buffer size");
        RELEASE(b.data);
      } else {
        check_error(&b);
      }
    }
  }

  /* 5. lossless write of what was read, then read back */
  if (rc_a == 0) {
    jc_write_params p;
    unsigned char *out = NULL;
    size_t outsize = 0;
    char msg[JC_MSG_LEN];
    int nq = 0, q;
    uint8_t mode = size ? data[size / 2] : 0;
    memset(&p, 0, sizeof p);
    qa = (const int16_t *)a.data;
    p.width = a.width;
    p.height = a.height;
    p.num_components = a.num_components;
    p.colorspace = a.colorspace;
    p.progressive = mode & 1;
    p.arithmetic = (mode >> 1) & 1;
    p.optimize = (mode >> 2) & 1;
    for (i = 0; i < a.num_components; i++) {
      const uint16_t *tbl = (const uint16_t *)qa + i * 64;
      for (q = 0; q < nq; q++)
        if (!memcmp(p.quant[q], tbl, 128))
          break;
      if (q == nq)
        memcpy(p.quant[nq++], tbl, 128);
      p.comp[i].h = a.comp[i].h;
      p.comp[i].v = a.comp[i].v;
      p.comp[i].quant_index = q;
      p.comp[i].Hb = a.comp[i].Hb;
      p.comp[i].Wb = a.comp[i].Wb;
      p.comp[i].data = qa + a.comp[i].offset;
    }
    p.num_quant = nq;
    if (jc_write(&p, &out, &outsize, msg) == 0) {
      fuzz_stat_written++;
      memset(&b, 0, sizeof b);
      if (!out || outsize == 0)
        fail("write returned no data");
      if (jc_read(d, out, outsize, 0, 0, 0, &b) != 0) {
        fprintf(stderr, "re-read: %s\n", b.message);
        fail("written file does not read back");
      }
      if (b.width != a.width || b.height != a.height || b.num_components != a.num_components)
        fail("written file has another header");
      for (i = 0; i < a.num_components; i++) {
        const jc_component *ca = &a.comp[i], *cb = &b.comp[i];
        const int16_t *pb = (const int16_t *)b.data;
        int r;
        if (memcmp(qa + i * 64, pb + i * 64, 128))
          fail("written file has other quantisation tables");
        if (cb->hb != ca->hb || cb->wb != ca->wb || cb->Wb != ca->Wb)
          fail("written file has another block grid");
        for (r = 0; r < ca->hb; r++)   /* the true grid; MCU padding blocks are the encoder's */
          if (memcmp(qa + ca->offset + (size_t)r * ca->Wb * 64, pb + cb->offset + (size_t)r * cb->Wb * 64,
                     (size_t)ca->wb * 64 * sizeof(int16_t)))
            fail("written file has other coefficients");
      }
      RELEASE(b.data);
      jc_free(out);
    } else {
      if (out != NULL || !memchr(msg, 0, JC_MSG_LEN) || msg[0] == '\0')
        fail("write error path");
    }
  }

  /* 6. the same bytes from a file */
  memset(&b, 0, sizeof b);
  if (jc_read_file(d, input_file(data, size), 0, FUZZ_MAX_PIXELS, FUZZ_MAX_SCANS, &b) == 0) {
    if (rc_a != 0 || b.data_size != a.data_size || b.num_warnings != a.num_warnings ||
        memcmp(b.data, a.data, a.data_size))
      fail("jc_read_file differs from jc_read");
    RELEASE(b.data);
  } else {
    check_error(&b);
    if (rc_a == 0 || strcmp(a.message, b.message))
      fail("jc_read_file fails differently from jc_read");
  }
  /* 7. the top rows only */
  if (size >= 4) {
    int max_rows = 1 + (int)(((unsigned)data[size / 3] << 8 | data[size / 5]) % 512);
    int chan = data[size / 7] & 1;
    memset(&b, 0, sizeof b);
    if (jc_read_rows(d, data, size, chan ? JC_CHANNELS : 0, FUZZ_MAX_PIXELS, FUZZ_MAX_SCANS,
                     max_rows, &b) == 0)
      check_rows(&a, rc_a, &b, max_rows, chan);
    else {
      check_error(&b);
      if (rc_a == 0)
        fail("jc_read_rows failed where the full read succeeded");
    }
  }
  /* 8. the scans some frequencies need */
  if (size >= 32)
    check_bands(d, data, size, &a, rc_a);
  if (rc_a == 0)
    RELEASE(a.data);
  return 0;
}
