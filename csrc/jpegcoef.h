/*
 * jpegcoef: a small C surface over libjpeg-turbo's libjpeg API.
 *
 *  - jc_read:   header + quantised DCT coefficients (entropy decoding only). The coefficients are
 *               decoded straight into one buffer that the caller then owns (give it back with
 *               jc_release): libjpeg's whole-image coefficient arrays are backed by that buffer through
 *               the memory manager's virtual-array hooks, so there is no copy-out.
 *  - jc_decode: libjpeg's full decode (IDCT, fancy upsampling, colour conversion): the reference.
 *  - jc_write:  lossless re-encode of coefficients (jpeg_write_coefficients) into memory.
 *
 * Every libjpeg error comes back as a return value of -1 with libjpeg's message in
 * info->message (setjmp/longjmp error manager); nothing is printed, nothing calls exit(), every
 * resource is freed on every path. Warnings (recoverable damage) are counted and their first
 * JC_MAX_WARNINGS texts kept. No Python.h: used from Python through cffi and from C tests.
 * A jc_decoder may be reused for many images but used by one thread at a time.
 */
#ifndef JPEGCOEF_H
#define JPEGCOEF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JC_MSG_LEN 200        /* = libjpeg's JMSG_LENGTH_MAX */
#define JC_MAX_WARNINGS 8     /* warning texts kept (all are counted) */
#define JC_MAX_COMPONENTS 4
#define JC_SUMMARY_LEN (10 + 8 * JC_MAX_COMPONENTS)

/* Colour spaces (jc_info.colorspace, jc_write_params.colorspace, jc_decode out_space). */
enum { JC_CS_GRAY = 0, JC_CS_YCBCR = 1, JC_CS_RGB = 2, JC_CS_CMYK = 3, JC_CS_YCCK = 4,
       JC_CS_NATIVE = -1 /* jc_decode: no colour conversion */ };

/* jc_read / jc_decode flags. */
enum {
  JC_STRICT = 1,      /* the first warning is an error */
  JC_CHANNELS = 2,    /* jc_read: coefficient layout (64, Hb, Wb) per component instead of (Hb, Wb, 64) */
  JC_HEADER_ONLY = 4  /* jc_read: header and quantisation tables only, no coefficients */
};

typedef struct {
  int h, v;             /* sampling factors */
  int hb, wb;           /* true size in blocks (height_in_blocks, width_in_blocks) */
  int Hb, Wb;           /* decoded grid: whole MCUs (hb, wb rounded up to v, h) */
  int quant_index;      /* the file's quantisation table slot */
  int id;               /* component identifier byte */
  size_t offset;        /* start of this component's coefficients in data, in int16 units */
} jc_component;

typedef struct {
  int width, height, num_components;
  int colorspace;       /* JC_CS_*: the file's colour space (jc_decode: of the output) */
  int progressive, arithmetic, orientation; /* orientation: EXIF 1..8, 1 when absent/bad */
  int num_scans, max_h, max_v, precision;
  int out_components;   /* jc_decode: samples per pixel in data */
  int num_warnings, num_kept;
  int sys_errno;                            /* jc_read_file: errno when it returns -2 */
  char message[JC_MSG_LEN];                 /* error text when a call returns -1 */
  char warnings[JC_MAX_WARNINGS][JC_MSG_LEN];
  /* jc_read: int16; first num_components*64 quantisation values (uint16 bits, natural order),
   * then each component's coefficients at comp[i].offset. jc_decode: uint8 (H, W, out_components).
   * Owned by the caller after a successful call: give back with jc_release. NULL on error. */
  void *data;
  size_t data_size;     /* bytes */
  jc_component comp[JC_MAX_COMPONENTS];
  /* The same facts as one flat array (cheap to read from Python in a single call):
   * [0..9]  width, height, num_components, colorspace, progressive, arithmetic, orientation,
   *         num_warnings, num_scans, out_components
   * [10 + 8*i ..] component i: h, v, hb, wb, Hb, Wb, offset, quant_index */
  int64_t summary[JC_SUMMARY_LEN];
  /* jc_read of a progressive file (progression = 1; 0 otherwise, and for a cut max_rows read):
   * the successive-approximation state libjpeg ends with, which its full decode uses to smooth
   * blocks whose first AC coefficients are incomplete. For component ci and zig-zag coefficient
   * k = 0..9, scan_bits[ci][k] is the point transform Al of the last scan that carried k
   * (0: exact, -1: never sent) and scan_bits[ci][10 + k] the same before that component's last
   * scan (-1: unknown, or the file's first scan). last_good_row: the last iMCU row the last scan
   * decoded from real data (libjpeg's last_good_iMCU_row; -1 when this libjpeg does not expose it). */
  int progression;
  int scan_bits[JC_MAX_COMPONENTS][20];
  int last_good_row;
  int scans_skipped;    /* jc_read_bands: scans of the file not decoded (num_scans: decoded) */
  uint64_t bands_decoded[JC_MAX_COMPONENTS]; /* jc_read_bands: natural-order coefficients (bit
                         * 8*row+col) the decoded scans carry per component; the others are zero
                         * (all bits set when no scan was skipped) */
} jc_info;

typedef struct jc_decoder jc_decoder;

