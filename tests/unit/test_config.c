/* Config loader: defaults, the built-in copy, and every bad config under
 * tests/configs/bad/ failing with its file:line and key. */
#include <dirent.h>
#include <stdlib.h>

#include "check.h"
#include "config/config.h"
#include "engine/metric.h"

static char *print_to_string(const struct rw_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rw_config_print(c, f);
    fclose(f);
    return buf;
}

static void test_builtin_matches_file(void)
{
    char err[1024] = "";
    struct rw_config *a = rw_config_load(NULL, err, sizeof err);
    CHECK(a != NULL);
    struct rw_config *b = rw_config_load("config/rumwatch.conf", err, sizeof err);
    CHECK(b != NULL);
    if (!a || !b)
        return;
    char *pa = print_to_string(a), *pb = print_to_string(b);
    /* identical except the source line */
    CHECK_STR(strchr(pa, '\n'), strchr(pb, '\n'));
    CHECK_INT(a->nscopes, 6);
    CHECK(a->nrules >= 8);
    CHECK_NEAR(a->engine.window, 60, 0);
    CHECK_NEAR(a->engine.lateness, 30, 0);
    CHECK_INT(a->engine.max_message, 65536);
    CHECK_STR(a->input.topics[0], "rum.");
    free(pa);
    free(pb);
    rw_config_free(&a);
    rw_config_free(&b);
    CHECK(a == NULL);
    rw_config_free(&a); /* safe twice */
}

static void test_partial_config_gets_defaults(void)
{
    char err[1024] = "";
    struct rw_config *c = rw_config_load_string("engine = { window = 30.0; };\n", "mini.conf", err,
                                                sizeof err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_NEAR(c->engine.window, 30, 0);
    CHECK_NEAR(c->engine.lateness, 30, 0);
    CHECK_INT(c->nscopes, 6); /* default scopes */
    CHECK(c->nrules >= 8);     /* default rules */
    CHECK_INT(c->nnotifiers, 0);
    rw_config_free(&c);
}

static void test_url_env(void)
{
    char err[1024] = "";
    setenv("RW_TEST_HOOK_URL", "http://127.0.0.1:9/hook", 1);
    struct rw_config *c = rw_config_load_string(
        "notifiers = ( { name = \"h\"; type = \"webhook\"; url_env = \"RW_TEST_HOOK_URL\"; timeout = 2.5; } );\n",
        "env.conf", err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->notifiers[0].url, "http://127.0.0.1:9/hook");
        CHECK_NEAR(c->notifiers[0].timeout, 2.5, 0);
        CHECK_INT(c->notifiers[0].retries, -1); /* retry until notify.outbox.max_age */
        char *p = print_to_string(c);
        CHECK(strstr(p, "127.0.0.1:9") == NULL); /* secrets are not printed */
        free(p);
        rw_config_free(&c);
    }
    unsetenv("RW_TEST_HOOK_URL");
    c = rw_config_load_string(
        "notifiers = ( { name = \"h\"; type = \"webhook\"; url_env = \"RW_TEST_HOOK_URL\"; } );\n",
        "env.conf", err, sizeof err);
    CHECK(c != NULL); /* unset variable: the receiver is kept without URL (skipped at run) */
    if (c)
        CHECK_STR(c->notifiers[0].url, "");
    rw_config_free(&c);
}

