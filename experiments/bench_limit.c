/*
 * bench_limit.c -- the "limit" rows of experiments/bench_decode.py.
 *
 * A bare C loop over in-memory JPEG files with one reused libjpeg decompressor:
 *   coef      jpeg_read_coefficients only (entropy decode, nothing copied out)
 *   coef_copy the same plus a copy of every component's blocks (whole MCUs, natural
 *             order) into one contiguous reused buffer ("blocks" layout)
 *   rgb       libjpeg-turbo's full decode to RGB (default islow IDCT, fancy upsampling)
 *
 * It is not part of csrc/: it exists only to measure how close jpegcoef gets to what
 * libjpeg-turbo itself allows.  Built by bench_decode.py with
 *   gcc -O2 [-shared -fPIC] bench_limit.c $(pkg-config --cflags --libs libjpeg)
 *
 * Two ways to use it:
 *  - as a shared library (ctypes): limit_new / limit_run / limit_free, one call per image,
 *    so the Python benchmark can interleave these rows with every other method; the call
 *    returns the nanoseconds measured inside C, so the Python call overhead is excluded.
 *  - as a program:  bench_limit PASSES FILE...   (or  bench_limit PASSES @LISTFILE)
 *    loads all files into memory, then for each pass and each image runs the three modes in
 *    an order that varies from image to image and prints two lines per pass and mode:
 *        pass <p> mode <coef|coef_copy|rgb> images <n> seconds <s> checksum <c>
 *        times <p> mode <coef|coef_copy|rgb> <ns of image 0> <ns of image 1> ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <time.h>
#include <jpeglib.h>

enum { MODE_COEF = 0, MODE_COEF_COPY = 1, MODE_RGB = 2, N_MODES = 3 };
static const char *mode_names[N_MODES] = {"coef", "coef_copy", "rgb"};

struct limit_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
};

typedef struct limit_ctx {
    struct jpeg_decompress_struct cinfo;
    struct limit_err err;
    unsigned char *buf;     /* reused output buffer (coefficients or pixels) */
    size_t cap;
    unsigned long checksum; /* touched by every mode so nothing is optimised away */
    char msg[JMSG_LENGTH_MAX];
} limit_ctx;

static void limit_error_exit(j_common_ptr cinfo)
{
    struct limit_err *e = (struct limit_err *)cinfo->err;
    longjmp(e->jb, 1);
}

static void limit_silent(j_common_ptr cinfo, int level)
{
    (void)cinfo;
    (void)level;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int ensure(limit_ctx *c, size_t need)
{
    if (need <= c->cap)
        return 0;
    unsigned char *p = realloc(c->buf, need);
    if (!p)
        return -1;
    c->buf = p;
    c->cap = need;
    return 0;
}

limit_ctx *limit_new(void)
{
    limit_ctx *volatile c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cinfo.err = jpeg_std_error(&c->err.pub);
    c->err.pub.error_exit = limit_error_exit;
    c->err.pub.emit_message = limit_silent;
    if (setjmp(c->err.jb)) {
        free(c);
        return NULL;
    }
    jpeg_create_decompress(&c->cinfo);
    return c;
}

void limit_free(limit_ctx *c)
{
    if (!c)
        return;
    jpeg_destroy_decompress(&c->cinfo);
    free(c->buf);
    free(c);
}

const char *limit_message(limit_ctx *c)
{
    return c->msg;
}

unsigned long limit_checksum(limit_ctx *c)
{
    return c->checksum;
}

static int copy_out(limit_ctx *c, jvirt_barray_ptr *arrays)
{
    j_decompress_ptr ci = &c->cinfo;
    size_t total = 0;
    for (int k = 0; k < ci->num_components; k++) {
        jpeg_component_info *comp = &ci->comp_info[k];
        size_t hb = (comp->height_in_blocks + comp->v_samp_factor - 1) / comp->v_samp_factor
                    * comp->v_samp_factor;
        size_t wb = (comp->width_in_blocks + comp->h_samp_factor - 1) / comp->h_samp_factor
                    * comp->h_samp_factor;
        total += hb * wb * sizeof(JBLOCK);
    }
    if (ensure(c, total))
        return -1;
    unsigned char *dst = c->buf;
    for (int k = 0; k < ci->num_components; k++) {
        jpeg_component_info *comp = &ci->comp_info[k];
        JDIMENSION hb = (comp->height_in_blocks + comp->v_samp_factor - 1) / comp->v_samp_factor
                        * comp->v_samp_factor;
        JDIMENSION wb = (comp->width_in_blocks + comp->h_samp_factor - 1) / comp->h_samp_factor
                        * comp->h_samp_factor;
        size_t row_bytes = (size_t)wb * sizeof(JBLOCK);
        for (JDIMENSION r = 0; r < hb; r += comp->v_samp_factor) {
            JBLOCKARRAY rows = (*ci->mem->access_virt_barray)((j_common_ptr)ci, arrays[k], r,
                                                              (JDIMENSION)comp->v_samp_factor,
                                                              FALSE);
            for (int j = 0; j < comp->v_samp_factor; j++) {
                memcpy(dst, rows[j], row_bytes);
                dst += row_bytes;
            }
        }
    }
    c->checksum += (unsigned long)c->buf[total / 2];
    return 0;
}

static int decode_rgb(limit_ctx *c)
{
    j_decompress_ptr ci = &c->cinfo;
    ci->out_color_space = JCS_RGB;
    jpeg_start_decompress(ci);
    size_t stride = (size_t)ci->output_width * ci->output_components;
    if (ensure(c, stride * ci->output_height))
        return -1;
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW rows[4];
        int n = 0;
        for (; n < 4 && ci->output_scanline + n < ci->output_height; n++)
            rows[n] = c->buf + (size_t)(ci->output_scanline + n) * stride;
        jpeg_read_scanlines(ci, rows, (JDIMENSION)n);
    }
    jpeg_finish_decompress(ci);
    c->checksum += c->buf[stride * ci->output_height / 2];
    return 0;
}

