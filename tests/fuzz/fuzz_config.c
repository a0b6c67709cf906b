/* Fuzz target: config loading (config/config.h).
 *
 * The input is config text, loaded twice: from a string
 * (rw_config_load_string) and from a file (rw_config_load, through a memfd,
 * so nothing touches the disk). Both must agree on accept/reject; a
 * rejection must come with a message naming the file. An accepted config
 * must print (rw_config_print) to text that loads again and prints the same
 * settings (comments aside: the effective config is a fixed point), except where the printer is
 * documented not to round-trip: time_intervals are printed as a comment only.
 *
 * `@include` is skipped: it would let the fuzzer read any file on the host,
 * which tests libconfig and the host, not us. Secret files named by the
 * config (secret_file, routing_key_file) are read with a size cap and stay in. */
#define _GNU_SOURCE /* memfd_create */
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/fuzz/fuzz.h"

static int memfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memfd = memfd_create("rw_fuzz_config", 0);
    FUZZ_CHECK(memfd >= 0, "memfd_create");
    return 0;
}

static char *print_to_string(const struct rw_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FUZZ_CHECK(f, "open_memstream");
    rw_config_print(c, f);
    fclose(f);
    return buf;
}

/* The printout without comment lines (its first line names the source; an
 * implicit route is printed as an explicit one with a comment saying so). */
static char *settings(const char *p)
{
    char *out = fuzz_strndup((const uint8_t *)p, strlen(p)), *o = out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (p[strspn(p, " ")] != '#') {
            memcpy(o, p, n);
            o += n;
        }
        p += n;
    }
    *o = '\0';
    return out;
}

static int check_err(const char *err, size_t errlen, const char *name)
{
    FUZZ_CHECK(memchr(err, '\0', errlen), "message not terminated");
    FUZZ_CHECK(err[0], "rejected without a message");
    FUZZ_CHECK(strncmp(err, name, strlen(name)) == 0, "message does not name %s: %s", name, err);
    return 0;
}

static struct rw_config *load_file(const char *text, size_t len, char *err, size_t errlen)
{
    FUZZ_CHECK(ftruncate(memfd, 0) == 0, "ftruncate");
    FUZZ_CHECK(pwrite(memfd, text, len, 0) == (ssize_t)len, "pwrite");
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    struct rw_config *c = rw_config_load(path, err, errlen);
    if (!c)
        check_err(err, errlen, path);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    if (strstr(text, "@include")) {
        free(text);
        return 0;
    }
    char err[1024];
    memset(err, 'E', sizeof err);
    struct rw_config *c = rw_config_load_string(text, "fuzz.conf", err, sizeof err);
    if (!c)
        check_err(err, sizeof err, "fuzz.conf");

    char ferr[1024];
    struct rw_config *cf = load_file(text, strlen(text), ferr, sizeof ferr);
    FUZZ_CHECK(!c == !cf, "string: %s, file: %s", c ? "accepted" : err, cf ? "accepted" : ferr);
    rw_config_free(&cf);
    FUZZ_CHECK(cf == NULL, "free did not clear the pointer");

    if (c) {
        char *p1 = print_to_string(c);
        int timeints = c->pipeline.timeints && c->pipeline.timeints->n;
        if (!timeints) {
            struct rw_config *c2 = rw_config_load_string(p1, "printed.conf", err, sizeof err);
            FUZZ_CHECK(c2, "the printed config does not load: %s\n--- printed:\n%s", err, p1);
            char *p2 = print_to_string(c2);
            char *s1 = settings(p1), *s2 = settings(p2);
            FUZZ_CHECK(strcmp(s1, s2) == 0,
                       "printed config changes on reload\n--- first:\n%s\n--- second:\n%s", p1,
                       p2);
            free(s1);
            free(s2);
            free(p2);
            rw_config_free(&c2);
        }
        free(p1);
        rw_config_free(&c);
    }
    free(text);
    return 0;
}