jc_decoder *jc_decoder_new(void);            /* NULL when out of memory */
void jc_decoder_free(jc_decoder *d);
void jc_release(void *data);   /* give back info->data of jc_read/jc_decode (any thread) */
void jc_free(void *p);         /* free jc_write's output */

/* Released data buffers are kept for reuse (no page faults for the next images) up to this
 * many bytes in total (default 256 MiB); returns the previous limit. 0 frees and disables. */
size_t jc_pool_limit(size_t max_bytes);
size_t jc_pool_size(void);     /* bytes currently kept */

/* Read header and coefficients of the JPEG in buf[0..len). Returns 0, or -1 with info->message.
 * Refuses (before any large allocation) images over max_pixels pixels (0: no limit), and files
 * with more than max_scans scans (0: no limit). */
int jc_read(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
            uint64_t max_pixels, int max_scans, jc_info *info);

/* jc_read of the top max_rows pixel rows only (max_rows <= 0: all). The result is exactly the
 * image cut to its top H2 = min(height, max_rows rounded up to the MCU height) rows, as if the
 * file had been H2 rows high: info->height = H2, each component keeps its first Hb = H2/MCU
 * height * v block rows (* 1 for a one-component image, whose MCU is 8x8) and hb is the true
 * size in blocks for H2; nothing changes when H2 is the full height. A single-scan file
 * (sequential, all components in one scan) stops decoding after the last iMCU row needed, so
 * damage (and its warnings) further down is never seen; other files (progressive, several
 * scans) are decoded whole and then cut. */
int jc_read_rows(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
                 uint64_t max_pixels, int max_scans, int max_rows, jc_info *info);

/* jc_read_rows decoding only the scans that the frequencies bands[ci] need (partial progressive
 * decoding). bands[ci], ci < JC_MAX_COMPONENTS: a bit mask of natural-order frequencies
 * (bit 8*row+col) that component ci needs (~0: all, 0: none); NULL: everything, as jc_read_rows.
 * A scan is decoded when its band holds a needed coefficient of a component in it, and then
 * every coefficient in its band counts as needed (its earlier scans are decoded too); each
 * component's DC is needed with any of its frequencies. So every coefficient of the result is
 * either exactly the whole read's or zero (its scans all skipped: scan_bits shows -1 for it,
 * bands_decoded lacks it), and the needed ones are the whole read's. That holds for valid
 * data: libjpeg does not check that a damaged AC scan's runs stay inside its band, so in a
 * damaged file a skipped scan may have written into a needed coefficient in the whole read
 * (values outside the decoded bands are zeroed, whatever the kept scans wrote). The file's data ends after the last scan needed.
 * Skipped scans are never decoded: their damage (and warnings) is not seen. Files whose segment
 * structure the walk does not follow (garbage between segments, tables redefined between
 * scans, unknown markers), sequential files with one scan, and files whose every scan is
 * needed are decoded whole. info->scans_skipped: how many scans were not decoded. */
int jc_read_bands(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
                  uint64_t max_pixels, int max_scans, int max_rows, const uint64_t *bands,
                  jc_info *info);

/* jc_read on the contents of a file (read without a copy into the decoder's reusable buffer).
 * Returns -2 with info->sys_errno (and strerror in info->message) when the file cannot be read. */
int jc_read_file(jc_decoder *d, const char *path, int flags, uint64_t max_pixels, int max_scans,
                 jc_info *info);

/* jc_read_file of the top max_rows pixel rows only (see jc_read_rows). */
int jc_read_file_rows(jc_decoder *d, const char *path, int flags, uint64_t max_pixels,
                      int max_scans, int max_rows, jc_info *info);

/* jc_read_file of the scans bands need only (see jc_read_bands). */
int jc_read_file_bands(jc_decoder *d, const char *path, int flags, uint64_t max_pixels,
                       int max_scans, int max_rows, const uint64_t *bands, jc_info *info);

/* libjpeg's full decode (islow IDCT, fancy upsampling) to out_space (JC_CS_RGB, JC_CS_YCBCR,
 * JC_CS_GRAY or JC_CS_NATIVE). info->data: uint8 (height, width, out_components). */
int jc_decode(jc_decoder *d, const unsigned char *buf, size_t len, int out_space, int flags,
              uint64_t max_pixels, int max_scans, jc_info *info);

typedef struct {
  int h, v, quant_index;
  int Hb, Wb;             /* size of data's block grid; at least the true size in blocks */
  const int16_t *data;    /* (Hb, Wb, 64) C-contiguous, natural order */
} jc_wcomponent;

typedef struct {
  int width, height, num_components, colorspace;
  int progressive, arithmetic, optimize;
  int num_quant;
  uint16_t quant[4][64];  /* natural order */
  jc_wcomponent comp[JC_MAX_COMPONENTS];
} jc_write_params;

/* Encode the coefficients losslessly into a new JPEG in memory. On success *out (free with
 * jc_free) and *outsize are set; returns -1 with message (JC_MSG_LEN bytes) on error. */
int jc_write(const jc_write_params *p, unsigned char **out, size_t *outsize, char *message);

/* libjpeg-turbo's version number, e.g. 2001005 for 2.1.5 (0 when unknown). */
int jc_libjpeg_version(void);

#ifdef __cplusplus
}
#endif
#endif