/* Run one mode on one in-memory file.  Returns the elapsed nanoseconds (>= 0), or -1 on error
 * (message in limit_message). */
double limit_run(limit_ctx *c, int mode, const unsigned char *data, unsigned long size)
{
    j_decompress_ptr ci = &c->cinfo;
    c->msg[0] = '\0';
    double t0 = now_ns();
    if (setjmp(c->err.jb)) {
        (*ci->err->format_message)((j_common_ptr)ci, c->msg);
        jpeg_abort_decompress(ci);
        return -1.0;
    }
    jpeg_mem_src(ci, data, size);
    jpeg_read_header(ci, TRUE);
    if (mode == MODE_RGB) {
        if (decode_rgb(c)) {
            jpeg_abort_decompress(ci);
            strcpy(c->msg, "out of memory");
            return -1.0;
        }
    } else {
        jvirt_barray_ptr *arrays = jpeg_read_coefficients(ci);
        if (mode == MODE_COEF_COPY && copy_out(c, arrays)) {
            jpeg_abort_decompress(ci);
            strcpy(c->msg, "out of memory");
            return -1.0;
        }
        c->checksum += (unsigned long)ci->comp_info[0].width_in_blocks;
        jpeg_finish_decompress(ci);
    }
    return now_ns() - t0;
}

/* ---- standalone program -------------------------------------------------------------- */

static unsigned char *slurp(const char *path, unsigned long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = n > 0 ? malloc((size_t)n) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (unsigned long)n;
    return p;
}

static char **read_list(const char *listfile, int *count)
{
    FILE *f = fopen(listfile, "r");
    if (!f)
        return NULL;
    int cap = 256, n = 0;
    char **names = malloc(sizeof(char *) * cap);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (!len)
            continue;
        if (n == cap) {
            cap *= 2;
            names = realloc(names, sizeof(char *) * cap);
        }
        names[n++] = strdup(line);
    }
    fclose(f);
    *count = n;
    return names;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PASSES FILE... | %s PASSES @LISTFILE\n", argv[0], argv[0]);
        return 2;
    }
    int passes = atoi(argv[1]);
    char **names = argv + 2;
    int n = argc - 2;
    if (argv[2][0] == '@') {
        names = read_list(argv[2] + 1, &n);
        if (!names) {
            fprintf(stderr, "cannot read %s\n", argv[2] + 1);
            return 2;
        }
    }
    unsigned char **data = malloc(sizeof(*data) * (size_t)n);
    unsigned long *sizes = malloc(sizeof(*sizes) * (size_t)n);
    for (int i = 0; i < n; i++) {
        data[i] = slurp(names[i], &sizes[i]);
        if (!data[i]) {
            fprintf(stderr, "cannot read %s\n", names[i]);
            return 2;
        }
    }
    limit_ctx *c = limit_new();
    if (!c) {
        fprintf(stderr, "cannot create decompressor\n");
        return 2;
    }
    double *times = malloc(sizeof(double) * (size_t)n * N_MODES);
    for (int p = 0; p < passes; p++) {
        double total[N_MODES] = {0};
        for (int i = 0; i < n; i++) {
            /* the order of the three modes changes from image to image and pass to pass */
            int rev = ((i / N_MODES) + p) & 1;
            for (int k = 0; k < N_MODES; k++) {
                int mode = (i + p + (rev ? N_MODES - 1 - k : k)) % N_MODES;
                double ns = limit_run(c, mode, data[i], sizes[i]);
                if (ns < 0) {
                    fprintf(stderr, "%s: %s\n", names[i], limit_message(c));
                    return 1;
                }
                total[mode] += ns;
                times[(size_t)mode * n + i] = ns;
            }
        }
        for (int m = 0; m < N_MODES; m++) {
            printf("pass %d mode %s images %d seconds %.9f checksum %lu\n", p, mode_names[m], n,
                   total[m] * 1e-9, limit_checksum(c));
            printf("times %d mode %s", p, mode_names[m]);
            for (int i = 0; i < n; i++)
                printf(" %.0f", times[(size_t)m * n + i]);
            printf("\n");
        }
        fflush(stdout);
    }
    free(times);
    limit_free(c);
    return 0;
}
