/* C tests of the jpegcoef library on the bundled test files: run by ctest with the data folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpegcoef.h"

static int failures = 0;
static const char *dir = ".";

#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
  fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static unsigned char *load(const char *name, size_t *len)
{
  char path[4096];
  FILE *f;
  unsigned char *buf;
  long n;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(2); }
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (unsigned char *)malloc(n > 0 ? (size_t)n : 1);
  if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) { fprintf(stderr, "read %s\n", path); exit(2); }
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static int read_file(jc_decoder *d, const char *name, int flags, uint64_t max_pixels, int max_scans, jc_info *info)
{
  size_t len;
  unsigned char *buf = load(name, &len);
  int rc = jc_read(d, buf, len, flags, max_pixels, max_scans, info);
  free(buf);
  return rc;
}

static void expect_error(jc_decoder *d, const char *name, int flags, uint64_t max_pixels, int max_scans,
                         const char *text)
{
  jc_info info;
  int rc = read_file(d, name, flags, max_pixels, max_scans, &info);
  CHECK(rc == -1, "%s: expected an error", name);
  CHECK(info.data == NULL, "%s: data must be NULL on error", name);
  CHECK(strstr(info.message, text) != NULL, "%s: message '%s' lacks '%s'", name, info.message, text);
  if (rc == 0) jc_release(info.data);
}

static void test_baseline(jc_decoder *d)
{
  jc_info a, b;
  int ci;
  CHECK(read_file(d, "turbo-testorig.jpg", 0, 0, 0, &a) == 0, "read: %s", a.message);
  CHECK(a.width == 227 && a.height == 149 && a.num_components == 3, "size %dx%d", a.width, a.height);
  CHECK(a.colorspace == JC_CS_YCBCR && !a.progressive && !a.arithmetic && a.orientation == 1, "header fields");
  CHECK(a.comp[0].h == 2 && a.comp[0].v == 2 && a.comp[0].Hb == 20 && a.comp[0].Wb == 30, "luma grid");
  CHECK(a.comp[0].hb == 19 && a.comp[0].wb == 29, "luma true blocks");
  CHECK(a.comp[1].Hb == 10 && a.comp[1].Wb == 15, "chroma grid");
  CHECK(a.num_warnings == 0, "warnings %d", a.num_warnings);
  CHECK(read_file(d, "turbo-testorig.jpg", JC_CHANNELS, 0, 0, &b) == 0, "read channels: %s", b.message);
  CHECK(a.data_size == b.data_size, "sizes differ");
  for (ci = 0; ci < 3; ci++) {      /* (Hb, Wb, 64) vs (64, Hb, Wb) */
    const int16_t *x = (const int16_t *)a.data + a.comp[ci].offset, *y = (const int16_t *)b.data + b.comp[ci].offset;
    size_t Hb = a.comp[ci].Hb, Wb = a.comp[ci].Wb, r, c;
    int k, same = 1;
    for (r = 0; r < Hb; r++)
      for (c = 0; c < Wb; c++)
        for (k = 0; k < 64; k++)
          if (x[(r * Wb + c) * 64 + k] != y[(size_t)k * Hb * Wb + r * Wb + c]) same = 0;
    CHECK(same, "component %d: layouts disagree", ci);
  }
  CHECK(memcmp(a.data, b.data, 3 * 64 * 2) == 0, "quant tables differ");
  CHECK(((const uint16_t *)a.data)[0] > 0, "quant[0] must be positive");
  jc_release(a.data);
  jc_release(b.data);
}