/* The printed config minus comment lines (the first names the source). */
static char *settings_of(const char *p)
{
    char *out = strdup(p), *o = out;
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

/* `rumwatch check` output loads back to the same settings. Found by
 * tests/fuzz/fuzz_config.c: a relative state_dir doubled in `history`;
 * url_env receivers printed with url = "<set>" (url and url_env exclude each
 * other), so the built-in config's printout did not load; quotes in strings
 * printed unescaped; doubles printed with 6 digits. */
static void test_print_round_trip(void)
{
    static const char *const texts[] = {
        NULL, /* built-in: slack/webhook receivers with url_env */
        "",   /* relative state_dir: history joined to it */
        "notify = { state_dir = \"st\"; history = \"st/h.jsonl\"; };\n"
        "notifiers = ( { name = \"h\"; type = \"webhook\"; url_env = \"RW_TEST_RT_URL\"; } );\n",
        /* quotes and backslashes in free-form strings; doubles beyond 6 digits */
        "input = { topics = [\"rum.\\\"q\\\".\"]; endpoints = [\"tcp://h\\\\x:1\"]; };\n"
        "scopes = ( { name = \"s\"; dims = [\"a\\\"b\"]; } );\n"
        "rules = ( { name = \"r\"; metric = \"custom\"; match = \"add_\\\"to_*\"; stat = \"sum\";\n"
        "            detector = \"threshold\"; above = 3.14159265358979; scopes = [\"s\"]; } );\n",
    };
    setenv("RW_TEST_RT_URL", "http://127.0.0.1:9/secret-path", 1);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char err[1024] = "";
        struct rw_config *a = texts[i] ? rw_config_load_string(texts[i], "rt.conf", err, sizeof err)
                                       : rw_config_load(NULL, err, sizeof err);
        CHECK(a != NULL);
        if (!a) {
            fprintf(stderr, "case %zu: %s\n", i, err);
            continue;
        }
        char *pa = print_to_string(a);
        struct rw_config *b = rw_config_load_string(pa, "printed.conf", err, sizeof err);
        CHECK(b != NULL);
        if (!b) {
            fprintf(stderr, "case %zu: printout does not load: %s\n", i, err);
        } else {
            char *pb = print_to_string(b);
            char *sa = settings_of(pa), *sb = settings_of(pb);
            CHECK_STR(sa, sb);
            CHECK_STR(a->notify.history, b->notify.history);
            free(sa);
            free(sb);
            free(pb);
        }
        if (i == 1)
            CHECK_STR(a->notify.history, "rumwatch-state/history.jsonl");
        if (i == 3) {
            CHECK_STR(a->input.topics[0], "rum.\"q\".");
            CHECK(strstr(pa, "above = 3.14159265358979;") != NULL);
            CHECK(strstr(pa, "match = \"add_\\\"to_*\";") != NULL);
        }
        if (i == 2) {
            CHECK_STR(a->notify.history, "st/st/h.jsonl");
            CHECK(strstr(pa, "secret-path") == NULL);
            CHECK(strstr(pa, "# url: <set>") != NULL);
            CHECK(b && strcmp(b->notifiers[0].url, "http://127.0.0.1:9/secret-path") == 0);
        }
        free(pa);
        rw_config_free(&a);
        rw_config_free(&b);
    }
    unsetenv("RW_TEST_RT_URL");
}

static void test_rule_values(void)
{
    char err[1024] = "";
    struct rw_config *c = rw_config_load_string(
        "scopes = ( { name = \"app\"; dims = []; }, { name = \"pd\"; dims = [\"page\", \"device\"]; max_series = 7; } );\n"
        "rules = ( { name = \"r1\"; metric = \"inp\"; stat = \"p95\"; scopes = [\"pd\"]; detector = \"threshold\";\n"
        "            above = 500.0; for = 4; recover = 6; severity = \"critical\"; } );\n",
        "r.conf", err, sizeof err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_INT(c->nrules, 1);
    CHECK_INT(c->rules[0].metric, RW_M_INP);
    CHECK_INT(c->rules[0].stat, RW_S_P95);
    CHECK_INT(c->rules[0].nscopes, 1);
    CHECK_INT(c->rules[0].scopes[0], 1);
    CHECK_INT(c->rules[0].for_windows, 4);
    CHECK_INT(c->rules[0].recover_windows, 6);
    CHECK_INT(c->rules[0].severity, 2);
    CHECK_INT(c->scopes[1].max_series, 7);
    CHECK_INT(c->scopes[0].max_series, 20000);
    CHECK_STR(c->rules[0].det->name, "threshold");
    rw_config_free(&c);
}

static void test_bad_configs(void)
{
    DIR *d = opendir("tests/configs/bad");
    CHECK(d != NULL);
    if (!d)
        return;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".conf"))
            continue;
        char path[512], first[512] = "", err[1024] = "";
        snprintf(path, sizeof path, "tests/configs/bad/%s", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(first, sizeof first, f)) {
            CHECK(0);
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        first[strcspn(first, "\n")] = '\0';
        const char *expect = strstr(first, "expect: ");
        CHECK(expect != NULL);
        if (!expect)
            continue;
        expect += 8;
        struct rw_config *c = rw_config_load(path, err, sizeof err);
        CHECK(c == NULL);
        if (!strstr(err, expect)) {
            fprintf(stderr, "%s: expected \"%s\" in \"%s\"\n", path, expect, err);
            CHECK(0);
        }
        rw_config_free(&c);
        n++;
    }
    closedir(d);
    CHECK(n >= 15);
}

static void test_missing_file(void)
{
    char err[1024] = "";
    struct rw_config *c = rw_config_load("/nonexistent/rw.conf", err, sizeof err);
    CHECK(c == NULL);
    CHECK(strstr(err, "/nonexistent/rw.conf") != NULL);
}

int main(void)
{
    test_builtin_matches_file();
    test_partial_config_gets_defaults();
    test_url_env();
    test_print_round_trip();
    test_rule_values();
    test_bad_configs();
    test_missing_file();
    TEST_DONE();
}
