/*
 * jpegcoef: see jpegcoef.h. Written against libjpeg-turbo 2.1's libjpeg (v6b) API.
 *
 * How the coefficients get out without a copy: after jpeg_create_decompress the memory manager's
 * request_virt_barray / realize_virt_arrays / access_virt_barray are replaced. The coefficient
 * controller of jpeg_read_coefficients only touches its whole-image block arrays through these,
 * so each component's array is backed by one contiguous region of a single buffer (rows of Wb
 * blocks, natural order: exactly the (Hb, Wb, 8, 8) layout), which is handed to the caller;
 * buffers the caller gives back (jc_release) are pooled and reused, so a batch of results
 * alive at once does not pay the kernel's page faults again and again. Rows are zeroed just before their first access (libjpeg asks for pre-zeroed arrays:
 * its Huffman decoder only writes non-zero coefficients), and rows never accessed (truncated
 * multi-scan files) are zeroed at the end, so no uninitialised memory ever escapes.
 * In the channels layout libjpeg decodes into a scratch buffer reused by the decoder and the
 * blocks are transposed into the (64, Hb, Wb) output: for single-scan files the scratch is a
 * ring holding one iMCU row per component (cache-resident), each row transposed as soon as
 * libjpeg moves to the next; for multi-scan files a whole-image scratch, transposed at the end.
 * The transposes are 8x8 int16 register transposes (SSE2; AVX2 when the CPU has it).
 * Measured with callgrind on 40 corpus images: blocks executes the same instructions as a bare
 * jpeg_read_coefficients loop (+0.03%), channels +4.7% (the transposes).
 */
#define _POSIX_C_SOURCE 200809L   /* posix_memalign, O_CLOEXEC under -std=c99 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
/* libjpeg-turbo >= 2.1 records the last iMCU row decoded from real data in its (internal) master
 * record; the block smoothing of its full decode depends on it (see jc_copy_progression). */
#if defined(LIBJPEG_TURBO_VERSION_NUMBER) && LIBJPEG_TURBO_VERSION_NUMBER >= 2001000
#define JC_TURBO21 1
#if defined(__has_include)
#if __has_include(<jpegint.h>)
#include <jpegint.h>
#define JC_HAVE_MASTER 1
#endif
#endif
#endif

#include "jpegcoef.h"

/* ------------------------------------------------------------------------------------------ */
/* Error manager                                                                                */

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jb;
  int strict;
  int num_warnings, num_kept;
  char message[JC_MSG_LEN];
  char warnings[JC_MAX_WARNINGS][JC_MSG_LEN];
} jc_error_mgr;

static void jc_error_exit(j_common_ptr cinfo)
{
  jc_error_mgr *err = (jc_error_mgr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jb, 1);
}

static void jc_output_message(j_common_ptr cinfo)
{
  /* Never print: keep the text as the last message. */
  jc_error_mgr *err = (jc_error_mgr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
}

static void jc_emit_message(j_common_ptr cinfo, int msg_level)
{
  jc_error_mgr *err = (jc_error_mgr *)cinfo->err;
  if (msg_level >= 0)
    return;                     /* trace messages: ignored */
  if (err->strict) {
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jb, 1);
  }
  err->num_warnings++;
  cinfo->err->num_warnings++;
  if (err->num_kept < JC_MAX_WARNINGS)
    (*cinfo->err->format_message)(cinfo, err->warnings[err->num_kept++]);
}

static void jc_error_init(jc_error_mgr *err)
{
  jpeg_std_error(&err->pub);
  err->pub.error_exit = jc_error_exit;
  err->pub.output_message = jc_output_message;
  err->pub.emit_message = jc_emit_message;
  err->strict = 0;
  err->num_warnings = err->num_kept = 0;
  err->message[0] = '\0';
}

static void jc_error_reset(jc_error_mgr *err, int strict)
{
  err->strict = strict;
  err->num_warnings = err->num_kept = 0;
  err->pub.num_warnings = 0;
  err->message[0] = '\0';
}

/* Fail with our own message (jumps to the active setjmp). */
static void jc_fail(j_common_ptr cinfo, const char *msg)
{
  jc_error_mgr *err = (jc_error_mgr *)cinfo->err;
  snprintf(err->message, JC_MSG_LEN, "%s", msg);
  longjmp(err->jb, 1);
}

/* A warning with our own text (counted and kept like libjpeg's; an error when strict). */
static void jc_warn(j_common_ptr cinfo, const char *msg)
{
  jc_error_mgr *err = (jc_error_mgr *)cinfo->err;
  if (err->strict)
    jc_fail(cinfo, msg);
  err->num_warnings++;
  cinfo->err->num_warnings++;
  if (err->num_kept < JC_MAX_WARNINGS)
    snprintf(err->warnings[err->num_kept++], JC_MSG_LEN, "%s", msg);
}

static void jc_copy_diagnostics(const jc_error_mgr *err, jc_info *info)
{
  int i;
  info->num_warnings = err->num_warnings;
  info->num_kept = err->num_kept;
  for (i = 0; i < err->num_kept; i++)
    memcpy(info->warnings[i], err->warnings[i], JC_MSG_LEN);
  memcpy(info->message, err->message, JC_MSG_LEN);
}

/* ------------------------------------------------------------------------------------------ */
/* Output buffers: a small pool of released buffers, reused by later calls.                     */
/*
 * Every image's coefficients go to a new buffer that the caller keeps. When callers hold many
 * at once (a batch), plain malloc hands out fresh pages each time, and the kernel's page
 * faults and page zeroing cost as much as the entropy decoding itself. Released buffers are
 * therefore kept (up to jc_pool_limit bytes in total, any thread) and reused for any request
 * they can hold without wasting more than a third of themselves. The most recently released
 * buffer that fits is taken (the pool is a stack): it is the one most likely still in the CPU
 * caches. (Best fit over a pool of a hundred buffers, as left by a batch, handed out a
 * different, cold buffer almost every time: 4-6% slower reads.)
 */
#define JC_POOL_SLOTS 512
#define JC_HEADER 64                   /* capacity stored before the data; keeps 64-byte alignment */

static pthread_mutex_t jc_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *jc_pool_buf[JC_POOL_SLOTS];
static size_t jc_pool_cap[JC_POOL_SLOTS];
static int jc_pool_n = 0;
static size_t jc_pool_bytes = 0, jc_pool_max = (size_t)256 << 20;

/* fork() while another thread holds the pool lock must not leave the child deadlocked */
static void jc_pool_prefork(void) { pthread_mutex_lock(&jc_pool_lock); }
static void jc_pool_postfork(void) { pthread_mutex_unlock(&jc_pool_lock); }
static pthread_once_t jc_pool_once = PTHREAD_ONCE_INIT;
static void jc_pool_init(void) { pthread_atfork(jc_pool_prefork, jc_pool_postfork, jc_pool_postfork); }

static void *jc_buffer(size_t size)
{
  void *p = NULL;
  size_t cap = size ? size : 1;
  int i, best = -1;
  pthread_once(&jc_pool_once, jc_pool_init);
  pthread_mutex_lock(&jc_pool_lock);
  for (i = jc_pool_n - 1; i >= 0; i--)        /* newest first */
    if (jc_pool_cap[i] >= cap && jc_pool_cap[i] - cap <= jc_pool_cap[i] / 3) {
      best = i;
      break;
    }
  if (best >= 0) {
    p = jc_pool_buf[best];
    cap = jc_pool_cap[best];
    jc_pool_bytes -= cap;
    jc_pool_n--;
    memmove(&jc_pool_buf[best], &jc_pool_buf[best + 1], (size_t)(jc_pool_n - best) * sizeof *jc_pool_buf);
    memmove(&jc_pool_cap[best], &jc_pool_cap[best + 1], (size_t)(jc_pool_n - best) * sizeof *jc_pool_cap);
  }
  pthread_mutex_unlock(&jc_pool_lock);
  if (!p) {
    cap = (cap + 4095) & ~(size_t)4095;
    if (posix_memalign(&p, 64, cap + JC_HEADER) != 0)
      return NULL;
    *(size_t *)p = cap;
  }
  return (char *)p + JC_HEADER;
}

void jc_release(void *data)
{
  void *p;
  size_t cap;
  if (!data)
    return;
  p = (char *)data - JC_HEADER;
  cap = *(size_t *)p;
  pthread_mutex_lock(&jc_pool_lock);
  if (jc_pool_n < JC_POOL_SLOTS && jc_pool_bytes + cap <= jc_pool_max) {
    jc_pool_buf[jc_pool_n] = p;
    jc_pool_cap[jc_pool_n++] = cap;
    jc_pool_bytes += cap;
    p = NULL;
  }
  pthread_mutex_unlock(&jc_pool_lock);
  free(p);
}

size_t jc_pool_limit(size_t max_bytes)
{
  size_t old;
  pthread_mutex_lock(&jc_pool_lock);
  old = jc_pool_max;
  jc_pool_max = max_bytes;
  while (jc_pool_n > 0 && jc_pool_bytes > jc_pool_max) {
    jc_pool_n--;
    jc_pool_bytes -= jc_pool_cap[jc_pool_n];
    free(jc_pool_buf[jc_pool_n]);
  }
  pthread_mutex_unlock(&jc_pool_lock);
  return old;
}