static void test_roundtrip(jc_decoder *d)
{
  jc_info a, b;
  jc_write_params p;
  unsigned char *out;
  size_t outsize;
  char msg[JC_MSG_LEN];
  int ci, k;
  CHECK(read_file(d, "gen-mixed-2x2-1x2-2x1.jpg", 0, 0, 0, &a) == 0, "read: %s", a.message);
  memset(&p, 0, sizeof p);
  p.width = a.width; p.height = a.height; p.num_components = a.num_components;
  p.colorspace = a.colorspace; p.optimize = 1; p.num_quant = a.num_components;
  for (ci = 0; ci < a.num_components; ci++) {
    for (k = 0; k < 64; k++) p.quant[ci][k] = ((const uint16_t *)a.data)[ci * 64 + k];
    p.comp[ci].h = a.comp[ci].h; p.comp[ci].v = a.comp[ci].v; p.comp[ci].quant_index = ci;
    p.comp[ci].Hb = a.comp[ci].Hb; p.comp[ci].Wb = a.comp[ci].Wb;
    p.comp[ci].data = (const int16_t *)a.data + a.comp[ci].offset;
  }
  CHECK(jc_write(&p, &out, &outsize, msg) == 0, "write: %s", msg);
  CHECK(jc_read(d, out, outsize, 0, 0, 0, &b) == 0, "re-read: %s", b.message);
  for (ci = 0; ci < a.num_components; ci++) {
    size_t r, Wb = a.comp[ci].Wb;
    int same = 1;
    CHECK(a.comp[ci].hb == b.comp[ci].hb && a.comp[ci].wb == b.comp[ci].wb, "blocks differ");
    for (r = 0; r < (size_t)a.comp[ci].hb; r++)
      if (memcmp((const int16_t *)a.data + a.comp[ci].offset + r * Wb * 64,
                 (const int16_t *)b.data + b.comp[ci].offset + r * Wb * 64, (size_t)a.comp[ci].wb * 128))
        same = 0;
    CHECK(same, "component %d changed in the round trip", ci);
  }
  jc_free(out);
  jc_release(b.data);
  /* a component smaller than the image needs: clean error, nothing leaked */
  p.comp[0].Hb = 3;
  CHECK(jc_write(&p, &out, &outsize, msg) == -1 && out == NULL && strstr(msg, "blocks"), "undersized: %s", msg);
  p.comp[0].Hb = a.comp[0].Hb;
  p.quant[0][5] = 0;
  CHECK(jc_write(&p, &out, &outsize, msg) == -1 && strstr(msg, "Quantisation"), "zero quant: %s", msg);
  jc_release(a.data);
}

static void test_decode(jc_decoder *d)
{
  jc_info info;
  size_t len;
  unsigned char *buf = load("gen-gray.jpg", &len);
  CHECK(jc_decode(d, buf, len, JC_CS_RGB, 0, 0, 0, &info) == 0, "decode: %s", info.message);
  CHECK(info.out_components == 3 && info.data_size == (size_t)477 * 355 * 3, "decode size");
  jc_release(info.data);
  CHECK(jc_decode(d, buf, len, JC_CS_NATIVE, 0, 0, 0, &info) == 0 && info.out_components == 1, "native gray");
  jc_release(info.data);
  free(buf);
  buf = load("pillow-pil_sample_cmyk.jpg", &len);
  CHECK(jc_decode(d, buf, len, JC_CS_RGB, 0, 0, 0, &info) == -1 && info.data == NULL, "cmyk->rgb must fail");
  free(buf);
}

/* jc_read_bands on the split-band file: the chroma 9..63 scans are skipped, every coefficient
 * is the full read's or zero, the needed ones the full read's; scan_bits shows what is missing. */
static void test_bands(jc_decoder *d)
{
  static const int luma[16] = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
  uint64_t bands[JC_MAX_COMPONENTS] = {0, (1u << 0) | (1u << 1) | (1u << 8) | (1u << 9),
                                       (1u << 0) | (1u << 1) | (1u << 8) | (1u << 9), 0};
  jc_info full, part;
  size_t len, blk;
  unsigned char *buf = load("gen-420-progressive-split-bands.jpg", &len);
  int i, ci, k, bad = 0;
  for (i = 0; i < 16; i++)
    bands[0] |= (uint64_t)1 << luma[i];
  CHECK(jc_read(d, buf, len, 0, 0, 0, &full) == 0 && full.num_scans == 16, "split file: %s", full.message);
  CHECK(jc_read_bands(d, buf, len, 0, 0, 0, 0, bands, &part) == 0, "bands: %s", part.message);
  CHECK(part.scans_skipped == 4 && part.num_scans == 12, "bands: %d scans skipped, %d decoded",
        part.scans_skipped, part.num_scans);
  CHECK(part.data_size == full.data_size && part.num_warnings == 0, "bands: size and warnings");
  for (ci = 0; ci < 3; ci++) {
    const int16_t *a = (const int16_t *)full.data + full.comp[ci].offset;
    const int16_t *b = (const int16_t *)part.data + part.comp[ci].offset;
    for (blk = 0; blk < (size_t)full.comp[ci].Hb * full.comp[ci].Wb; blk++)
      for (k = 0; k < 64; k++)
        if (b[blk * 64 + k] != a[blk * 64 + k] && (b[blk * 64 + k] != 0 || (bands[ci] >> k & 1)))
          bad++;
  }
  CHECK(bad == 0, "bands: %d coefficients neither exact nor zero (or needed and wrong)", bad);
  CHECK(part.progression && part.scan_bits[1][9] == -1 && part.scan_bits[1][8] == 0 &&
        part.scan_bits[0][9] == 0, "bands: scan_bits of the skipped band");
  jc_release(part.data);
  /* NULL bands: the full read */
  CHECK(jc_read_bands(d, buf, len, JC_CHANNELS, 0, 0, 0, NULL, &part) == 0 && part.scans_skipped == 0 &&
        part.num_scans == 16, "bands NULL");
  jc_release(part.data);
  jc_release(full.data);
  free(buf);
}

