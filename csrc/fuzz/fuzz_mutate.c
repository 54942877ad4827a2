/*
 * Deterministic mutation driver for fuzz_read.c (no libFuzzer needed: any C compiler, with
 * AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer when built with JC_SANITIZE).
 *
 *   fuzz_mutate [-n N] [-seconds S] [-seed X] [-timeout T] [-dict FILE] [-only I]
 *               [-artifacts DIR] SEED_FILE_OR_DIR...
 *
 * Input i is derived from (X, i) alone: a seed file picked at random, then 1 to 6 mutations from
 * truncation, bit/byte flips, random bytes, marker edits (a marker byte swapped for another),
 * wrong segment lengths (a marker segment's length field set to 0, 1, 2, its value +-1..+-16, or
 * 0xFFFF), dictionary tokens inserted or written over, region deletion/duplication, and splices
 * with another seed. `-only I` re-creates input I alone (to reproduce a report) and writes it to
 * the artifacts folder. Each input runs under an alarm of T seconds (a hang is a failure).
 * On a crash, a sanitizer report, a broken invariant or a timeout the input is written to
 * DIR/crash-<seed>-<i>.jpg before the process dies with a non-zero status (run UBSan with
 * UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1 so its reports reach the handler). Under
 * LeakSanitizer a leak check runs every 1000 inputs (a leak fails the run, naming the range).
 * The run stops after N inputs or S seconds, whichever comes first, and prints one JSON line.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define HAVE_SANITIZER_CALLBACK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || (defined(__has_feature) && __has_feature(address_sanitizer))
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN_CHECK 1
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern unsigned long fuzz_stat_ok, fuzz_stat_error, fuzz_stat_warned, fuzz_stat_written;

#define MAX_INPUT (1u << 20)

typedef struct { unsigned char *p; size_t n; } blob;

static blob *seeds;
static size_t nseeds, seeds_cap;
static blob *tokens;
static size_t ntokens, tokens_cap;

/* the input being run, for the crash handlers */
static unsigned char *cur;
static size_t cur_len;
static unsigned long cur_index;
static unsigned long long run_seed;
static char artifact_dir[1024] = ".";

/* ---------------------------------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void)   /* splitmix64 */
{
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static void push(blob **arr, size_t *n, size_t *cap, unsigned char *p, size_t len)
{
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    *arr = (blob *)realloc(*arr, *cap * sizeof(blob));
    if (!*arr) { perror("realloc"); exit(2); }
  }
  (*arr)[*n].p = p;
  (*arr)[(*n)++].n = len;
}

static int load_file(const char *path, unsigned char **p, size_t *n)
{
  FILE *f = fopen(path, "rb");
  long len;
  if (!f) return -1;
  if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) { fclose(f); return -1; }
  *p = (unsigned char *)malloc(len > 0 ? (size_t)len : 1);
  if (!*p || (len > 0 && fread(*p, 1, (size_t)len, f) != (size_t)len)) { fclose(f); free(*p); return -1; }
  fclose(f);
  *n = (size_t)len;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Seed files: a file, or every *.jpg / *.jpeg in a folder (sorted: deterministic order). */
static void add_seeds(const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0) { fprintf(stderr, "cannot stat %s\n", path); exit(2); }
  if (S_ISDIR(st.st_mode)) {
    DIR *dir = opendir(path);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    if (!dir) { perror(path); exit(2); }
    while ((e = readdir(dir)) != NULL) {
      size_t l = strlen(e->d_name);
      if ((l > 4 && !strcmp(e->d_name + l - 4, ".jpg")) || (l > 5 && !strcmp(e->d_name + l - 5, ".jpeg"))) {
        if (n == cap) { cap = cap ? 2 * cap : 64; names = (char **)realloc(names, cap * sizeof *names); }
        names[n++] = strdup(e->d_name);
      }
    }
    closedir(dir);
    qsort(names, n, sizeof *names, cmp_str);
    for (i = 0; i < n; i++) {
      char full[4096];
      snprintf(full, sizeof full, "%s/%s", path, names[i]);
      add_seeds(full);
      free(names[i]);
    }
    free(names);
  } else {
    unsigned char *p;
    size_t len;
    if (load_file(path, &p, &len)) { fprintf(stderr, "cannot read %s\n", path); exit(2); }
    if (len > MAX_INPUT) { free(p); return; }
    push(&seeds, &nseeds, &seeds_cap, p, len);
  }
}