size_t jc_pool_size(void)
{
  size_t n;
  pthread_mutex_lock(&jc_pool_lock);
  n = jc_pool_bytes;
  pthread_mutex_unlock(&jc_pool_lock);
  return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoder                                                                                      */

typedef struct jc_barray {
  JBLOCKARRAY rows;          /* Hb row pointers */
  JDIMENSION Wb, Hb;
  JDIMENSION first_undef;    /* rows [0, first_undef) have been initialised */
  JDIMENSION transposed;     /* channels layout: rows [0, transposed) copied out */
  JDIMENSION ring;           /* >0: rows live in a ring of this many scratch rows (row r in slot r % ring) */
  JDIMENSION maxaccess;      /* rows per access libjpeg announced */
  JDIMENSION Ho;             /* rows in the output (< Hb when the image is cut at max_rows) */
  JDIMENSION Wo;             /* blocks per output row (< Wb: cut one-component image, h > 1) */
  JDIMENSION A;              /* rows [0, A) are backed by memory (blocks layout: the output) */
  JDIMENSION stop;           /* an access starting at or below this row ends the decode early */
  int index;                 /* request order = component index */
  struct jc_barray *next;
} jc_barray;

/* jc_read_bands (partial progressive decoding): a segment of the file (a scan includes its
 * entropy-coded data), and the byte ranges of the file libjpeg is given, in order. */
typedef struct {
  size_t start, end;
  uint64_t band;             /* scans: zig-zag coefficients Ss..Se as bits */
  uint64_t beyond;           /* progressive AC first scans: zig-zag Se+1..63, where damaged run
                              * lengths can put values (libjpeg does not check them) */
  unsigned comps;            /* scans: component indices as bits */
  int scan, keep;
} jc_segment;

typedef struct { size_t start, end; } jc_range;

typedef struct {
  struct jpeg_source_mgr pub;
  const unsigned char *buf;
  const jc_range *ranges;
  size_t n, next;
  int eoi;                   /* an EOI follows the ranges (else: the file's own end, as it is) */
} jc_src;

struct jc_decoder {
  struct jpeg_decompress_struct cinfo;   /* first: (jc_decoder *)cinfo is the decoder */
  jc_error_mgr err;
  struct jpeg_progress_mgr progress;
  /* libjpeg's own memory-manager methods, restored for jc_decode */
  jvirt_barray_ptr (*orig_request)(j_common_ptr, int, boolean, JDIMENSION, JDIMENSION, JDIMENSION);
  void (*orig_realize)(j_common_ptr);
  JBLOCKARRAY (*orig_access)(j_common_ptr, jvirt_barray_ptr, JDIMENSION, JDIMENSION, boolean);
  /* per call */
  int flags, max_scans, narrays, single_scan;
  int crop;                  /* max_rows cuts the image: rows_out per component */
  int early;                 /* ... and the decode stops at the access of row rows_stop */
  int stopped;               /* the early stop happened (longjmp out of libjpeg) */
  JDIMENSION rows_out[JC_MAX_COMPONENTS], rows_stop[JC_MAX_COMPONENTS], cols_out[JC_MAX_COMPONENTS];
  jc_barray *arrays, *tail;
  int16_t *out;              /* the buffer handed to the caller */
  size_t out_size;
  size_t out_offset[JC_MAX_COMPONENTS];
  /* reused across calls */
  JBLOCK *scratch;           /* channels layout: where libjpeg decodes */
  size_t scratch_blocks;
  unsigned char *file;       /* jc_read_file: the file's bytes */
  size_t file_cap;
  /* jc_read_bands: the file's segments, and the byte ranges libjpeg is fed (jc_src) */
  jc_segment *segs;
  size_t nsegs, segs_cap;
  jc_range *ranges;
  size_t nranges, ranges_cap;
  jc_src src;
  int scans_total, scans_kept;
  uint64_t decoded[JC_MAX_COMPONENTS];   /* natural-order coefficients the kept scans carry */
  unsigned stray;                        /* components a kept scan may have written outside them */
};

static jvirt_barray_ptr jc_request_barray(j_common_ptr cinfo, int pool_id, boolean pre_zero,
                                          JDIMENSION blocksperrow, JDIMENSION numrows,
                                          JDIMENSION maxaccess)
{
  jc_decoder *d = (jc_decoder *)cinfo;
  jc_barray *a;
  (void)pre_zero;            /* we always zero before first access */
  if (pool_id != JPOOL_IMAGE)
    ERREXIT1(cinfo, JERR_BAD_POOL_ID, pool_id);
  if (d->narrays >= JC_MAX_COMPONENTS)
    jc_fail(cinfo, "Too many coefficient arrays requested");
  a = (jc_barray *)(*cinfo->mem->alloc_small)(cinfo, JPOOL_IMAGE, sizeof(jc_barray));
  memset(a, 0, sizeof(*a));
  a->Wb = blocksperrow;
  a->Hb = numrows;
  a->maxaccess = maxaccess;
  a->index = d->narrays++;
  if (d->tail) d->tail->next = a; else d->arrays = a;
  d->tail = a;
  return (jvirt_barray_ptr)a;
}

static void jc_realize(j_common_ptr cinfo)
{
  jc_decoder *d = (jc_decoder *)cinfo;
  j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
  jc_barray *a;
  size_t total = 0, quant = (size_t)dinfo->num_components * DCTSIZE2, off, blocks, scratch = 0;
  size_t total_dec = 0;
  int ring = (d->flags & JC_CHANNELS) && d->single_scan;
  int channels = (d->flags & JC_CHANNELS) != 0;
  JDIMENSION r;
  JBLOCK *base;

  if (d->orig_realize)
    (*d->orig_realize)(cinfo);   /* anything requested from libjpeg's own manager */
  if (d->narrays != dinfo->num_components)
    jc_fail(cinfo, "Unexpected number of coefficient arrays");
  for (a = d->arrays; a; a = a->next) {
    jpeg_component_info *c = &dinfo->comp_info[a->index];
    /* libjpeg asks for whole MCUs: width_in_blocks rounded up to h_samp_factor, etc. */
    JDIMENSION wb = (c->width_in_blocks + c->h_samp_factor - 1) / c->h_samp_factor * c->h_samp_factor;
    JDIMENSION hb = (c->height_in_blocks + c->v_samp_factor - 1) / c->v_samp_factor * c->v_samp_factor;
    if (a->Wb != wb || a->Hb != hb)
      jc_fail(cinfo, "Coefficient array size differs from the MCU grid");
    /* max_rows: Ho rows are output; with an early stop only the first A rows are decoded */
    a->Ho = d->crop && d->rows_out[a->index] < a->Hb ? d->rows_out[a->index] : a->Hb;
    a->A = d->early && d->rows_stop[a->index] < a->Hb ? d->rows_stop[a->index] : a->Hb;
    a->stop = d->early ? a->A : a->Hb;
    a->Wo = d->crop && d->cols_out[a->index] < a->Wb ? d->cols_out[a->index] : a->Wb;
    if (a->Ho > a->A)
      jc_fail(cinfo, "Inconsistent row plan");
    total += (size_t)a->Wb * a->Ho;     /* bounded by max_pixels checks: no overflow */
    total_dec += (size_t)a->Wb * a->A;
    if (ring) {
      /* single-scan file, channels layout: libjpeg only ever touches the current iMCU row,
       * so decode into a small cache-resident ring and transpose each row when it is done */
      if (a->maxaccess < 1 || a->Hb % a->maxaccess)
        jc_fail(cinfo, "Unexpected coefficient access pattern");
      a->ring = a->maxaccess;
      scratch += (size_t)a->Wb * a->ring;
    }
  }
  if (channels && !ring)
    scratch = total_dec;
  /* channels: the output holds the Ho rows; blocks: libjpeg decodes into the output, so it
   * holds the A decoded rows (compacted to Ho rows at the end when they differ) */
  d->out_size = (quant + (channels ? total : total_dec) * DCTSIZE2) * sizeof(int16_t);
  d->out = (int16_t *)jc_buffer(d->out_size);
  if (!d->out)
    ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 10);
  if (d->flags & JC_CHANNELS) {
    if (d->scratch_blocks < scratch) {
      free(d->scratch);
      d->scratch_blocks = 0;
      d->scratch = (JBLOCK *)malloc(scratch * sizeof(JBLOCK));
      if (!d->scratch)
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 11);
      d->scratch_blocks = scratch;
    }
    base = d->scratch;
  } else {
    base = (JBLOCK *)(d->out + quant);
  }
  blocks = 0;
  off = quant;
  for (a = d->arrays; a; a = a->next) {
    a->rows = (JBLOCKARRAY)(*cinfo->mem->alloc_small)(cinfo, JPOOL_IMAGE,
                                                       (a->Hb ? a->Hb : 1) * sizeof(JBLOCKROW));
    for (r = 0; r < a->Hb; r++)
      a->rows[r] = a->ring ? base + blocks + (size_t)(r % a->ring) * a->Wb
                           : r < a->A ? base + blocks + (size_t)r * a->Wb : NULL;
    d->out_offset[a->index] = off;
    blocks += (size_t)a->Wb * (a->ring ? a->ring : a->A);
    off += (size_t)a->Wb * (channels ? a->Ho : a->A) * DCTSIZE2;
  }
}

/* channels layout: rows [a->transposed, upto) of the scratch array -> (64, Hb, Wb) output.
 * With SSE2, 8 blocks at a time: 8x8 int16 register transposes (8 loads, 24 unpacks, 8 stores
 * per 64 coefficients) instead of one strided scalar copy per coefficient. */