/* The edges: a one-component file keeps its true grid; write names arithmetic + optimize;
 * a progression whose successive approximation never finishes is reported. */
static void test_edges(jc_decoder *d)
{
  jc_info info;
  jc_write_params p;
  unsigned char *out = NULL;
  size_t outsize = 0;
  char msg[JC_MSG_LEN];
  CHECK(read_file(d, "gray-600x400-sampling-2x1.jpg", 0, 0, 0, &info) == 0 && info.comp[0].h == 2 &&
        info.comp[0].Wb == info.comp[0].wb && info.comp[0].Wb == 75, "gray 2x1: grid %d", info.comp[0].Wb);
  jc_release(info.data);
  CHECK(read_file(d, "gen-420-progressive-sa-unfinished.jpg", 0, 0, 0, &info) == 0 && info.progression &&
        info.scan_bits[0][1] == 1 && info.scan_bits[2][9] == 1 && info.last_good_row == 2,
        "unfinished progression: bits %d, last good row %d", info.scan_bits[0][1], info.last_good_row);
  jc_release(info.data);
  CHECK(read_file(d, "turbo-testorig.jpg", 0, 0, 0, &info) == 0 && !info.progression &&
        info.scan_bits[0][0] == -1, "sequential: no progression");
  memset(&p, 0, sizeof p);
  p.width = info.width;
  p.height = info.height;
  p.num_components = 1;
  p.colorspace = JC_CS_GRAY;
  p.arithmetic = p.optimize = 1;
  p.num_quant = 1;
  memcpy(p.quant[0], info.data, 128);
  p.comp[0].h = p.comp[0].v = 1;
  p.comp[0].Hb = info.comp[0].Hb;
  p.comp[0].Wb = info.comp[0].Wb;
  p.comp[0].data = (const int16_t *)info.data + info.comp[0].offset;
  CHECK(jc_write(&p, &out, &outsize, msg) == -1 && strstr(msg, "arithmetic") && !out, "arith+optimize: %s", msg);
  jc_release(info.data);
}