static int hexval(int c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* libFuzzer/AFL dictionary: lines name="value" with \xNN and \\ \" escapes. */
static void load_dict(const char *path)
{
  FILE *f = fopen(path, "r");
  char line[4096];
  if (!f) { perror(path); exit(2); }
  while (fgets(line, sizeof line, f)) {
    char *q = strchr(line, '"'), *end;
    unsigned char buf[1024];
    size_t n = 0;
    if (line[0] == '#' || !q) continue;
    end = strrchr(line, '"');
    if (end == q) continue;
    for (q++; q < end && n < sizeof buf; q++) {
      if (*q == '\\' && q + 1 < end) {
        if (q[1] == 'x' && q + 3 < end && hexval(q[2]) >= 0 && hexval(q[3]) >= 0) {
          buf[n++] = (unsigned char)(hexval(q[2]) * 16 + hexval(q[3]));
          q += 3;
        } else {
          buf[n++] = (unsigned char)q[1];
          q++;
        }
      } else {
        buf[n++] = (unsigned char)*q;
      }
    }
    if (n) {
      unsigned char *p = (unsigned char *)malloc(n);
      memcpy(p, buf, n);
      push(&tokens, &ntokens, &tokens_cap, p, n);
    }
  }
  fclose(f);
}

/* ---------------------------------------------------------------------------------------- */
/* Mutations on buf[0..*len), capacity MAX_INPUT.                                              */

/* Offsets of marker segments that carry a 16-bit length (FF xx with xx not SOI/EOI/RSTn/TEM/FF/00). */
static size_t find_segments(const unsigned char *b, size_t len, size_t *pos, size_t max)
{
  size_t i, n = 0;
  for (i = 0; i + 3 < len && n < max; i++) {
    unsigned m = b[i + 1];
    if (b[i] == 0xFF && m != 0x00 && m != 0xFF && m != 0xD8 && m != 0xD9 && m != 0x01 &&
        !(m >= 0xD0 && m <= 0xD7))
      pos[n++] = i;
  }
  return n;
}

static void insert_bytes(unsigned char *b, size_t *len, size_t at, const unsigned char *src, size_t n)
{
  if (*len + n > MAX_INPUT) n = MAX_INPUT - *len;
  memmove(b + at + n, b + at, *len - at);
  memcpy(b + at, src, n);
  *len += n;
}

static void mutate(unsigned char *b, size_t *len)
{
  static const unsigned char markers[] = {
    0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC9, 0xCA, 0xCB, 0xCC, 0xD0, 0xD7, 0xD8, 0xD9, 0xDA,
    0xDB, 0xDC, 0xDD, 0xDE, 0xE0, 0xE1, 0xE2, 0xEE, 0xFE, 0xFF, 0x00};
  size_t pos[4096], nseg, at, n;
  int op = (int)below(13);
  if (*len == 0) op = 7;   /* only insertions make sense */
  switch (op) {
  case 0:   /* truncate */
    *len = below(*len + 1);
    break;
  case 1:   /* flip one bit */
    at = below(*len);
    b[at] ^= (unsigned char)(1u << below(8));
    break;
  case 2:   /* random bytes */
    for (n = 1 + below(8); n > 0; n--) b[below(*len)] = (unsigned char)rnd();
    break;
  case 3:   /* interesting bytes */
    {
      static const unsigned char v[] = {0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x10, 0x11, 0x22, 0x44};
      b[below(*len)] = v[below(sizeof v)];
    }
    break;
  case 4:   /* marker edit: swap the code of an existing marker */
  case 5:   /* wrong segment length */
    nseg = find_segments(b, *len, pos, sizeof pos / sizeof pos[0]);
    if (!nseg) { b[below(*len)] ^= 0xFF; break; }
    at = pos[below(nseg)];
    if (op == 4) {
      b[at + 1] = markers[below(sizeof markers)];
    } else {
      unsigned l = ((unsigned)b[at + 2] << 8) | b[at + 3];
      switch (below(5)) {
      case 0: l = (unsigned)below(3); break;
      case 1: l += 1 + (unsigned)below(16); break;
      case 2: l -= 1 + (unsigned)below(16); break;
      case 3: l = 0xFFFF; break;
      default: l = (unsigned)rnd(); break;
      }
      b[at + 2] = (unsigned char)(l >> 8);
      b[at + 3] = (unsigned char)l;
    }
    break;
  case 6:   /* change a header field near a marker (sizes, sampling factors, table ids, Ss/Se/Ah/Al) */
    nseg = find_segments(b, *len, pos, sizeof pos / sizeof pos[0]);
    if (!nseg) break;
    at = pos[below(nseg)] + 4 + below(16);
    if (at < *len) b[at] = below(2) ? (unsigned char)rnd() : (unsigned char)(b[at] + (below(2) ? 1 : -1));
    break;
  case 7:   /* dictionary token inserted */
  case 8:   /* dictionary token written over */
    if (!ntokens) { if (*len) b[below(*len)] = 0xFF; break; }
    {
      const blob *t = &tokens[below(ntokens)];
      at = below(*len + 1);
      if (op == 7 || at + t->n > *len) insert_bytes(b, len, at, t->p, t->n);
      else memcpy(b + at, t->p, t->n);
    }
    break;
  case 9:   /* delete a region */
    at = below(*len);
    n = 1 + below(below(2) ? 16 : *len - at);
    if (n > *len - at) n = *len - at;
    memmove(b + at, b + at + n, *len - at - n);
    *len -= n;
    break;
  case 10:  /* duplicate a region (e.g. a whole scan) */
    at = below(*len);
    n = 1 + below(*len - at);
    if (n > 65536) n = 65536;
    {
      unsigned char *tmp = (unsigned char *)malloc(n);
      size_t to = below(*len + 1);
      memcpy(tmp, b + at, n);
      insert_bytes(b, len, to, tmp, n);
      free(tmp);
    }
    break;
  case 11:  /* splice: head of this input, tail of another seed */
    {
      const blob *s = &seeds[below(nseeds)];
      size_t from = below(s->n + 1);
      at = below(*len + 1);
      *len = at;
      insert_bytes(b, len, at, s->p + from, s->n - from);
    }
    break;
  default:  /* insert 0xFF fill bytes or zero bytes */
    {
      unsigned char fill[32];
      memset(fill, below(2) ? 0xFF : 0x00, sizeof fill);
      insert_bytes(b, len, below(*len + 1), fill, 1 + below(sizeof fill));
    }
    break;
  }
}

/* Input i of this run: a seed and 1..6 mutations (10% unmutated seeds, then half of the rest one
 * mutation only: most inputs stay close enough to a JPEG to reach the entropy decoder). */
static void make_input(unsigned long i, unsigned char *b, size_t *len)
{
  const blob *s;
  int k, nmut;
  rng_state = run_seed * 0x100000001B3ull ^ (uint64_t)i * 0x9E3779B97F4A7C15ull;
  rnd();
  s = &seeds[below(nseeds)];
  memcpy(b, s->p, s->n);
  *len = s->n;
  nmut = below(10) == 0 ? 0 : below(2) ? 1 : 1 + (int)below(6);
  for (k = 0; k < nmut; k++)
    mutate(b, len);
}

/* ---------------------------------------------------------------------------------------- */
/* Reporting                                                                                    */

static int finished;   /* the loop is over: a report now (LeakSanitizer at exit) has no input */

static void save_input(const char *why)
{
  char path[1200];
  int fd;
  if (finished) {
    fprintf(stderr, "\nfuzz_mutate: %s after the last input (seed %llu)\n", why, run_seed);
    return;
  }
  /* async-signal-safe enough for a dying process: snprintf of integers, open/write/close */
  snprintf(path, sizeof path, "%s/crash-%llu-%lu.jpg", artifact_dir, run_seed, cur_index);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ssize_t w = write(fd, cur, cur_len);
    (void)w;
    close(fd);
  }
  fprintf(stderr, "\nfuzz_mutate: %s on input %lu (seed %llu, %zu bytes), saved to %s\n"
          "reproduce: fuzz_mutate -seed %llu -only %lu SEEDS...\n",
          why, cur_index, run_seed, cur_len, path, run_seed, cur_index);
}

