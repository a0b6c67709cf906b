/* JSON fixtures shared by the formatter tests: load a fixture, compare a
 * result with one, or rewrite it (RW_UPDATE_FIXTURES=1, then review the
 * diff). Include after check.h. */
#ifndef RW_TEST_FIXTURE_H
#define RW_TEST_FIXTURE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_NOTIFY_DIR "tests/fixtures/notify/"

static inline int fixture_updating(void)
{
    const char *u = getenv("RW_UPDATE_FIXTURES");
    return u && *u && strcmp(u, "0") != 0;
}

static inline json_t *fixture_load_path(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fprintf(stderr, "cannot load %s: %s (line %d)\n", path, err.text, err.line);
    CHECK(j != NULL);
    return j;
}

/* got must equal tests/fixtures/notify/<name> (or rewrites it). */
static inline void fixture_expect(const json_t *got, const char *name)
{
    char path[512];
    int pl = snprintf(path, sizeof path, FIXTURE_NOTIFY_DIR "%s", name);
    CHECK(pl > 0 && (size_t)pl < sizeof path);
    if (fixture_updating()) {
        CHECK(json_dump_file(got, path, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) == 0);
        FILE *f = fopen(path, "a");
        if (f) {
            fputc('\n', f);
            fclose(f);
        }
        return;
    }
    json_t *want = fixture_load_path(path);
    int eq = want && got && json_equal(want, got);
    if (!eq) {
        char *g = got ? json_dumps(got, JSON_INDENT(2)) : NULL;
        fprintf(stderr, "%s differs; got:\n%s\n", name, g ? g : "(null)");
        free(g);
    }
    CHECK(eq);
    json_decref(want);
}

#endif
