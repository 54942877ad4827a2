"""cffi (API mode) builder for ``jpegcoef._jpegcoef_cffi``: csrc/jpegcoef.c against libjpeg-turbo.

Used by setup.py (``cffi_modules``). libjpeg-turbo is found with ``pkg-config libjpeg``; when it
is missing the build stops with a message naming the Debian/Ubuntu package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSRC = os.path.join(ROOT, "csrc")

MISSING = ("libjpeg-turbo development files not found (pkg-config libjpeg failed). "
           "Install them, e.g. `apt-get install libjpeg62-turbo-dev pkg-config` "
           "(Debian; `libjpeg-turbo8-dev` on Ubuntu), then build again.")

CDEF = """
#define JC_MSG_LEN ...
#define JC_MAX_WARNINGS ...
#define JC_MAX_COMPONENTS ...
#define JC_SUMMARY_LEN ...
#define JC_CS_GRAY ...
#define JC_CS_YCBCR ...
#define JC_CS_RGB ...
#define JC_CS_CMYK ...
#define JC_CS_YCCK ...
#define JC_CS_NATIVE ...
#define JC_STRICT ...
#define JC_CHANNELS ...
#define JC_HEADER_ONLY ...

typedef struct {
  int h, v; int hb, wb; int Hb, Wb; int quant_index; int id; size_t offset;
} jc_component;

typedef struct {
  int width, height, num_components;
  int colorspace;
  int progressive, arithmetic, orientation;
  int num_scans, max_h, max_v, precision;
  int out_components;
  int num_warnings, num_kept;
  int sys_errno;
  char message[200];
  char warnings[8][200];
  void *data;
  size_t data_size;
  jc_component comp[4];
  int64_t summary[42];
  int progression;
  int scan_bits[4][20];
  int last_good_row;
  int scans_skipped;
  uint64_t bands_decoded[4];
} jc_info;

typedef struct jc_decoder jc_decoder;
jc_decoder *jc_decoder_new(void);
void jc_decoder_free(jc_decoder *d);
void jc_release(void *data);
void jc_free(void *p);
size_t jc_pool_limit(size_t max_bytes);
size_t jc_pool_size(void);
int jc_read(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
            uint64_t max_pixels, int max_scans, jc_info *info);
int jc_read_file(jc_decoder *d, const char *path, int flags, uint64_t max_pixels, int max_scans,
                 jc_info *info);
int jc_read_rows(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
                 uint64_t max_pixels, int max_scans, int max_rows, jc_info *info);
int jc_read_file_rows(jc_decoder *d, const char *path, int flags, uint64_t max_pixels,
                      int max_scans, int max_rows, jc_info *info);
int jc_read_bands(jc_decoder *d, const unsigned char *buf, size_t len, int flags,
                  uint64_t max_pixels, int max_scans, int max_rows, const uint64_t *bands,
                  jc_info *info);
int jc_read_file_bands(jc_decoder *d, const char *path, int flags, uint64_t max_pixels,
                       int max_scans, int max_rows, const uint64_t *bands, jc_info *info);
int jc_decode(jc_decoder *d, const unsigned char *buf, size_t len, int out_space, int flags,
              uint64_t max_pixels, int max_scans, jc_info *info);

typedef struct {
  int h, v, quant_index;
  int Hb, Wb;
  const int16_t *data;
} jc_wcomponent;

typedef struct {
  int width, height, num_components, colorspace;
  int progressive, arithmetic, optimize;
  int num_quant;
  uint16_t quant[4][64];
  jc_wcomponent comp[4];
} jc_write_params;

int jc_write(const jc_write_params *p, unsigned char **out, size_t *outsize, char *message);
int jc_libjpeg_version(void);
"""


def libjpeg_flags() -> tuple[list[str], list[str], list[str]]:
    """(include_dirs, library_dirs, libraries) for libjpeg, from pkg-config."""
    if shutil.which("pkg-config") is None:
        raise SystemExit(MISSING)
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", "libjpeg"], check=True,
                                capture_output=True, text=True).stdout.split()
        libs = subprocess.run(["pkg-config", "--libs", "libjpeg"], check=True,
                              capture_output=True, text=True).stdout.split()
    except subprocess.CalledProcessError:
        raise SystemExit(MISSING) from None
    inc = [f[2:] for f in cflags if f.startswith("-I")]
    libdirs = [f[2:] for f in libs if f.startswith("-L")]
    names = [f[2:] for f in libs if f.startswith("-l")] or ["jpeg"]
    return inc, libdirs, names


def make_ffi() -> FFI:
    inc, libdirs, names = libjpeg_flags()
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        "jpegcoef._jpegcoef_cffi",
        '#include "jpegcoef.h"',
        sources=[os.path.relpath(os.path.join(CSRC, "jpegcoef.c"), os.getcwd())],
        include_dirs=[CSRC, *inc],
        library_dirs=libdirs,
        libraries=names,
        extra_compile_args=["-O2", "-std=c99", "-Wall"],
    )
    return ffi


ffibuilder = make_ffi()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