#if defined(__SSE2__)
#include <emmintrin.h>
static void jc_transpose8(const JCOEF *src, int16_t *dst, size_t plane, int kb)
{
  {
    const JCOEF *s = src + kb;
    __m128i a0 = _mm_loadu_si128((const __m128i *)(s + 0 * DCTSIZE2));
    __m128i a1 = _mm_loadu_si128((const __m128i *)(s + 1 * DCTSIZE2));
    __m128i a2 = _mm_loadu_si128((const __m128i *)(s + 2 * DCTSIZE2));
    __m128i a3 = _mm_loadu_si128((const __m128i *)(s + 3 * DCTSIZE2));
    __m128i a4 = _mm_loadu_si128((const __m128i *)(s + 4 * DCTSIZE2));
    __m128i a5 = _mm_loadu_si128((const __m128i *)(s + 5 * DCTSIZE2));
    __m128i a6 = _mm_loadu_si128((const __m128i *)(s + 6 * DCTSIZE2));
    __m128i a7 = _mm_loadu_si128((const __m128i *)(s + 7 * DCTSIZE2));
    __m128i b0 = _mm_unpacklo_epi16(a0, a1), b1 = _mm_unpackhi_epi16(a0, a1);
    __m128i b2 = _mm_unpacklo_epi16(a2, a3), b3 = _mm_unpackhi_epi16(a2, a3);
    __m128i b4 = _mm_unpacklo_epi16(a4, a5), b5 = _mm_unpackhi_epi16(a4, a5);
    __m128i b6 = _mm_unpacklo_epi16(a6, a7), b7 = _mm_unpackhi_epi16(a6, a7);
    __m128i c0 = _mm_unpacklo_epi32(b0, b2), c1 = _mm_unpackhi_epi32(b0, b2);
    __m128i c2 = _mm_unpacklo_epi32(b1, b3), c3 = _mm_unpackhi_epi32(b1, b3);
    __m128i c4 = _mm_unpacklo_epi32(b4, b6), c5 = _mm_unpackhi_epi32(b4, b6);
    __m128i c6 = _mm_unpacklo_epi32(b5, b7), c7 = _mm_unpackhi_epi32(b5, b7);
    int16_t *d = dst + (size_t)kb * plane;
    _mm_storeu_si128((__m128i *)(d + 0 * plane), _mm_unpacklo_epi64(c0, c4));
    _mm_storeu_si128((__m128i *)(d + 1 * plane), _mm_unpackhi_epi64(c0, c4));
    _mm_storeu_si128((__m128i *)(d + 2 * plane), _mm_unpacklo_epi64(c1, c5));
    _mm_storeu_si128((__m128i *)(d + 3 * plane), _mm_unpackhi_epi64(c1, c5));
    _mm_storeu_si128((__m128i *)(d + 4 * plane), _mm_unpacklo_epi64(c2, c6));
    _mm_storeu_si128((__m128i *)(d + 5 * plane), _mm_unpackhi_epi64(c2, c6));
    _mm_storeu_si128((__m128i *)(d + 6 * plane), _mm_unpacklo_epi64(c3, c7));
    _mm_storeu_si128((__m128i *)(d + 7 * plane), _mm_unpackhi_epi64(c3, c7));
  }
}
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define JC_HAVE_AVX2_PATH 1
#include <immintrin.h>
/* AVX2: 16 blocks at a time (two 8x8 transposes side by side in the two 128-bit lanes). */
__attribute__((target("avx2")))
static void jc_transpose16_avx2(const JCOEF *src, int16_t *dst, size_t plane, int kb)
{
  {
    const JCOEF *s = src + kb;
#define JC_LD(j) _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(s + (j) * DCTSIZE2))), \
                                         _mm_loadu_si128((const __m128i *)(s + ((j) + 8) * DCTSIZE2)), 1)
    __m256i a0 = JC_LD(0), a1 = JC_LD(1), a2 = JC_LD(2), a3 = JC_LD(3);
    __m256i a4 = JC_LD(4), a5 = JC_LD(5), a6 = JC_LD(6), a7 = JC_LD(7);
#undef JC_LD
    __m256i b0 = _mm256_unpacklo_epi16(a0, a1), b1 = _mm256_unpackhi_epi16(a0, a1);
    __m256i b2 = _mm256_unpacklo_epi16(a2, a3), b3 = _mm256_unpackhi_epi16(a2, a3);
    __m256i b4 = _mm256_unpacklo_epi16(a4, a5), b5 = _mm256_unpackhi_epi16(a4, a5);
    __m256i b6 = _mm256_unpacklo_epi16(a6, a7), b7 = _mm256_unpackhi_epi16(a6, a7);
    __m256i c0 = _mm256_unpacklo_epi32(b0, b2), c1 = _mm256_unpackhi_epi32(b0, b2);
    __m256i c2 = _mm256_unpacklo_epi32(b1, b3), c3 = _mm256_unpackhi_epi32(b1, b3);
    __m256i c4 = _mm256_unpacklo_epi32(b4, b6), c5 = _mm256_unpackhi_epi32(b4, b6);
    __m256i c6 = _mm256_unpacklo_epi32(b5, b7), c7 = _mm256_unpackhi_epi32(b5, b7);
    int16_t *d = dst + (size_t)kb * plane;
    _mm256_storeu_si256((__m256i *)(d + 0 * plane), _mm256_unpacklo_epi64(c0, c4));
    _mm256_storeu_si256((__m256i *)(d + 1 * plane), _mm256_unpackhi_epi64(c0, c4));
    _mm256_storeu_si256((__m256i *)(d + 2 * plane), _mm256_unpacklo_epi64(c1, c5));
    _mm256_storeu_si256((__m256i *)(d + 3 * plane), _mm256_unpackhi_epi64(c1, c5));
    _mm256_storeu_si256((__m256i *)(d + 4 * plane), _mm256_unpacklo_epi64(c2, c6));
    _mm256_storeu_si256((__m256i *)(d + 5 * plane), _mm256_unpackhi_epi64(c2, c6));
    _mm256_storeu_si256((__m256i *)(d + 6 * plane), _mm256_unpacklo_epi64(c3, c7));
    _mm256_storeu_si256((__m256i *)(d + 7 * plane), _mm256_unpackhi_epi64(c3, c7));
  }
}

static int jc_avx2(void)
{
  static int cached = -1;
  if (cached < 0) {
    __builtin_cpu_init();
    cached = __builtin_cpu_supports("avx2") ? 1 : 0;
  }
  return cached;
}
#endif

static void jc_transpose_rows(jc_decoder *d, jc_barray *a, JDIMENSION upto)
{
  int16_t *dst = d->out + d->out_offset[a->index];
  size_t plane = (size_t)a->Ho * a->Wb;
  JDIMENSION r, x;
  int k;
#ifdef JC_HAVE_AVX2_PATH
  int avx2 = jc_avx2();
#endif
  if (upto > a->Ho)                   /* rows below the output (max_rows) are dropped */
    upto = a->Ho;
  for (r = a->transposed; r < upto; r++) {
    const JCOEF *src = (const JCOEF *)a->rows[r];
    int16_t *row = dst + (size_t)r * a->Wb;
    x = 0;
    /* SIMD groups, 8 output planes at a time along the whole row (few write streams); a
     * ragged end is done as one last group overlapping the previous one (rewriting the same
     * values), so the scalar loop only runs for rows under 8 blocks */
#ifdef JC_HAVE_AVX2_PATH
    if (avx2 && a->Wb >= 16) {
      int kb;
      for (kb = 0; kb < DCTSIZE2; kb += 8) {
        for (x = 0; x + 16 <= a->Wb; x += 16)
          jc_transpose16_avx2(src + (size_t)x * DCTSIZE2, row + x, plane, kb);
        if (x < a->Wb)
          jc_transpose16_avx2(src + (size_t)(a->Wb - 16) * DCTSIZE2, row + a->Wb - 16, plane, kb);
      }
      x = a->Wb;
    }
#endif
#if defined(__SSE2__)
    if (x < a->Wb && a->Wb >= 8) {
      int kb;
      for (kb = 0; kb < DCTSIZE2; kb += 8) {
        for (x = 0; x + 8 <= a->Wb; x += 8)
          jc_transpose8(src + (size_t)x * DCTSIZE2, row + x, plane, kb);
        if (x < a->Wb)
          jc_transpose8(src + (size_t)(a->Wb - 8) * DCTSIZE2, row + a->Wb - 8, plane, kb);
      }
      x = a->Wb;
    }
#endif
    for (; x < a->Wb; x++)
      for (k = 0; k < DCTSIZE2; k++)
        row[x + k * plane] = src[(size_t)x * DCTSIZE2 + k];
  }
  if (upto > a->transposed)
    a->transposed = upto;
}

/* channels layout: rows [r0, r1) that libjpeg never decoded are zero in the output */
static void jc_zero_output_rows(jc_decoder *d, jc_barray *a, JDIMENSION r0, JDIMENSION r1)
{
  int16_t *dst = d->out + d->out_offset[a->index];
  size_t plane = (size_t)a->Ho * a->Wb;
  int k;
  if (r1 > a->Ho)
    r1 = a->Ho;
  if (r1 <= r0)
    return;
  for (k = 0; k < DCTSIZE2; k++)
    memset(dst + k * plane + (size_t)r0 * a->Wb, 0, (size_t)(r1 - r0) * a->Wb * sizeof(int16_t));
}

/* max_rows: the coefficient controller asks for the first iMCU row that is not needed. All rows
 * above it are complete (a single-scan file is decoded in row order, and the controller asks
 * for a row before it decodes any of its MCUs), so leave libjpeg here; jc_read_rows finishes
 * the result and then aborts the decompressor (libjpeg's state is never used again). */
static void jc_stop(jc_decoder *d)
{
  d->stopped = 1;
  longjmp(d->err.jb, 1);
}

static JBLOCKARRAY jc_access(j_common_ptr cinfo, jvirt_barray_ptr ptr, JDIMENSION start_row,
                             JDIMENSION num_rows, boolean writable)
{
  jc_decoder *d = (jc_decoder *)cinfo;
  jc_barray *a = (jc_barray *)ptr;
  JDIMENSION end = start_row + num_rows;
  (void)writable;
  if (end > a->Hb || end < start_row || a->rows == NULL)
    ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
  if (start_row >= a->stop)
    jc_stop(d);                 /* max_rows: every needed row is decoded; does not return */
  if (a->ring) {
    if (num_rows > a->ring || start_row % a->ring || start_row < a->transposed ||
        (start_row < a->first_undef && end > a->first_undef))
      ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
    if (start_row >= a->first_undef) {          /* a new iMCU row: the previous one is final */
      jc_transpose_rows(d, a, a->first_undef);
      jc_zero_output_rows(d, a, a->first_undef, start_row);
      a->transposed = start_row;
      memset(a->rows[start_row], 0, (size_t)num_rows * a->Wb * sizeof(JBLOCK));
      a->first_undef = end;
    }
    return a->rows + start_row;
  }
  if (end > a->A)
    ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
  if (a->first_undef < end) {
    /* pre-zero rows on first access, while they are about to be used (cache-warm) */
    JDIMENSION first = a->first_undef;
    memset(a->rows[first], 0, (size_t)(end - first) * a->Wb * sizeof(JBLOCK));
    a->first_undef = end;
  }
  return a->rows + start_row;
}