static void on_signal(int sig)
{
  save_input(sig == SIGALRM ? "timeout" : "crash (signal)");
  signal(sig, SIG_DFL);
  if (sig == SIGALRM) _exit(3);
  raise(sig);
}

#ifdef HAVE_SANITIZER_CALLBACK
static void on_sanitizer_death(void) { save_input("sanitizer report"); }
#endif

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
  unsigned long n = 100000, i, only = (unsigned long)-1, progress = 0;
  double seconds = 0, t0, elapsed;
  unsigned timeout = 10;
  int a;
  size_t bytes_total = 0;

  for (a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "-n") && a + 1 < argc) n = strtoul(argv[++a], NULL, 10);
    else if (!strcmp(argv[a], "-seconds") && a + 1 < argc) seconds = atof(argv[++a]);
    else if (!strcmp(argv[a], "-seed") && a + 1 < argc) run_seed = strtoull(argv[++a], NULL, 10);
    else if (!strcmp(argv[a], "-timeout") && a + 1 < argc) timeout = (unsigned)atoi(argv[++a]);
    else if (!strcmp(argv[a], "-dict") && a + 1 < argc) load_dict(argv[++a]);
    else if (!strcmp(argv[a], "-only") && a + 1 < argc) only = strtoul(argv[++a], NULL, 10);
    else if (!strcmp(argv[a], "-progress") && a + 1 < argc) progress = strtoul(argv[++a], NULL, 10);
    else if (!strcmp(argv[a], "-artifacts") && a + 1 < argc) snprintf(artifact_dir, sizeof artifact_dir, "%s", argv[++a]);
    else if (argv[a][0] == '-') { fprintf(stderr, "unknown option %s (see the comment at the top of fuzz_mutate.c)\n", argv[a]); return 2; }
    else add_seeds(argv[a]);
  }
  if (!nseeds) { fprintf(stderr, "usage: fuzz_mutate [options] SEED_FILE_OR_DIR...\n"); return 2; }

  cur = (unsigned char *)malloc(MAX_INPUT);
  if (!cur) return 2;
  signal(SIGSEGV, on_signal);
  signal(SIGBUS, on_signal);
  signal(SIGFPE, on_signal);
  signal(SIGILL, on_signal);
  signal(SIGABRT, on_signal);
  signal(SIGALRM, on_signal);