int main(int argc, char **argv)
{
  jc_decoder *d;
  jc_info info;
  int i;
  if (argc > 1) dir = argv[1];
  d = jc_decoder_new();
  if (!d) { fprintf(stderr, "jc_decoder_new failed\n"); return 2; }

  test_baseline(d);
  test_roundtrip(d);
  test_decode(d);
  test_bands(d);
  test_edges(d);

  expect_error(d, "bad-empty.jpg", 0, 0, 0, "Empty input file");
  expect_error(d, "bad-not-a-jpeg.jpg", 0, 0, 0, "Not a JPEG file");
  expect_error(d, "bad-soi-only.jpg", 0, 0, 0, "contains no image");
  expect_error(d, "bad-truncated-in-header.jpg", 0, 0, 0, "Bogus Huffman table");
  expect_error(d, "turbo-monkey12-12bit.jpg", 0, 0, 0, "Unsupported JPEG data precision 12");
  expect_error(d, "bad-huge-dimensions.jpg", 0, 178956970, 1000, "max_pixels");
  expect_error(d, "gen-420-progressive.jpg", 0, 0, 3, "max_scans");
  expect_error(d, "bad-truncated-mid-scan.jpg", JC_STRICT, 0, 0, "Premature end of JPEG file");

  /* warnings: data returned, counted, texts kept */
  CHECK(read_file(d, "bad-truncated-mid-scan.jpg", 0, 0, 0, &info) == 0, "truncated: %s", info.message);
  CHECK(info.num_warnings >= 1 && info.num_kept >= 1 && strstr(info.warnings[0], "Premature end"), "warning kept");
  jc_release(info.data);
  CHECK(read_file(d, "pillow-hopper_orientation_6.jpg", 0, 0, 0, &info) == 0 && info.orientation == 6, "EXIF");
  jc_release(info.data);

  /* straight from a file */
  {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, "gen-gray.jpg");
    CHECK(jc_read_file(d, path, 0, 0, 0, &info) == 0 && info.width == 477 && info.num_components == 1,
          "read_file: %s", info.message);
    jc_release(info.data);
    snprintf(path, sizeof path, "%s/%s", dir, "no-such-file.jpg");
    CHECK(jc_read_file(d, path, 0, 0, 0, &info) == -2 && info.sys_errno != 0 && info.data == NULL,
          "missing file must give -2");
    CHECK(jc_read_file(d, dir, 0, 0, 0, &info) == -2, "a directory must give -2");
  }

  /* the top rows only: exactly the full read's first rows, early stop, both layouts */
  {
    static const char *names[] = {"turbo-testorig.jpg", "gen-420-progressive.jpg", "gen-gray.jpg",
                                  "gray-600x400-sampling-2x1.jpg", "gen-420-restart-2-rows.jpg"};
    size_t n, len;
    for (n = 0; n < sizeof names / sizeof *names; n++) {
      jc_info full, cut;
      unsigned char *buf = load(names[n], &len);
      int lay, ci;
      CHECK(jc_read(d, buf, len, 0, 0, 0, &full) == 0, "%s: %s", names[n], full.message);
      for (lay = 0; lay < 2; lay++) {
        int mcu_h = full.num_components == 1 ? 8 : 8 * full.max_v, h2;
        CHECK(jc_read_rows(d, buf, len, lay ? JC_CHANNELS : 0, 0, 0, 20, &cut) == 0, "%s rows: %s",
              names[n], cut.message);
        h2 = (20 + mcu_h - 1) / mcu_h * mcu_h;
        CHECK(cut.height == h2 && cut.width == full.width, "%s: cut to %d rows, not %d", names[n], cut.height, h2);
        for (ci = 0; ci < full.num_components; ci++) {
          const jc_component *a = &full.comp[ci], *b = &cut.comp[ci];
          const int16_t *x = (const int16_t *)full.data + a->offset, *y = (const int16_t *)cut.data + b->offset;
          size_t r, c, plane = (size_t)b->Hb * b->Wb;
          int k, same = 1;
          CHECK(b->Hb == h2 / mcu_h * (full.num_components == 1 ? 1 : a->v), "%s: %d rows", names[n], b->Hb);
          CHECK(b->offset == (ci ? cut.comp[ci - 1].offset + (size_t)cut.comp[ci - 1].Hb * cut.comp[ci - 1].Wb * 64
                                 : (size_t)full.num_components * 64), "%s: packed", names[n]);
          for (r = 0; r < (size_t)b->Hb; r++)
            for (c = 0; c < (size_t)b->Wb; c++)
              for (k = 0; k < 64; k++)
                if (x[(r * a->Wb + c) * 64 + k] != (lay ? y[k * plane + r * b->Wb + c] : y[(r * b->Wb + c) * 64 + k]))
                  same = 0;
          CHECK(same, "%s: component %d differs from the full read's top rows", names[n], ci);
        }
        CHECK(cut.data_size == (cut.comp[cut.num_components - 1].offset +
                                (size_t)cut.comp[cut.num_components - 1].Hb * cut.comp[cut.num_components - 1].Wb * 64) * 2,
              "%s: data size", names[n]);
        jc_release(cut.data);
      }
      /* at least the full height: the full read */
      CHECK(jc_read_rows(d, buf, len, 0, 0, 0, full.height, &cut) == 0 && cut.data_size == full.data_size &&
            memcmp(cut.data, full.data, full.data_size) == 0, "%s: max_rows = height", names[n]);
      jc_release(cut.data);
      /* truncated in the last rows: an early stop never sees it (one-scan files) */
      if (!full.progressive) {
        CHECK(jc_read_rows(d, buf, len * 9 / 10, 0, 0, 0, 8, &cut) == 0 && cut.num_warnings == 0,
              "%s: truncation below the stop row was seen (%d warnings)", names[n], cut.num_warnings);
        jc_release(cut.data);
      }
      jc_release(full.data);
      free(buf);
    }
  }

  /* the pool hands out the most recently released buffer that fits (still in cache) */
  {
    jc_info x, y, z;
    CHECK(read_file(d, "turbo-testorig.jpg", 0, 0, 0, &x) == 0 && read_file(d, "turbo-testorig.jpg", 0, 0, 0, &y) == 0,
          "pool reads");
    jc_release(x.data);
    jc_release(y.data);
    CHECK(read_file(d, "turbo-testorig.jpg", 0, 0, 0, &z) == 0 && z.data == y.data, "pool: newest buffer first");
    jc_release(z.data);
  }

  /* the decoder stays usable after errors, in both layouts, many times (leaks show under ASan) */
  for (i = 0; i < 50; i++) {
    expect_error(d, "bad-empty.jpg", 0, 0, 0, "Empty");
    CHECK(read_file(d, "gen-420-progressive.jpg", (i & 1) ? JC_CHANNELS : 0, 0, 0, &info) == 0, "reuse: %s", info.message);
    CHECK(info.progressive == 1, "progressive flag");
    jc_release(info.data);
  }
  jc_decoder_free(d);
  CHECK(jc_pool_size() > 0, "released buffers are pooled");
  jc_pool_limit(0);
  CHECK(jc_pool_size() == 0, "pool emptied");
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("all C tests passed\n");
  return 0;
}