static void jc_progress(j_common_ptr cinfo)
{
  jc_decoder *d = (jc_decoder *)cinfo;
  if (d->max_scans > 0 && d->cinfo.input_scan_number > d->max_scans) {
    char msg[JC_MSG_LEN];
    snprintf(msg, sizeof msg, "More than %d scans (max_scans): refused", d->max_scans);
    jc_fail(cinfo, msg);
  }
}

jc_decoder *jc_decoder_new(void)
{
  jc_decoder *volatile d = (jc_decoder *)calloc(1, sizeof(jc_decoder));
  if (!d)
    return NULL;
  jc_error_init(&d->err);
  d->cinfo.err = &d->err.pub;
  if (setjmp(d->err.jb)) {          /* jpeg_create_decompress can fail (out of memory) */
    jpeg_destroy_decompress(&d->cinfo);
    free(d);
    return NULL;
  }
  jpeg_create_decompress(&d->cinfo);
  d->orig_request = d->cinfo.mem->request_virt_barray;
  d->orig_realize = d->cinfo.mem->realize_virt_arrays;
  d->orig_access = d->cinfo.mem->access_virt_barray;
  d->progress.progress_monitor = jc_progress;
  d->cinfo.progress = &d->progress;
  return d;
}

void jc_decoder_free(jc_decoder *d)
{
  if (!d)
    return;
  jpeg_destroy_decompress(&d->cinfo);
  jc_release(d->out);
  free(d->scratch);
  free(d->file);
  free(d->segs);
  free(d->ranges);
  free(d);
}

void jc_free(void *p) { free(p); }

int jc_libjpeg_version(void)
{
#ifdef LIBJPEG_TURBO_VERSION_NUMBER
  return LIBJPEG_TURBO_VERSION_NUMBER;
#else
  return 0;
#endif
}

static void jc_hooks(jc_decoder *d, int on)
{
  struct jpeg_memory_mgr *m = d->cinfo.mem;
  if (on) {
    m->request_virt_barray = jc_request_barray;
    m->realize_virt_arrays = jc_realize;
    m->access_virt_barray = jc_access;
  } else {
    m->request_virt_barray = d->orig_request;
    m->realize_virt_arrays = d->orig_realize;
    m->access_virt_barray = d->orig_access;
  }
}

/* A fresh libjpeg object for every image (about 0.3 us). libjpeg keeps quantisation and Huffman
 * tables across images on purpose (abbreviated datastreams), so on a reused object a file that
 * lacks a table, or defines one late, would silently be decoded with the previous file's
 * tables: results would depend on what the same thread read before. */
static void jc_fresh_object(jc_decoder *d)
{
  jpeg_destroy_decompress(&d->cinfo);
  d->cinfo.err = &d->err.pub;
  jpeg_create_decompress(&d->cinfo);
  d->orig_request = d->cinfo.mem->request_virt_barray;
  d->orig_realize = d->cinfo.mem->realize_virt_arrays;
  d->orig_access = d->cinfo.mem->access_virt_barray;
  d->cinfo.progress = &d->progress;
}

static void jc_begin(jc_decoder *d, int flags, int max_scans, jc_info *info)
{
  jc_error_reset(&d->err, (flags & JC_STRICT) != 0);
  d->flags = flags;
  d->max_scans = max_scans;
  d->narrays = 0;
  d->single_scan = 0;
  d->crop = d->early = d->stopped = 0;
  d->arrays = d->tail = NULL;
  d->nranges = 0;
  d->scans_total = d->scans_kept = 0;
  jc_release(d->out);
  d->out = NULL;
  d->out_size = 0;
  info->data = NULL;
  info->data_size = 0;
  info->num_warnings = info->num_kept = 0;
  info->message[0] = '\0';
  memset(info->scan_bits, 0xff, sizeof info->scan_bits);     /* all -1 */
  info->last_good_row = -1;
  info->progression = 0;
  info->scans_skipped = 0;
  memset(info->bands_decoded, 0xff, sizeof info->bands_decoded);
}

/* Error path: report, release everything the call allocated, make the decoder reusable. */
static int jc_abort(jc_decoder *d, jc_info *info)
{
  jc_copy_diagnostics(&d->err, info);
  if (!info->message[0])
    snprintf(info->message, JC_MSG_LEN, "Unknown libjpeg error");
  jc_release(d->out);
  d->out = NULL;
  info->data = NULL;
  jpeg_abort_decompress(&d->cinfo);
  return -1;
}