#ifdef HAVE_SANITIZER_CALLBACK
  __sanitizer_set_death_callback(on_sanitizer_death);
#endif

  if (only != (unsigned long)-1) {
    cur_index = only;
    make_input(only, cur, &cur_len);
    save_input("requested (-only)");
    alarm(timeout);
    LLVMFuzzerTestOneInput(cur, cur_len);
    alarm(0);
    fprintf(stderr, "input %lu ran cleanly\n", only);
    return 0;
  }

  t0 = now();
  for (i = 0; i < n; i++) {
    cur_index = i;
    make_input(i, cur, &cur_len);
    bytes_total += cur_len;
    alarm(timeout);
    LLVMFuzzerTestOneInput(cur, cur_len);
    alarm(0);
#ifdef HAVE_LSAN_CHECK
    /* a leak check every 1000 inputs narrows a leak down to those inputs */
    if ((i + 1) % 1000 == 0 && __lsan_do_recoverable_leak_check()) {
      fprintf(stderr, "\nfuzz_mutate: memory leaked by one of inputs %lu..%lu (seed %llu): "
              "reproduce each with -only\n", i - 999, i, run_seed);
      return 1;
    }
#endif
    if (progress && (i + 1) % progress == 0)
      fprintf(stderr, "fuzz_mutate: %lu inputs, %.0f s\n", i + 1, now() - t0);
    if (seconds > 0 && (i & 63) == 63 && now() - t0 > seconds) { i++; break; }
  }
  elapsed = now() - t0;
  printf("{\"inputs\": %lu, \"read_ok\": %lu, \"read_ok_with_warnings\": %lu, \"read_error\": %lu, "
         "\"rewritten\": %lu, \"seed_files\": %zu, \"dict_tokens\": %zu, \"seed\": %llu, "
         "\"mean_input_bytes\": %.0f, \"seconds\": %.1f}\n",
         i, fuzz_stat_ok, fuzz_stat_warned, fuzz_stat_error, fuzz_stat_written, nseeds, ntokens,
         run_seed, i ? (double)bytes_total / i : 0.0, elapsed);
  fflush(stdout);
  finished = 1;
  for (i = 0; i < nseeds; i++) free(seeds[i].p);
  for (i = 0; i < ntokens; i++) free(tokens[i].p);
  free(seeds);
  free(tokens);
  free(cur);
  return 0;
}
