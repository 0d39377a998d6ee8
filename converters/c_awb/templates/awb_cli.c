/* awb_cli - white balance gains of a dual-exposure pair of raw files.
 *
 *   awb_cli [--black B] [--white W] WIDTH HEIGHT LONG.rgb16 SHORT.rgb16
 *
 * The files hold WIDTH x HEIGHT interleaved RGB pixels, little-endian uint16. Prints "R G B" (G = 1).
 * Defaults: black 0, white 65535. Exit status 1 with a one-line message on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awb_emlp.h"

static awb_ctx ctx; /* ~the statistics grid: static, not on the stack */

static int fail(const char *msg, const char *arg)
{
    fprintf(stderr, "awb_cli: error: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return 1;
}

static int parse_u32(const char *s, unsigned long max, uint32_t *out)
{
    char *end;
    unsigned long v;
    if (!s || !*s || *s == '-') return 0;
    v = strtoul(s, &end, 10);
    if (*end || v > max) return 0;
    *out = (uint32_t)v;
    return 1;
}

static uint16_t *read_frame(const char *path, uint32_t w, uint32_t h, const char **err)
{
    size_t n = (size_t)w * h * 3, i;
    unsigned char *bytes;
    uint16_t *px;
    FILE *f = fopen(path, "rb");
    long size;
    if (!f) { *err = "cannot open"; return NULL; }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f); *err = "cannot read"; return NULL;
    }
    if ((unsigned long)size != (unsigned long)(n * 2)) {
        fclose(f); *err = "file size is not WIDTH * HEIGHT * 6 bytes"; return NULL;
    }
    bytes = (unsigned char *)malloc(n * 2);
    px = (uint16_t *)malloc(n * sizeof(uint16_t));
    if (!bytes || !px || fread(bytes, 1, n * 2, f) != n * 2) {
        free(bytes); free(px); fclose(f); *err = "cannot read"; return NULL;
    }
    fclose(f);
    for (i = 0; i < n; i++) px[i] = (uint16_t)(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    free(bytes);
    return px;
}

static void print_q12(uint16_t g, const char *sep)
{
    unsigned long frac = ((unsigned long)(g % 4096u) * 1000000ul + 2048ul) / 4096ul, whole = g / 4096u;
    if (frac >= 1000000ul) { frac -= 1000000ul; whole++; }
    printf("%lu.%06lu%s", whole, frac, sep);
}

int main(int argc, char **argv)
{
    uint32_t black = 0, white = 65535, w, h;
    const char *pos[4], *err = NULL;
    int npos = 0, i, r;
    uint16_t *lf, *sf;
    awb_result res;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--black") || !strcmp(argv[i], "--white")) {
            uint32_t *dst = argv[i][2] == 'b' ? &black : &white;
            if (i + 1 >= argc || !parse_u32(argv[i + 1], 65535ul, dst))
                return fail("expected an integer 0..65535 after", argv[i]);
            i++;
        } else if (npos < 4) {
            pos[npos++] = argv[i];
        } else {
            return fail("too many arguments; usage: awb_cli [--black B] [--white W] WIDTH HEIGHT LONG SHORT", NULL);
        }
    }
    if (npos != 4) return fail("usage: awb_cli [--black B] [--white W] WIDTH HEIGHT LONG.rgb16 SHORT.rgb16", NULL);
    if (!parse_u32(pos[0], AWB_MAX_SIDE, &w) || !parse_u32(pos[1], AWB_MAX_SIDE, &h) || w == 0 || h == 0)
        return fail("WIDTH and HEIGHT must be integers 1..16384", NULL);
    if (black >= white) return fail("need --black < --white", NULL);
    if (!(lf = read_frame(pos[2], w, h, &err))) return fail(err, pos[2]);
    if (!(sf = read_frame(pos[3], w, h, &err))) { free(lf); return fail(err, pos[3]); }
    r = awb_run(&ctx, lf, sf, (size_t)w * 3, w, h, black, white, &res);
    free(lf); free(sf);
    if (r == AWB_ERR_SIZE) return fail("frames must be at least 64 x 36 pixels", NULL);
    if (r == AWB_ERR_SWAPPED) return fail("the short frame is brighter than the long one: pass LONG first", NULL);
    if (r != AWB_OK) return fail("white balance failed", NULL);
#if AWB_INT8
    print_q12(res.gains_q12[0], " "); print_q12(res.gains_q12[1], " "); print_q12(res.gains_q12[2], "\n");
#else
    (void)print_q12;
    printf("%.6f %.6f %.6f\n", (double)res.gains[0], (double)res.gains[1], (double)res.gains[2]);
#endif
    return 0;
}