static void jc_fill_summary(jc_info *info)
{
  int64_t *s = info->summary;
  int ci;
  memset(s, 0, sizeof info->summary);
  s[0] = info->width; s[1] = info->height; s[2] = info->num_components; s[3] = info->colorspace;
  s[4] = info->progressive; s[5] = info->arithmetic; s[6] = info->orientation;
  s[7] = info->num_warnings; s[8] = info->num_scans; s[9] = info->out_components;
  for (ci = 0; ci < info->num_components && ci < JC_MAX_COMPONENTS; ci++) {
    const jc_component *c = &info->comp[ci];
    int64_t *o = s + 10 + 8 * ci;
    o[0] = c->h; o[1] = c->v; o[2] = c->hb; o[3] = c->wb; o[4] = c->Hb; o[5] = c->Wb;
    o[6] = (int64_t)c->offset; o[7] = c->quant_index;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* EXIF orientation: a small, bounded TIFF parse of the first APP1 "Exif" marker.              */

static unsigned jc_get16(const JOCTET *p, int le)
{
  return le ? (unsigned)p[0] | ((unsigned)p[1] << 8) : ((unsigned)p[0] << 8) | (unsigned)p[1];
}

static uint32_t jc_get32(const JOCTET *p, int le)
{
  return le ? (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24)
            : ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static int jc_tiff_orientation(const JOCTET *p, size_t len)
{
  int le;
  uint64_t ifd, n, i;
  if (len < 8)
    return 1;
  if (p[0] == 'I' && p[1] == 'I') le = 1;
  else if (p[0] == 'M' && p[1] == 'M') le = 0;
  else return 1;
  if (jc_get16(p + 2, le) != 42)
    return 1;
  ifd = jc_get32(p + 4, le);
  if (ifd + 2 > len)
    return 1;
  n = jc_get16(p + ifd, le);
  for (i = 0; i < n; i++) {
    uint64_t e = ifd + 2 + 12 * i;
    if (e + 12 > len)
      return 1;
    if (jc_get16(p + e, le) == 0x0112) {
      unsigned type = jc_get16(p + e + 2, le), v;
      if (type != 3 || jc_get32(p + e + 4, le) < 1)
        return 1;
      v = jc_get16(p + e + 8, le);
      return (v >= 1 && v <= 8) ? (int)v : 1;
    }
  }
  return 1;
}

static int jc_orientation(j_decompress_ptr cinfo)
{
  jpeg_saved_marker_ptr m;
  for (m = cinfo->marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && m->data &&
        memcmp(m->data, "Exif\0\0", 6) == 0)
      return jc_tiff_orientation(m->data + 6, m->data_length - 6);
  }
  return 1;
}

/* ------------------------------------------------------------------------------------------ */

static int jc_colorspace(J_COLOR_SPACE cs)
{
  switch (cs) {
  case JCS_GRAYSCALE: return JC_CS_GRAY;
  case JCS_YCbCr: return JC_CS_YCBCR;
  case JCS_RGB: return JC_CS_RGB;
  case JCS_CMYK: return JC_CS_CMYK;
  case JCS_YCCK: return JC_CS_YCCK;
  default: return -1;
  }
}

static J_COLOR_SPACE jc_jcs(int cs)
{
  switch (cs) {
  case JC_CS_GRAY: return JCS_GRAYSCALE;
  case JC_CS_YCBCR: return JCS_YCbCr;
  case JC_CS_RGB: return JCS_RGB;
  case JC_CS_CMYK: return JCS_CMYK;
  case JC_CS_YCCK: return JCS_YCCK;
  default: return JCS_UNKNOWN;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Partial progressive decoding (jc_read_bands).                                               */
/*
 * The file's segments are walked once (a bounded parse, no libjpeg): frame header, tables, and
 * each scan with its components, spectral band Ss..Se and entropy-coded data. A scan is decoded
 * when its band holds a coefficient some component in it needs; the needed set of each of its
 * components then grows by its whole band (a refinement scan continues the state of every
 * coefficient in its band, so each earlier scan of that band must be decoded too), until
 * nothing changes. Each coefficient therefore either gets exactly the scans it gets in the whole
 * file (the same value as a full read) or none (zero). libjpeg is given the file without the
 * other scans, through a source manager over the kept byte ranges, and the data stops after
 * the last kept scan (an EOI follows). Anything the walk does not understand (garbage between
 * segments, tables redefined between scans, a truncated header, unknown markers) decodes the
 * whole file instead, as does a file with nothing to skip.
 */

/* zig-zag index -> natural (row-major) index */
static const unsigned char jc_zigzag[DCTSIZE2] = {
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
  13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
  52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

static void jc_src_init(j_decompress_ptr cinfo) { (void)cinfo; }
static void jc_src_term(j_decompress_ptr cinfo) { (void)cinfo; }

static boolean jc_src_fill(j_decompress_ptr cinfo)
{
  static const JOCTET eoi[2] = {0xFF, JPEG_EOI};
  jc_src *s = (jc_src *)cinfo->src;
  if (s->next < s->n) {
    const jc_range *r = &s->ranges[s->next++];
    s->pub.next_input_byte = s->buf + r->start;
    s->pub.bytes_in_buffer = r->end - r->start;
    return TRUE;
  }
  if (!s->eoi || s->next > s->n)     /* the file itself ends here: what jpeg_mem_src does */
    WARNMS(cinfo, JWRN_JPEG_EOF);
  s->next = s->n + 1;
  s->pub.next_input_byte = eoi;
  s->pub.bytes_in_buffer = 2;
  return TRUE;
}

static void jc_src_skip(j_decompress_ptr cinfo, long num_bytes)
{
  jc_src *s = (jc_src *)cinfo->src;
  size_t n = num_bytes > 0 ? (size_t)num_bytes : 0;
  while (n > s->pub.bytes_in_buffer) {
    n -= s->pub.bytes_in_buffer;
    jc_src_fill(cinfo);                /* never suspends */
  }
  s->pub.next_input_byte += n;
  s->pub.bytes_in_buffer -= n;
}

static void jc_src_install(jc_decoder *d, const unsigned char *buf, int eoi)
{
  jc_src *s = &d->src;
  s->pub.init_source = jc_src_init;
  s->pub.fill_input_buffer = jc_src_fill;
  s->pub.skip_input_data = jc_src_skip;
  s->pub.resync_to_restart = jpeg_resync_to_restart;
  s->pub.term_source = jc_src_term;
  s->pub.bytes_in_buffer = 0;
  s->pub.next_input_byte = NULL;
  s->buf = buf;
  s->ranges = d->ranges;
  s->n = d->nranges;
  s->next = 0;
  s->eoi = eoi;
  d->cinfo.src = &s->pub;
}

/* A new segment record (NULL when out of memory: the caller then decodes the whole file). */
static jc_segment *jc_push_segment(jc_decoder *d, size_t start, size_t end)
{
  jc_segment *g;
  if (d->nsegs == d->segs_cap) {
    size_t cap = d->segs_cap ? 2 * d->segs_cap : 64;
    jc_segment *p = (jc_segment *)realloc(d->segs, cap * sizeof *p);
    if (!p)
      return NULL;
    d->segs = p;
    d->segs_cap = cap;
  }
  g = &d->segs[d->nsegs++];
  memset(g, 0, sizeof *g);
  g->start = start;
  g->end = end;
  return g;
}

/* End of a scan's entropy-coded data starting at pos: the first byte of the marker (with its
 * fill bytes) that ends it, or len. Stuffed bytes (FF 00) and restart markers are data. */
static size_t jc_scan_end(const unsigned char *buf, size_t pos, size_t len)
{
  while (pos < len) {
    const unsigned char *p = (const unsigned char *)memchr(buf + pos, 0xFF, len - pos);
    size_t ff, q;
    if (!p)
      return len;
    ff = (size_t)(p - buf);
    for (q = ff + 1; q < len && buf[q] == 0xFF; q++)
      ;
    if (q >= len)
      return len;
    if (buf[q] != 0 && (buf[q] < 0xD0 || buf[q] > 0xD7))
      return ff;
    pos = q + 1;
  }
  return len;
}

/* The frame header's component identifiers (p: the segment from its length field, seglen bytes);
 * 0 unless well-formed. */
static int jc_walk_sof(const unsigned char *p, size_t seglen, int *ids)
{
  int nc, i, j;
  if (seglen < 8)
    return 0;
  nc = p[7];
  if (nc < 1 || nc > JC_MAX_COMPONENTS || seglen != 8 + 3 * (size_t)nc)
    return 0;
  for (i = 0; i < nc; i++) {
    ids[i] = p[8 + 3 * i];
    for (j = 0; j < i; j++)
      if (ids[j] == ids[i])
        return 0;            /* libjpeg renames duplicate identifiers: not walked */
  }
  return nc;
}

/* A scan header (p: the SOS segment from its length field): its components and band into g
 * (a sequential frame's scans carry every coefficient, whatever their Ss..Se say: libjpeg only
 * warns); 0 when malformed. */
static int jc_walk_sos(const unsigned char *p, size_t seglen, const int *ids, int nc, int progressive,
                       jc_segment *g)
{
  int ns, i, ci, ss, se;
  if (seglen < 6)
    return 0;
  ns = p[2];
  if (ns < 1 || ns > JC_MAX_COMPONENTS || seglen != 6 + 2 * (size_t)ns)
    return 0;
  for (i = 0; i < ns; i++) {
    for (ci = 0; ci < nc && ids[ci] != p[3 + 2 * i]; ci++)
      ;
    if (ci == nc)
      return 0;
    g->comps |= 1u << ci;
  }
  ss = progressive ? p[3 + 2 * ns] : 0;
  se = progressive ? p[4 + 2 * ns] : DCTSIZE2 - 1;
  if (ss > se || se >= DCTSIZE2)
    return 0;
  g->band = (se == DCTSIZE2 - 1 ? ~(uint64_t)0 : ((uint64_t)1 << (se + 1)) - 1) & ~(((uint64_t)1 << ss) - 1);
  if (ss > 0 && !(p[5 + 2 * ns] >> 4) && se < DCTSIZE2 - 1)
    g->beyond = ~(((uint64_t)1 << (se + 1)) - 1);
  g->scan = 1;
  return 1;
}

/* The file's segments into d->segs. Returns the number of scans (*nc: components in the frame,
 * *eoi: the file ends with an EOI), or 0 to decode the whole file. */
static int jc_walk(jc_decoder *d, const unsigned char *buf, size_t len, int max_scans, int *nc, int *eoi)
{
  size_t pos = 2;
  int ids[JC_MAX_COMPONENTS], nscans = 0, multi = 0;
  *eoi = *nc = 0;
  d->nsegs = 0;
  if (len < 4 || buf[0] != 0xFF || buf[1] != 0xD8 || !jc_push_segment(d, 0, 2))
    return 0;
  while (pos < len) {
    size_t start = pos, seglen, end;
    const unsigned char *p;
    int m;
    jc_segment *g;
    if (buf[pos] != 0xFF)
      return 0;                              /* garbage between segments */
    while (pos < len && buf[pos] == 0xFF)
      pos++;
    if (pos >= len)
      return 0;
    m = buf[pos++];
    if (m == JPEG_EOI) {
      *eoi = 1;
      break;
    }
    if (pos + 2 > len)
      return 0;
    p = buf + pos;
    seglen = (size_t)p[0] << 8 | p[1];
    if (seglen < 2 || pos + seglen > len || !(g = jc_push_segment(d, start, pos + seglen)))
      return 0;
    end = pos + seglen;
    if (m == 0xC0 || m == 0xC1 || m == 0xC2 || m == 0xC9 || m == 0xCA) {
      if (*nc || !(*nc = jc_walk_sof(p, seglen, ids)))
        return 0;
      multi = m == 0xC2 || m == 0xCA;        /* progressive */
    } else if (m == 0xDA) {                  /* SOS */
      if (!*nc || !jc_walk_sos(p, seglen, ids, *nc, multi, g))
        return 0;
      /* a sequential file whose first scan holds every component has no other scan */
      if (!multi && !nscans && g->comps == (1u << *nc) - 1)
        return 0;
      if (++nscans > max_scans && max_scans > 0)
        return 0;                            /* refused by the whole read, as it must be */
      end = g->end = jc_scan_end(buf, end, len);
    } else if (m == 0xDB) {
      if (nscans)
        return 0;                            /* tables redefined between scans */
    } else if (!(m == 0xC4 || m == 0xCC || m == 0xDD || (m >= 0xE0 && m <= 0xEF) || m == 0xFE)) {
      return 0;                              /* anything else: libjpeg decides */
    }
    pos = end;
  }
  return nscans;
}

/* Mark the scans to decode for the natural-order needs bands[ci]; returns how many. */
static int jc_keep_scans(jc_decoder *d, const uint64_t *bands, int nc)
{
  uint64_t need[JC_MAX_COMPONENTS];
  int ci, k, kept = 0, changed = 1;
  size_t i;
  for (ci = 0; ci < nc; ci++) {
    need[ci] = 0;
    for (k = 0; k < DCTSIZE2; k++)
      if (bands[ci] >> jc_zigzag[k] & 1)
        need[ci] |= (uint64_t)1 << k;
    if (need[ci])
      need[ci] |= 1;                         /* with its DC (no AC scan without DC before it) */
  }
  while (changed) {                          /* the needed sets grow at most 64 * nc times */
    changed = 0;
    for (i = 0; i < d->nsegs; i++) {
      jc_segment *g = &d->segs[i];
      int hit = 0;
      if (!g->scan || g->keep)
        continue;
      for (ci = 0; ci < nc; ci++)
        hit |= (g->comps >> ci & 1) && (need[ci] & g->band);
      if (!hit)
        continue;
      g->keep = changed = 1;
      kept++;
      for (ci = 0; ci < nc; ci++)
        if (g->comps >> ci & 1)
          need[ci] |= g->band;
    }
  }
  for (ci = 0; ci < JC_MAX_COMPONENTS; ci++)
    d->decoded[ci] = need[ci] = 0;
  d->stray = 0;
  for (i = 0; i < d->nsegs; i++)                         /* need: now what is decoded */
    for (ci = 0; ci < nc; ci++)
      if (d->segs[i].keep && (d->segs[i].comps >> ci & 1))
        need[ci] |= d->segs[i].band;
  for (i = 0; i < d->nsegs; i++)
    for (ci = 0; ci < nc; ci++)
      if (d->segs[i].keep && (d->segs[i].comps >> ci & 1) && (d->segs[i].beyond & ~need[ci]))
        d->stray |= 1u << ci;
  for (ci = 0; ci < nc; ci++) {
    for (k = 0; k < DCTSIZE2; k++)
      if (need[ci] >> k & 1)
        d->decoded[ci] |= (uint64_t)1 << jc_zigzag[k];
  }
  return kept;
}

static int jc_push_range(jc_decoder *d, size_t start, size_t end)
{
  if (d->nranges && d->ranges[d->nranges - 1].end == start) {
    d->ranges[d->nranges - 1].end = end;
    return 1;
  }
  if (d->nranges == d->ranges_cap) {
    size_t cap = d->ranges_cap ? 2 * d->ranges_cap : 32;
    jc_range *p = (jc_range *)realloc(d->ranges, cap * sizeof *p);
    if (!p)
      return 0;
    d->ranges = p;
    d->ranges_cap = cap;
  }
  d->ranges[d->nranges].start = start;
  d->ranges[d->nranges++].end = end;
  return 1;
}

/* Plan a jc_read_bands decode. Returns 1 with d->ranges set (and the source manager to install
 * with an EOI after them, *eoi), or 0 to decode the whole file. */
static int jc_plan_scans(jc_decoder *d, const unsigned char *buf, size_t len, const uint64_t *bands,
                         int *eoi)
{
  static const uint64_t dc_only[JC_MAX_COMPONENTS] = {1, 1, 1, 1};
  int nscans, file_eoi, nc;
  size_t i, last = 0;
  d->nranges = 0;
  nscans = jc_walk(d, buf, len, d->max_scans, &nc, &file_eoi);
  if (nscans < 2)
    return 0;
  d->scans_kept = jc_keep_scans(d, bands, nc);
  if (!d->scans_kept)                        /* nothing needed: the DC values, for an image */
    d->scans_kept = jc_keep_scans(d, dc_only, nc);
  if (d->scans_kept == nscans)
    return 0;
  d->scans_total = nscans;
  for (i = 0; i < d->nsegs; i++)
    if (d->segs[i].keep)
      last = i;
  for (i = 0; i <= last; i++)
    if ((!d->segs[i].scan || d->segs[i].keep) && !jc_push_range(d, d->segs[i].start, d->segs[i].end))
      return 0;
  /* after the last kept scan an EOI, unless the file itself ends (truncated) right there */
  *eoi = file_eoi || d->segs[last].end < len;
  return 1;
}

/* Header, then the checks that must come before any large allocation. */
static void jc_header(jc_decoder *d, const unsigned char *buf, size_t len, uint64_t max_pixels,
                      jc_info *info)
{
  j_decompress_ptr cinfo = &d->cinfo;
  int ci;
  char msg[JC_MSG_LEN];
  if (len > (size_t)(unsigned long)-1)
    jc_fail((j_common_ptr)cinfo, "Input too large");
  if (!cinfo->src)                         /* (jc_read_bands may have installed its own) */
    jpeg_mem_src(cinfo, buf, (unsigned long)len);
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(cinfo, TRUE);
  if (max_pixels && (uint64_t)cinfo->image_width * cinfo->image_height > max_pixels) {
    snprintf(msg, sizeof msg, "Image is %ux%u = %llu pixels, over the limit of %llu (max_pixels)",
             (unsigned)cinfo->image_width, (unsigned)cinfo->image_height,
             (unsigned long long)cinfo->image_width * cinfo->image_height,
             (unsigned long long)max_pixels);
    jc_fail((j_common_ptr)cinfo, msg);
  }
  if (cinfo->num_components > JC_MAX_COMPONENTS) {
    snprintf(msg, sizeof msg, "%d components: at most %d are supported", cinfo->num_components,
             JC_MAX_COMPONENTS);
    jc_fail((j_common_ptr)cinfo, msg);
  }
  info->colorspace = jc_colorspace(cinfo->jpeg_color_space);
  if (info->colorspace < 0) {
    snprintf(msg, sizeof msg, "Unsupported colour space (%d components, not gray/YCbCr/RGB/CMYK/YCCK)",
             cinfo->num_components);
    jc_fail((j_common_ptr)cinfo, msg);
  }
  info->width = (int)cinfo->image_width;
  info->height = (int)cinfo->image_height;
  info->num_components = cinfo->num_components;
  info->progressive = cinfo->progressive_mode ? 1 : 0;
  info->arithmetic = cinfo->arith_code ? 1 : 0;
  info->precision = cinfo->data_precision;
  info->max_h = cinfo->max_h_samp_factor;
  info->max_v = cinfo->max_v_samp_factor;
  info->orientation = jc_orientation(cinfo);
  for (ci = 0; ci < cinfo->num_components; ci++) {
    jpeg_component_info *c = &cinfo->comp_info[ci];
    jc_component *o = &info->comp[ci];
    o->h = c->h_samp_factor;
    o->v = c->v_samp_factor;
    o->hb = (int)c->height_in_blocks;
    o->wb = (int)c->width_in_blocks;
    o->Wb = (int)((c->width_in_blocks + c->h_samp_factor - 1) / c->h_samp_factor * c->h_samp_factor);
    o->Hb = (int)((c->height_in_blocks + c->v_samp_factor - 1) / c->v_samp_factor * c->v_samp_factor);
    o->quant_index = c->quant_tbl_no;
    o->id = c->component_id;
    o->offset = 0;
  }
}

/* The quantisation table each component was decoded with (latched at its first scan). A
 * component that no scan carries may name a table the file never defines: libjpeg's full decode
 * accepts that (the component comes out flat, its coefficients being all zero), so the read
 * does too, with the table given as zeros and a warning naming the cause. (A component that a
 * scan does carry with an undefined table is libjpeg's error, before this point.) */
static void jc_copy_quant(jc_decoder *d, uint16_t *dst)
{
  j_decompress_ptr cinfo = &d->cinfo;
  int ci, k;
  char msg[JC_MSG_LEN];
  for (ci = 0; ci < cinfo->num_components; ci++) {
    jpeg_component_info *c = &cinfo->comp_info[ci];
    JQUANT_TBL *q = c->quant_table;
    if (!q && c->quant_tbl_no >= 0 && c->quant_tbl_no < NUM_QUANT_TBLS)
      q = cinfo->quant_tbl_ptrs[c->quant_tbl_no];
    if (!q) {
      snprintf(msg, sizeof msg, "Quantization table 0x%02x of component %d is not defined%s; "
               "its table is given as zeros", c->quant_tbl_no, ci,
               (d->flags & JC_HEADER_ONLY) ? " before the first scan"
                                            : " and no scan carries the component (all zero)");
      jc_warn((j_common_ptr)cinfo, msg);
      memset(dst + ci * DCTSIZE2, 0, DCTSIZE2 * sizeof(uint16_t));
      continue;
    }
    for (k = 0; k < DCTSIZE2; k++)
      dst[ci * DCTSIZE2 + k] = q->quantval[k];
  }
}

/* A progressive file's successive-approximation state at the end of the decode (jc_info
 * scan_bits, last_good_row), as libjpeg-turbo's full decode latches it for block smoothing
 * (jdcoefct.c smoothing_ok / decompress_smooth_data). libjpeg keeps a second row per component
 * (coef_bits[ci + num_components], >= 2.1) that it only writes for components a scan carried. */
static void jc_copy_progression(jc_decoder *d, jc_info *info)
{
  j_decompress_ptr cinfo = &d->cinfo;
  int ci, k, nc = cinfo->num_components;
  memset(info->scan_bits, 0xff, sizeof info->scan_bits);     /* all -1 */
  info->last_good_row = -1;
  info->progression = 0;
  if (!cinfo->progressive_mode || !cinfo->coef_bits || (JDIMENSION)info->height < cinfo->image_height)
    return;
  info->progression = 1;
  for (ci = 0; ci < nc; ci++) {
    const int *cur = cinfo->coef_bits[ci];
    int seen = 0;
    for (k = 0; k < DCTSIZE2; k++)
      seen |= cur[k] >= 0;
    for (k = 0; k < 10; k++) {
      info->scan_bits[ci][k] = cur[k];
#ifdef JC_TURBO21
      /* written by every scan of the component (k = 0: its DC scans) from the second scan on */
      if (seen && (k > 0 || cur[0] >= 0) && cinfo->input_scan_number > 1)
        info->scan_bits[ci][10 + k] = cinfo->coef_bits[ci + nc][k];
#else
      (void)seen;
#endif
    }
  }
#ifdef JC_HAVE_MASTER
  info->last_good_row = (int)cinfo->master->last_good_iMCU_row;
#endif
}

/* A one-component image's MCU is one block (its scans are never interleaved), but libjpeg pads
 * its coefficient array to the declared sampling factors (a gray file declaring 2x2 gets an even
 * grid). Those padding blocks are never coded (always zero): the output keeps the true grid,
 * as transforms.crop and jpegtran count it. */
static void jc_plan_true_grid(jc_decoder *d, jc_info *info)
{
  jc_component *o = &info->comp[0];
  if (o->Hb == o->hb && o->Wb == o->wb)
    return;
  d->crop = 1;
  d->rows_out[0] = (JDIMENSION)o->hb;
  d->cols_out[0] = (JDIMENSION)o->wb;
  d->rows_stop[0] = (JDIMENSION)o->Hb;
  o->Hb = o->hb;
  o->Wb = o->wb;
}

/* max_rows: plan the cut (after the header). The result is the image cut to its top H2 rows,
 * H2 = max_rows rounded up to the MCU height (8 for one component, as jpegtran -crop and
 * transforms.crop count it), exactly as if a JPEG of height H2 had been read: every component
 * keeps the first rows_out block rows (whole MCUs) and its true size in blocks for H2. A
 * single-scan (sequential, all components interleaved) file stops decoding at the first iMCU
 * row that is not needed; other files are decoded whole, then cut. */
static void jc_plan_rows(jc_decoder *d, int max_rows, jc_info *info)
{
  j_decompress_ptr cinfo = &d->cinfo;
  int ci, nc = cinfo->num_components;
  uint64_t mcu_h, imcu_h, H2, nmcu, n_imcu, total_imcu;
  if (nc == 1)
    jc_plan_true_grid(d, info);
  if (max_rows <= 0)
    return;
  mcu_h = nc == 1 ? DCTSIZE : (uint64_t)DCTSIZE * cinfo->max_v_samp_factor;
  imcu_h = (uint64_t)DCTSIZE * cinfo->max_v_samp_factor;   /* libjpeg's iMCU row */
  H2 = ((uint64_t)max_rows + mcu_h - 1) / mcu_h * mcu_h;
  if (H2 >= cinfo->image_height)
    return;                       /* nothing to cut: the whole image, exactly as without */
  nmcu = H2 / mcu_h;
  n_imcu = (H2 + imcu_h - 1) / imcu_h;
  total_imcu = ((uint64_t)cinfo->image_height + imcu_h - 1) / imcu_h;
  d->crop = 1;
  d->early = d->single_scan && n_imcu < total_imcu;
  info->height = (int)H2;
  for (ci = 0; ci < nc; ci++) {
    jpeg_component_info *c = &cinfo->comp_info[ci];
    uint64_t v = (uint64_t)c->v_samp_factor;
    d->rows_out[ci] = (JDIMENSION)(nmcu * (nc == 1 ? 1 : v));
    d->rows_stop[ci] = (JDIMENSION)(n_imcu * v);
    /* a one-component image's MCU is one block: whole blocks of the width, not of h blocks */
    d->cols_out[ci] = nc == 1 ? (cinfo->image_width + DCTSIZE - 1) / DCTSIZE : (JDIMENSION)info->comp[ci].Wb;
    info->comp[ci].Hb = (int)d->rows_out[ci];
    info->comp[ci].Wb = (int)d->cols_out[ci];
    /* libjpeg's height_in_blocks for an image of height H2 */
    info->comp[ci].hb = (int)((H2 * v + imcu_h - 1) / imcu_h);
  }
}

/* Header, then libjpeg's coefficient decode (may leave through jc_stop). bands: see
 * jc_read_bands (NULL: every scan). */
static void jc_read_body(jc_decoder *d, const unsigned char *buf, size_t len, uint64_t max_pixels,
                         int max_rows, const uint64_t *bands, jc_info *info)
{
  j_decompress_ptr cinfo = &d->cinfo;
  int eoi = 0;
  jc_fresh_object(d);
  jc_hooks(d, 1);
  if (bands && !(d->flags & JC_HEADER_ONLY) && jc_plan_scans(d, buf, len, bands, &eoi))
    jc_src_install(d, buf, eoi);
  else
    d->nranges = 0;
  jc_header(d, buf, len, max_pixels, info);
  if (d->flags & JC_HEADER_ONLY) {
    /* quantisation tables as defined by the header (scans not read) */
    size_t qsize = (size_t)cinfo->num_components * DCTSIZE2 * sizeof(int16_t);
    d->out = (int16_t *)jc_buffer(qsize);
    if (!d->out)
      ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 12);
    d->out_size = qsize;
    jc_copy_quant(d, (uint16_t *)d->out);
    info->num_scans = 0;
    return;
  }
  d->single_scan = !cinfo->progressive_mode && cinfo->comps_in_scan == cinfo->num_components;
  jc_plan_rows(d, max_rows, info);
  jpeg_read_coefficients(cinfo);
}

/* jc_read_bands: coefficients outside the bands of the scans decoded are zeroed. In a valid
 * file no scan writes outside its band, but libjpeg does not check that a damaged AC scan's
 * run lengths stay inside it; such a stray value would otherwise stay where the whole read has
 * the skipped scan's own value. */
static void jc_mask_bands(jc_decoder *d, jc_info *info)
{
  int ci, k;
  for (ci = 0; ci < info->num_components; ci++) {
    uint64_t keep = d->decoded[ci];
    size_t n = (size_t)info->comp[ci].Hb * info->comp[ci].Wb, b;
    int16_t *p = d->out + info->comp[ci].offset, m[DCTSIZE2];
    if (keep == ~(uint64_t)0 || !(d->stray >> ci & 1))
      continue;                       /* (no AC scan kept whose band ends below a gap) */
    if (d->flags & JC_CHANNELS) {
      for (k = 0; k < DCTSIZE2; k++)
        if (!(keep >> k & 1))
          memset(p + (size_t)k * n, 0, n * sizeof(int16_t));
      continue;
    }
    for (k = 0; k < DCTSIZE2; k++)
      m[k] = (keep >> k & 1) ? -1 : 0;
    for (b = 0; b < n; b++, p += DCTSIZE2)
      for (k = 0; k < DCTSIZE2; k++)
        p[k] &= m[k];
  }
}

/* After the decode (complete, or stopped early): the quantisation tables, rows never decoded,
 * the channels transposes, and the blocks layout compacted when rows were cut. */
static void jc_read_finish(jc_decoder *d, jc_info *info)
{
  j_decompress_ptr cinfo = &d->cinfo;
  jc_barray *a;
  int ci;
  size_t off;
  jc_copy_quant(d, (uint16_t *)d->out);
  for (a = d->arrays; a; a = a->next) {
    if (a->ring) {                      /* the last iMCU row, and any never decoded */
      jc_transpose_rows(d, a, a->first_undef);
      jc_zero_output_rows(d, a, a->first_undef, a->Ho);
      continue;
    }
    if (a->first_undef < a->A) {        /* never decoded (truncated multi-scan file) */
      memset(a->rows[a->first_undef], 0, (size_t)(a->A - a->first_undef) * a->Wb * sizeof(JBLOCK));
      a->first_undef = a->A;
    }
    if (d->flags & JC_CHANNELS)
      jc_transpose_rows(d, a, a->Ho);
  }
  if (d->crop) {
    /* keep each component's first Ho rows of Wo blocks, packed: every value only moves down
     * (or stays), so one forward pass of memmoves is safe */
    off = (size_t)cinfo->num_components * DCTSIZE2;
    for (a = d->arrays; a; a = a->next) {
      size_t src = d->out_offset[a->index], n = (size_t)a->Ho * a->Wo * DCTSIZE2, r, k;
      if (a->Wo == a->Wb) {
        if (src != off)         /* channels: planes are already Ho rows high */
          memmove(d->out + off, d->out + src, n * sizeof(int16_t));
      } else if (d->flags & JC_CHANNELS) {
        for (k = 0; k < DCTSIZE2; k++)
          for (r = 0; r < a->Ho; r++)
            memmove(d->out + off + (k * a->Ho + r) * a->Wo, d->out + src + (k * a->Ho + r) * a->Wb,
                    (size_t)a->Wo * sizeof(int16_t));
      } else {
        for (r = 0; r < a->Ho; r++)
          memmove(d->out + off + r * a->Wo * DCTSIZE2, d->out + src + r * a->Wb * DCTSIZE2,
                  (size_t)a->Wo * DCTSIZE2 * sizeof(int16_t));
      }
      d->out_offset[a->index] = off;
      off += n;
    }
    d->out_size = off * sizeof(int16_t);
  }
  for (ci = 0; ci < cinfo->num_components; ci++)
    info->comp[ci].offset = d->out_offset[ci];
  info->num_scans = cinfo->input_scan_number;
  info->scans_skipped = d->nranges ? d->scans_total - d->scans_kept : 0;
  for (ci = 0; ci < JC_MAX_COMPONENTS; ci++)
    info->bands_decoded[ci] = d->nranges ? d->decoded[ci] : ~(uint64_t)0;
  if (d->nranges)
    jc_mask_bands(d, info);
  jc_copy_progression(d, info);
}

int jc_read_bands(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
                  uint64_t max_pixels, int max_scans, int max_rows, const uint64_t *bands,
                  jc_info *info)
{
  jc_begin(d, flags, max_scans, info);
  if (setjmp(d->err.jb)) {
    if (!d->stopped || !d->out)
      return jc_abort(d, info);
    /* jc_stop: every needed row is in; finish below */
  } else {
    jc_read_body(d, buf, len, max_pixels, max_rows, bands, info);
  }
  if (setjmp(d->err.jb))
    return jc_abort(d, info);
  if (!(flags & JC_HEADER_ONLY))
    jc_read_finish(d, info);
  info->out_components = 0;
  jc_copy_diagnostics(&d->err, info);
  jc_fill_summary(info);
  info->data = d->out;
  info->data_size = d->out_size;
  d->out = NULL;                        /* now the caller's */
  jpeg_abort_decompress(&d->cinfo);
  return 0;
}

int jc_read_rows(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
                 uint64_t max_pixels, int max_scans, int max_rows, jc_info *info)
{
  return jc_read_bands(d, buf, len, flags, max_pixels, max_scans, max_rows, NULL, info);
}

int jc_read(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
            uint64_t max_pixels, int max_scans, jc_info *info)
{
  return jc_read_bands(d, buf, len, flags, max_pixels, max_scans, 0, NULL, info);
}

/* Read a whole file into the decoder's reusable buffer; 0, or an errno value. */
static int jc_load_file(jc_decoder *d, const char *path, size_t *len)
{
  struct stat st;
  size_t n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC), e;
  if (fd < 0)
    return errno ? errno : EIO;
  if (fstat(fd, &st) != 0) {
    e = errno;
    close(fd);
    return e ? e : EIO;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return EISDIR;
  }
  for (;;) {
    ssize_t got;
    if (d->file_cap < n + 65536 || (st.st_size > 0 && d->file_cap < (size_t)st.st_size + 1)) {
      size_t want = n + 65536 > (size_t)st.st_size + 1 ? n + 65536 : (size_t)st.st_size + 1;
      unsigned char *p = (unsigned char *)realloc(d->file, want + want / 4);
      if (!p) {
        close(fd);
        return ENOMEM;
      }
      d->file = p;
      d->file_cap = want + want / 4;
    }
    got = read(fd, d->file + n, d->file_cap - n);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      e = errno;
      close(fd);
      return e ? e : EIO;
    }
    if (got == 0)
      break;
    n += (size_t)got;
  }
  close(fd);
  *len = n;
  return 0;
}

int jc_read_file_bands(jc_decoder *d, const char *path, int flags, uint64_t max_pixels,
                       int max_scans, int max_rows, const uint64_t *bands, jc_info *info)
{
  size_t len = 0;
  int e = jc_load_file(d, path, &len);
  if (e) {
    info->data = NULL;
    info->sys_errno = e;
    snprintf(info->message, JC_MSG_LEN, "%s", strerror(e));
    return -2;
  }
  info->sys_errno = 0;
  return jc_read_bands(d, d->file, len, flags, max_pixels, max_scans, max_rows, bands, info);
}

int jc_read_file_rows(jc_decoder *d, const char *path, int flags, uint64_t max_pixels,
                      int max_scans, int max_rows, jc_info *info)
{
  return jc_read_file_bands(d, path, flags, max_pixels, max_scans, max_rows, NULL, info);
}

int jc_read_file(jc_decoder *d, const char *path, int flags, uint64_t max_pixels, int max_scans,
                 jc_info *info)
{
  return jc_read_file_bands(d, path, flags, max_pixels, max_scans, 0, NULL, info);
}

int jc_decode(jc_decoder *d, const unsigned char *buf, size_t len, int out_space, int flags,
              uint64_t max_pixels, int max_scans, jc_info *info)
{
  j_decompress_ptr cinfo = &d->cinfo;
  size_t stride;

  jc_begin(d, flags & JC_STRICT, max_scans, info);
  if (setjmp(d->err.jb))
    return jc_abort(d, info);
  jc_fresh_object(d);

  jc_header(d, buf, len, max_pixels, info);
  if (out_space != JC_CS_NATIVE) {
    cinfo->out_color_space = jc_jcs(out_space);
    if (cinfo->out_color_space == JCS_UNKNOWN)
      jc_fail((j_common_ptr)cinfo, "Unknown output colour space");
  }
  cinfo->dct_method = JDCT_ISLOW;       /* djpeg's default */
  cinfo->do_fancy_upsampling = TRUE;
  jpeg_start_decompress(cinfo);
  stride = (size_t)cinfo->output_width * cinfo->output_components;
  d->out_size = stride * cinfo->output_height;
  d->out = (int16_t *)jc_buffer(d->out_size);
  if (!d->out)
    ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 13);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = (JSAMPROW)d->out + (size_t)cinfo->output_scanline * stride;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  info->colorspace = jc_colorspace(cinfo->out_color_space);
  info->out_components = cinfo->output_components;
  info->num_scans = cinfo->input_scan_number;
  jc_copy_diagnostics(&d->err, info);
  jc_fill_summary(info);
  info->data = d->out;
  info->data_size = d->out_size;
  d->out = NULL;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                       */

typedef struct {
  struct jpeg_compress_struct cinfo;
  jc_error_mgr err;
  unsigned char *outbuf;
  unsigned long outsize;
} jc_writer;

/* Coefficients an 8-bit JPEG can hold: AC -1023..1023, DC -1024..1023 (DC differences then fit
 * 11 bits). Outside that range libjpeg-turbo's sequential encoders write a stream that does not
 * decode back to the same numbers, without any error: Huffman (SIMD path) codes a symbol its
 * table lacks, arithmetic codes DC differences its decoder refuses. Refuse them instead.
 * Only the true block grid is checked (libjpeg pads partial MCUs itself). */
static void jc_check_range(j_common_ptr c, const jc_wcomponent *s, int width, int height,
                                   int maxh, int maxv)
{
  JDIMENSION wb = (JDIMENSION)(((uint64_t)width * s->h + 8 * maxh - 1) / (8 * maxh));
  JDIMENSION hb = (JDIMENSION)(((uint64_t)height * s->v + 8 * maxv - 1) / (8 * maxv));
  JDIMENSION r, x;
  int k;
  char msg[JC_MSG_LEN];
  for (r = 0; r < hb; r++) {
    const int16_t *b = s->data + (size_t)r * s->Wb * DCTSIZE2;
    for (x = 0; x < wb; x++, b += DCTSIZE2) {
      int bad = b[0] < -1024 || b[0] > 1023;
      for (k = 1; k < DCTSIZE2 && !bad; k++)
        bad = b[k] < -1023 || b[k] > 1023;
      if (bad) {
        snprintf(msg, sizeof msg, "DCT coefficient out of the 8-bit JPEG range in block (%u, %u) "
                 "(AC -1023..1023, DC -1024..1023)",
                 (unsigned)r, (unsigned)x);
        jc_fail(c, msg);
      }
    }
  }
}

static int jc_write_body(jc_writer *w, const jc_write_params *p)
{
  j_compress_ptr c = &w->cinfo;
  jvirt_barray_ptr arrays[JC_MAX_COMPONENTS];
  int ci, k, maxh = 1, maxv = 1;
  JDIMENSION r;
  char msg[JC_MSG_LEN];
  J_COLOR_SPACE cs = jc_jcs(p->colorspace);

  if (cs == JCS_UNKNOWN)
    jc_fail((j_common_ptr)c, "Unknown colour space");
  if (p->num_components < 1 || p->num_components > JC_MAX_COMPONENTS)
    jc_fail((j_common_ptr)c, "Bad number of components");
  if (p->width < 1 || p->height < 1 || p->width > JPEG_MAX_DIMENSION || p->height > JPEG_MAX_DIMENSION)
    jc_fail((j_common_ptr)c, "Image size out of range (1..65500)");
  if (p->num_quant < 1 || p->num_quant > 4)
    jc_fail((j_common_ptr)c, "Between 1 and 4 quantisation tables are needed");
  if (p->optimize && p->arithmetic)
    jc_fail((j_common_ptr)c, "optimize (optimal Huffman tables) cannot be combined with arithmetic "
                             "coding, which has no Huffman tables (it adapts by itself): "
                             "write arithmetic-coded coefficients with optimize off");
  jpeg_mem_dest(c, &w->outbuf, &w->outsize);
  c->image_width = (JDIMENSION)p->width;
  c->image_height = (JDIMENSION)p->height;
  c->input_components = p->num_components;
  c->in_color_space = cs;
  jpeg_set_defaults(c);
  jpeg_set_colorspace(c, cs);
  if (c->num_components != p->num_components)
    jc_fail((j_common_ptr)c, "Number of components does not match the colour space");
  for (ci = 0; ci < p->num_components; ci++) {
    const jc_wcomponent *s = &p->comp[ci];
    if (s->h < 1 || s->h > 4 || s->v < 1 || s->v > 4)
      jc_fail((j_common_ptr)c, "Sampling factors must be 1..4");
    if (s->quant_index < 0 || s->quant_index >= p->num_quant)
      jc_fail((j_common_ptr)c, "Bad quantisation table index");
    c->comp_info[ci].h_samp_factor = s->h;
    c->comp_info[ci].v_samp_factor = s->v;
    c->comp_info[ci].quant_tbl_no = s->quant_index;
    if (s->h > maxh) maxh = s->h;
    if (s->v > maxv) maxv = s->v;
  }
  for (k = 0; k < p->num_quant; k++) {
    int i;
    if (!c->quant_tbl_ptrs[k])
      c->quant_tbl_ptrs[k] = jpeg_alloc_quant_table((j_common_ptr)c);
    for (i = 0; i < DCTSIZE2; i++) {
      if (p->quant[k][i] == 0)
        jc_fail((j_common_ptr)c, "Quantisation table entries must be 1..65535");
      c->quant_tbl_ptrs[k]->quantval[i] = p->quant[k][i];
    }
    c->quant_tbl_ptrs[k]->sent_table = FALSE;
  }
  c->optimize_coding = p->optimize ? TRUE : FALSE;
  c->arith_code = p->arithmetic ? TRUE : FALSE;
  if (p->progressive)
    jpeg_simple_progression(c);

  for (ci = 0; ci < p->num_components; ci++) {
    const jc_wcomponent *s = &p->comp[ci];
    /* the true size in blocks libjpeg will compute, and the MCU-padded array it accesses */
    JDIMENSION wb = (JDIMENSION)(((uint64_t)p->width * s->h + 8 * maxh - 1) / (8 * maxh));
    JDIMENSION hb = (JDIMENSION)(((uint64_t)p->height * s->v + 8 * maxv - 1) / (8 * maxv));
    JDIMENSION Wb = (wb + s->h - 1) / s->h * s->h, Hb = (hb + s->v - 1) / s->v * s->v;
    if (!s->data || s->Wb < (int)wb || s->Hb < (int)hb) {
      snprintf(msg, sizeof msg, "Component %d has %dx%d blocks, %ux%u needed for a %dx%d image",
               ci, s->Hb, s->Wb, (unsigned)hb, (unsigned)wb, p->width, p->height);
      jc_fail((j_common_ptr)c, msg);
    }
    arrays[ci] = (*c->mem->request_virt_barray)((j_common_ptr)c, JPOOL_IMAGE, TRUE, Wb, Hb,
                                                (JDIMENSION)s->v);
  }
  for (ci = 0; ci < p->num_components; ci++)
    jc_check_range((j_common_ptr)c, &p->comp[ci], p->width, p->height, maxh, maxv);
  (*c->mem->realize_virt_arrays)((j_common_ptr)c);
  for (ci = 0; ci < p->num_components; ci++) {
    const jc_wcomponent *s = &p->comp[ci];
    JDIMENSION wb = (JDIMENSION)(((uint64_t)p->width * s->h + 8 * maxh - 1) / (8 * maxh));
    JDIMENSION hb = (JDIMENSION)(((uint64_t)p->height * s->v + 8 * maxv - 1) / (8 * maxv));
    JDIMENSION Wb = (wb + s->h - 1) / s->h * s->h, Hb = (hb + s->v - 1) / s->v * s->v;
    JDIMENSION ncopy = (JDIMENSION)s->Wb < Wb ? (JDIMENSION)s->Wb : Wb;
    for (r = 0; r < Hb; r++) {
      JBLOCKROW row = (*c->mem->access_virt_barray)((j_common_ptr)c, arrays[ci], r, 1, TRUE)[0];
      memset(row, 0, (size_t)Wb * sizeof(JBLOCK));
      if ((int)r < s->Hb)
        memcpy(row, s->data + (size_t)r * s->Wb * DCTSIZE2, (size_t)ncopy * sizeof(JBLOCK));
    }
  }
  jpeg_write_coefficients(c, arrays);
  jpeg_finish_compress(c);
  return 0;
}

int jc_write(const jc_write_params *p, unsigned char **out, size_t *outsize, char *message)
{
  jc_writer *w = (jc_writer *)calloc(1, sizeof(jc_writer));
  *out = NULL;
  *outsize = 0;
  if (!w) {
    snprintf(message, JC_MSG_LEN, "Out of memory");
    return -1;
  }
  jc_error_init(&w->err);
  w->cinfo.err = &w->err.pub;
  if (setjmp(w->err.jb)) {
    snprintf(message, JC_MSG_LEN, "%s", w->err.message[0] ? w->err.message : "Unknown libjpeg error");
    jpeg_destroy_compress(&w->cinfo);
    free(w->outbuf);
    free(w);
    return -1;
  }
  jpeg_create_compress(&w->cinfo);
  jc_write_body(w, p);
  jpeg_destroy_compress(&w->cinfo);
  *out = w->outbuf;
  *outsize = w->outsize;
  free(w);
  message[0] = '\0';
  return 0;
}
