/* Matchers, the routing tree and the pipeline config (route, inhibit_rules,
 * time_intervals) read from real libconfig text. */
#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifiers/matcher.h"
#include "config/pipeline_config.h"
#include "notifiers/route.h"
#include "tests/unit/check.h"

static json_t *labels(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    if (!j)
        fprintf(stderr, "bad test json %s: %s\n", json, e.text);
    CHECK(j != NULL);
    return j;
}

static int matches(const char *matcher, const char *value)
{
    struct rw_matcher m;
    char err[256];
    int rc = rw_matcher_parse(&m, matcher, err, sizeof err);
    if (rc) {
        fprintf(stderr, "matcher %s: %s\n", matcher, err);
        CHECK_INT(rc, 0);
        return -1;
    }
    int r = rw_matcher_matches(&m, value);
    rw_matcher_clear(&m);
    return r;
}

static void test_matchers(void)
{
    struct rw_matcher m;
    char err[256];
    CHECK_INT(rw_matcher_parse(&m, "page=/checkout", err, sizeof err), 0);
    CHECK_STR(m.name, "page");
    CHECK_INT(m.type, RW_MATCH_EQ);
    CHECK_STR(m.value, "/checkout");
    CHECK_INT(m.has_re, 0);
    rw_matcher_clear(&m);
    CHECK(m.value == NULL);
    rw_matcher_clear(&m); /* safe twice */

    CHECK_INT(matches("severity=~warning|critical", "warning"), 1);
    CHECK_INT(matches("severity=~warning|critical", "critical"), 1);
    CHECK_INT(matches("severity=~warning|critical", "warning2"), 0); /* anchored */
    CHECK_INT(matches("severity=~warning|critical", "xcritical"), 0);
    CHECK_INT(matches("severity=~warning|critical", ""), 0);
    CHECK_INT(matches("rule=~.*_slowdown", "lcp_slowdown"), 1);
    CHECK_INT(matches("rule=~.*_slowdown", "lcp_slowdown_x"), 0);
    CHECK_INT(matches("rule!~.*_slowdown", "traffic_drop_app"), 1);
    CHECK_INT(matches("page=~/checkout.*", "/checkout/pay"), 1);
    CHECK_INT(matches("page=~/checkout.*", "/home/checkout"), 0);
    CHECK_INT(matches("page!=/checkout", "/home"), 1);
    CHECK_INT(matches("page!=/checkout", "/checkout"), 0);
    CHECK_INT(matches("team=\"\"", NULL), 1); /* absent == "" */
    CHECK_INT(matches("team!=\"\"", NULL), 0);
    CHECK_INT(matches("team!=\"\"", "web"), 1);
    CHECK_INT(matches("team=~", ""), 1); /* empty regex: only "" */
    CHECK_INT(matches("team=~", "x"), 0);
    CHECK_INT(matches("a=~[)]x", ")x"), 1); /* ) inside brackets is not a group */
    CHECK_INT(matches("a=~[[:digit:]]+", "123"), 1);
    CHECK_INT(matches("a=~x\\)", "x)"), 1);
    CHECK_INT(matches("  page  =  /checkout  ", "/checkout"), 1);
    CHECK_INT(matches("msg=\"say \\\"hi\\\" \\\\o/\"", "say \"hi\" \\o/"), 1);
    CHECK_INT(matches("page=/a b", "/a b"), 1);

    /* Bad matchers: a clear message, the matcher left cleared. */
    static const char *const bad[] = {
        "=x",       "page", "1abc=x",    "a=~(",    "a=~a)|(b", "a=\"unterminated",
        "a=\"x\"y", "a~=x", "a=\"\\q\"", "a=~[abc", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        memset(&m, 0x5a, sizeof m);
        CHECK_INT(rw_matcher_parse(&m, bad[i], err, sizeof err), -EINVAL);
        CHECK(err[0] != '\0');
        CHECK(m.value == NULL && m.has_re == 0);
    }
    CHECK_INT(rw_matcher_parse(&m, "a=~a)|(b", err, sizeof err), -EINVAL);
    CHECK(strstr(err, "unbalanced") != NULL);

    /* Lists are ANDed, absent labels read as "". */
    struct rw_matchers ms = {0};
    CHECK_INT(rw_matchers_match(&ms, NULL), 1); /* empty list: everything */
    CHECK_INT(rw_matchers_add(&ms, "page=/checkout", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&ms, "severity=~warning|critical", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&ms, "team=\"\"", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&ms, "bad matcher", err, sizeof err), -EINVAL);
    CHECK_INT(ms.n, 3);
    json_t *l1 = labels("{\"page\":\"/checkout\",\"severity\":\"critical\"}");
    json_t *l2 = labels("{\"page\":\"/checkout\",\"severity\":\"info\"}");
    json_t *l3 = labels("{\"page\":\"/checkout\",\"severity\":\"warning\",\"team\":\"web\"}");
    CHECK_INT(rw_matchers_match(&ms, l1), 1);
    CHECK_INT(rw_matchers_match(&ms, l2), 0);
    CHECK_INT(rw_matchers_match(&ms, l3), 0);
    char buf[256];
    int need = rw_matchers_format(&ms, buf, sizeof buf);
    CHECK_STR(buf, "{page=\"/checkout\",severity=~\"warning|critical\",team=\"\"}");
    CHECK_INT(need, strlen(buf));
    char small[8];
    CHECK_INT(rw_matchers_format(&ms, small, sizeof small), need); /* truncates, says how much */
    CHECK_INT(strlen(small), 7);
    CHECK_INT(rw_matchers_all_match_empty(&ms), 0);
    struct rw_matchers cp;
    CHECK_INT(rw_matchers_copy(&cp, &ms), 0);
    CHECK_INT(cp.n, 3);
    CHECK_INT(rw_matchers_match(&cp, l1), 1);
    CHECK_INT(rw_matchers_match(&cp, l2), 0);
    rw_matchers_clear(&cp);
    rw_matchers_clear(&ms);
    CHECK_INT(rw_matchers_add(&ms, "team=\"\"", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&ms, "x=~.*", err, sizeof err), 0);
    CHECK_INT(rw_matchers_all_match_empty(&ms), 1);
    rw_matchers_clear(&ms);
    json_decref(l1);
    json_decref(l2);
    json_decref(l3);

    CHECK_STR(rw_label_get(NULL, "x"), "");
    CHECK_INT(rw_label_name_valid("page"), 1);
    CHECK_INT(rw_label_name_valid("_x9"), 1);
    CHECK_INT(rw_label_name_valid("9x"), 0);
    CHECK_INT(rw_label_name_valid("a-b"), 0);
    CHECK_INT(rw_label_name_valid(""), 0);
}

/* Routes an alert and returns "recv1,recv2". */
static const char *route_of(const struct rw_route *root, const char *json)
{
    static char out[256];
    json_t *l = labels(json);
    const struct rw_route *m[RW_ROUTE_MAX_MATCH];
    int n = rw_route_match(root, l, m, RW_ROUTE_MAX_MATCH);
    out[0] = '\0';
    for (int i = 0; i < n && i < RW_ROUTE_MAX_MATCH; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "," : "", m[i]->receiver);
    json_decref(l);
    return out;
}

static void test_tree_by_hand(void)
{
    char err[256];
    struct rw_route *root = rw_route_new("default");
    struct rw_route *a = rw_route_new("team-a"), *a1 = rw_route_new("team-a-mobile"),
                    *b = rw_route_new(NULL), *c = rw_route_new("catch");
    CHECK_INT(rw_matchers_add(&a->matchers, "team=a", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&a1->matchers, "device=mobile", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&b->matchers, "severity=critical", err, sizeof err), 0);
    b->cont = 1;
    b->group_wait_ms = 5000;
    CHECK_INT(rw_matchers_add(&c->matchers, "page=~/.*", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&c->matchers, "page!=\"\"", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&c->matchers, "device!=bot", err, sizeof err), 0);
    const char *gb[] = {"rule", "page"};
    CHECK_INT(rw_route_set_group_by(root, gb, 2, err, sizeof err), 0);
    root->repeat_interval_ms = 3600000;
    CHECK_INT(rw_route_add_child(root, a), 0);
    CHECK_INT(rw_route_add_child(a, a1), 0);
    CHECK_INT(rw_route_add_child(root, b), 0);
    CHECK_INT(rw_route_add_child(root, c), 0);
    CHECK_INT(rw_route_finalize(root, NULL, err, sizeof err), 0);

    /* inheritance */
    CHECK_STR(b->receiver, "default");
    CHECK_INT(b->group_wait_ms, 5000);
    CHECK_INT(b->group_interval_ms, RW_DEFAULT_GROUP_INTERVAL_MS);
    CHECK_INT(b->repeat_interval_ms, 3600000);
    CHECK_INT(a1->ngroup_by, 2);
    CHECK_STR(a1->group_by[1], "page");
    CHECK_INT(root->group_wait_ms, RW_DEFAULT_GROUP_WAIT_MS);
    CHECK_STR(root->key, "{}");
    CHECK_STR(a1->key, "{}/{team=\"a\"}/{device=\"mobile\"}");
    CHECK_INT(a1->depth, 2);
    /* sorted by name, value, type, whatever the config order */
    CHECK_STR(c->key, "{}/{device!=\"bot\",page!=\"\",page=~\"/.*\"}");

    /* first match stops siblings; a node whose children miss is the match */
    CHECK_STR(route_of(root, "{\"team\":\"a\",\"device\":\"mobile\"}"), "team-a-mobile");
    CHECK_STR(route_of(root, "{\"team\":\"a\",\"device\":\"desktop\"}"), "team-a");
    CHECK_STR(route_of(root, "{\"team\":\"a\",\"severity\":\"critical\"}"), "team-a");
    /* continue: b matches and lets c try too */
    CHECK_STR(route_of(root, "{\"severity\":\"critical\",\"page\":\"/x\"}"), "default,catch");
    CHECK_STR(route_of(root, "{\"severity\":\"critical\"}"), "default");
    CHECK_STR(route_of(root, "{\"page\":\"/x\"}"), "catch");
    CHECK_STR(route_of(root, "{}"), "default");
    /* the caller's array is a cap, the count still tells */
    json_t *l = labels("{\"severity\":\"critical\",\"page\":\"/x\"}");
    const struct rw_route *one[1];
    CHECK_INT(rw_route_match(root, l, one, 1), 2);
    CHECK(one[0] == b);
    json_decref(l);
    rw_route_free(&root);
    CHECK(root == NULL);
    rw_route_free(&root);

    /* root checks */
    root = rw_route_new(NULL);
    CHECK_INT(rw_route_finalize(root, NULL, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "needs a receiver") != NULL);
    snprintf(root->receiver, sizeof root->receiver, "x");
    root->cont = 1;
    CHECK_INT(rw_route_finalize(root, NULL, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "continue") != NULL);
    root->cont = 0;
    CHECK_INT(rw_route_add_mute(root, "nights"), 0);
    CHECK_INT(rw_route_finalize(root, NULL, err, sizeof err), -EINVAL);
    rw_route_free(&root);
    root = rw_route_new("x");
    struct rw_route *k = rw_route_new(NULL);
    rw_route_add_child(root, k);
    CHECK_INT(rw_route_add_mute(k, "nights"), 0);
    CHECK_INT(rw_route_finalize(root, NULL, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "unknown time interval 'nights'") != NULL);
    rw_route_free(&root);

    /* group_by validation */
    root = rw_route_new("x");
    const char *dots[] = {"..."}, *mixed[] = {"...", "page"}, *dup[] = {"page", "page"},
               *badn[] = {"pa-ge"};
    CHECK_INT(rw_route_set_group_by(root, dots, 1, err, sizeof err), 0);
    CHECK_INT(root->group_by_all, 1);
    CHECK_INT(rw_route_set_group_by(root, mixed, 2, err, sizeof err), -EINVAL);
    CHECK_INT(rw_route_set_group_by(root, dup, 2, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "twice") != NULL);
    CHECK_INT(rw_route_set_group_by(root, badn, 1, err, sizeof err), -EINVAL);
    CHECK_INT(root->group_by_all, 1); /* unchanged by the failures */
    rw_route_free(&root);
}

/* ---- pipeline config -------------------------------------------------------- */

static const struct rw_receiver_ref receivers[] = {
    {"slack", 1}, {"pager", 0}, {"checkout-team", 1}, {"default", 1}};

static int load_cfg(const char *text, struct rw_pipeline_cfg *out, char *err, size_t errlen)
{
    config_t lc;
    config_init(&lc);
    if (!config_read_string(&lc, text)) {
        snprintf(err, errlen, "syntax: line %d: %s", config_error_line(&lc),
                 config_error_text(&lc));
        config_destroy(&lc);
        return -1000;
    }
    int rc = rw_pipeline_config_load(
        config_lookup(&lc, "route"), config_lookup(&lc, "inhibit_rules"),
        config_lookup(&lc, "time_intervals"), receivers, 4, "test.conf", NULL, out, err, errlen);
    config_destroy(&lc);
    return rc;
}

static const char *brief_cfg =
    "route = { receiver = \"slack\"; group_by = [\"rule\", \"page\"]; group_wait = \"30s\";\n"
    "  group_interval = \"5m\"; repeat_interval = \"4h\";\n"
    "  routes = ( { matchers = [\"severity=critical\"]; receiver = \"pager\"; continue = true; },\n"
    "             { matchers = [\"page=~/checkout.*\"]; receiver = \"checkout-team\";\n"
    "               mute_time_intervals = [\"nights\"]; group_wait = 10;\n"
    "               routes = ( { matchers = [\"device=mobile\"]; group_by = [\"...\"]; } ); } ); "
    "};\n"
    "inhibit_rules = ( { source_matchers = [\"rule=traffic_drop_app\"];\n"
    "                    target_matchers = [\"rule=~.*_slowdown\"]; equal = []; },\n"
    "                  { source_matchers = [\"severity=critical\"]; target_matchers = "
    "[\"severity=warning\"];\n"
    "                    equal = [\"page\", \"rule\"]; } );\n"
    "time_intervals = ( { name = \"nights\"; time_intervals = ( { times = ( { start_time = "
    "\"22:00\";\n"
    "     end_time = \"06:00\"; } ); weekdays = [\"monday:friday\"]; location = \"Europe/Berlin\"; "
    "} ); },\n"
    "   { name = \"first-week\"; time_intervals = ( { days_of_month = (1, \"2:7\"); months = "
    "(\"january\", 7);\n"
    "     years = [2025]; } ); } );\n";

static void test_config(void)
{
    struct rw_pipeline_cfg pc;
    char err[1024] = "";
    int rc = load_cfg(brief_cfg, &pc, err, sizeof err);
    if (rc)
        fprintf(stderr, "config: %s\n", err);
    CHECK_INT(rc, 0);
    if (rc)
        return;
    const struct rw_route *root = pc.root;
    CHECK_STR(root->receiver, "slack");
    CHECK_INT(root->nchildren, 2);
    CHECK_INT(root->group_wait_ms, 30000);
    CHECK_INT(root->group_interval_ms, 300000);
    CHECK_INT(root->repeat_interval_ms, 4 * 3600000LL);
    CHECK_INT(root->line, 1);
    const struct rw_route *pager = root->children[0], *co = root->children[1],
                          *mob = co->children[0];
    CHECK_STR(pager->receiver, "pager");
    CHECK_INT(pager->send_resolved, 0); /* from the receiver list */
    CHECK_INT(pager->cont, 1);
    CHECK_INT(pager->line, 3);
    CHECK_INT(pager->ngroup_by, 2); /* inherited */
    CHECK_STR(pager->key, "{}/{severity=\"critical\"}");
    CHECK_INT(co->group_wait_ms, 10000);
    CHECK_INT(co->nmute, 1);
    CHECK_INT(co->send_resolved, 1);
    CHECK_STR(mob->receiver, "checkout-team"); /* inherited */
    CHECK_INT(mob->group_by_all, 1);
    CHECK_INT(mob->group_wait_ms, 10000); /* from its parent, not the root */
    CHECK_INT(mob->nmute, 0);             /* mute intervals are not inherited */

    CHECK_STR(route_of(root, "{\"severity\":\"critical\",\"page\":\"/checkout\"}"),
              "pager,checkout-team");
    CHECK_STR(route_of(root, "{\"severity\":\"critical\",\"page\":\"/home\"}"), "pager");
    CHECK_STR(route_of(root, "{\"severity\":\"warning\",\"page\":\"/checkout/pay\"}"),
              "checkout-team");
    CHECK_STR(
        route_of(root, "{\"severity\":\"warning\",\"page\":\"/checkout\",\"device\":\"mobile\"}"),
        "checkout-team");
    CHECK_STR(route_of(root, "{\"severity\":\"warning\",\"page\":\"/home\"}"), "slack");

    /* mute time: Monday 2024-03-25 23:00 Berlin (22:00Z) is night, noon is not */
    int64_t night, noon, sat;
    rw_time_parse("2024-03-25T22:00:00Z", &night);
    rw_time_parse("2024-03-25T11:00:00Z", &noon);
    rw_time_parse("2024-03-30T22:00:00Z", &sat);
    CHECK_INT(rw_route_muted(co, night), 1);
    CHECK_INT(rw_route_muted(co, noon), 0);
    CHECK_INT(rw_route_muted(co, sat), 0);
    CHECK_INT(rw_route_muted(mob, night), 0);
    CHECK_INT(rw_route_muted(pager, night), 0);

    /* inhibit rules */
    CHECK_INT(pc.ninhibit, 2);
    CHECK_INT(pc.inhibit[0].source.n, 1);
    CHECK_INT(pc.inhibit[0].nequal, 0);
    CHECK_INT(pc.inhibit[1].nequal, 2);
    CHECK_STR(pc.inhibit[1].equal[1], "rule");
    CHECK_INT(pc.inhibit[0].line, 7);

    /* time intervals with ints and strings mixed */
    const struct rw_timeint *fw = rw_timeints_find(pc.timeints, "first-week");
    CHECK(fw != NULL);
    int64_t t;
    rw_time_parse("2025-07-03T12:00:00Z", &t);
    CHECK_INT(rw_timeint_contains(fw, t), 1);
    rw_time_parse("2025-07-08T12:00:00Z", &t);
    CHECK_INT(rw_timeint_contains(fw, t), 0);
    rw_time_parse("2026-01-01T12:00:00Z", &t);
    CHECK_INT(rw_timeint_contains(fw, t), 0);
    rw_time_parse("2025-03-01T12:00:00Z", &t);
    CHECK_INT(rw_timeint_contains(fw, t), 0);
    rw_pipeline_cfg_clear(&pc);
    CHECK(pc.root == NULL);
    rw_pipeline_cfg_clear(&pc);

    /* Absent sections are fine: nothing configured. */
    rc = load_cfg("x = 1;\n", &pc, err, sizeof err);
    CHECK_INT(rc, 0);
    CHECK(pc.root == NULL);
    CHECK(pc.timeints != NULL);
    CHECK_INT(pc.ninhibit, 0);
    rw_pipeline_cfg_clear(&pc);

    /* Without a receiver list, names are not checked. */
    config_t lc;
    config_init(&lc);
    CHECK(config_read_string(&lc, "route = { receiver = \"anything\"; };") == CONFIG_TRUE);
    rc = rw_pipeline_config_load(config_lookup(&lc, "route"), NULL, NULL, NULL, 0, "t.conf", NULL,
                                 &pc, err, sizeof err);
    CHECK_INT(rc, 0);
    CHECK_STR(pc.root->receiver, "anything");
    rw_pipeline_cfg_clear(&pc);
    config_destroy(&lc);
}

/* Each bad config fails, naming the line (and the key path) and a reason. */
static void test_config_errors(void)
{
    static const struct {
        const char *text;
        const char *where; /* "test.conf:<line>: <path>" */
        const char *why;
    } bad[] = {
        {"route = { receiver = \"slack\";\n routes = ( { receiver = \"pagr\"; } ); };",
         "test.conf:2: route.routes[0].receiver",
         "unknown receiver 'pagr' (notifiers: slack, pager"},
        {"route = { receiver = \"slack\";\n routes = ( {\n matchers = [\"page=/a\", \"sev=~(\"]; } "
         "); };",
         "test.conf:3: route.routes[0].matchers[1]", "bad regex '('"},
        {"route = { receiver = \"slack\"; recever = \"x\"; };", "test.conf:1: route.recever",
         "unknown key 'recever'"},
        {"route = { receiver = \"slack\";\n routes = ( { mute_time_intervals = [\"nites\"]; } ); "
         "};",
         "test.conf:2: route.routes[0].mute_time_intervals[0]", "unknown time interval 'nites'"},
        {"route = { receiver = \"slack\";\n matchers = [\"a=b\"]; };",
         "test.conf:2: route.matchers", "the root route matches every alert"},
        {"route = {\n group_wait = \"30s\"; };", "test.conf:1: route", "needs a receiver"},
        {"route = { receiver = \"slack\";\n\n group_interval = \"5 minutes\"; };",
         "test.conf:3: route.group_interval", "bad duration '5 minutes'"},
        {"route = { receiver = \"slack\"; repeat_interval = \"0s\"; };",
         "test.conf:1: route.repeat_interval", "must be longer than 0"},
        {"route = { receiver = \"slack\"; continue = true; };", "test.conf:1: route.continue",
         "cannot have 'continue'"},
        {"route = { receiver = \"slack\"; group_by = [\"...\", \"page\"]; };",
         "test.conf:1: route.group_by", "must be the only entry"},
        {"route = { receiver = \"slack\"; routes = ( { continue = \"yes\"; } ); };",
         "test.conf:1: route.routes[0].continue", "expects true or false"},
        {"route = { receiver = \"slack\";\n mute_time_intervals = [\"n\"]; };\n"
         "time_intervals = ( { name = \"n\"; time_intervals = ( { weekdays = [\"sunday\"]; } ); } "
         ");",
         "test.conf:2: route.mute_time_intervals", "root route cannot be muted"},
        {"time_intervals = ( { name = \"n\"; time_intervals = (\n { weekdays = "
         "[\"monday:funday\"]; } ); } );",
         "test.conf:2: time_intervals[0].time_intervals[0].weekdays[0]", "unknown weekday"},
        {"time_intervals = ( { name = \"n\"; time_intervals = (\n { location = "
         "\"Europe/Atlantis\"; } ); } );",
         "test.conf:2: time_intervals[0].time_intervals[0].location",
         "unknown time zone 'Europe/Atlantis'"},
        {"time_intervals = ( { name = \"n\"; time_intervals = ( { times = (\n"
         " { start_time = \"9:00\"; end_time = \"25:00\"; } ); } ); } );",
         "test.conf:2: time_intervals[0].time_intervals[0].times[0]", "bad end_time '25:00'"},
        {"time_intervals = ( { name = \"n\"; time_intervals = ( { days = [1]; } ); } );",
         "test.conf:1: time_intervals[0].time_intervals[0].days", "unknown key 'days'"},
        {"time_intervals = ( { name = \"n\"; time_intervals = ( { years = [2025]; } ); },\n"
         " { name = \"n\"; time_intervals = ( { years = [2026]; } ); } );",
         "test.conf:2: time_intervals[1].name", "duplicate time interval name 'n'"},
        {"time_intervals = ( { name = \"n\"; } );", "test.conf:1: time_intervals[0]",
         "needs time_intervals"},
        {"inhibit_rules = ( { source_matchers = [\"rule=a\"];\n equal = [\"page\"]; } );",
         "test.conf:1: inhibit_rules[0]", "needs target_matchers"},
        {"inhibit_rules = ( { source_matchers = [\"rule=a\"]; target_matchers = [];\n } );",
         "test.conf:1: inhibit_rules[0].target_matchers", "at least one matcher"},
        {"inhibit_rules = ( { source_matchers = [\"rule=a\"]; target_matchers = [\"rule=b\"];\n"
         " equal = [\"page\", \"pa-ge\"]; } );",
         "test.conf:2: inhibit_rules[0].equal[1]", "bad label name 'pa-ge'"},
        {"inhibit_rules = { a = 1; };", "test.conf:1: inhibit_rules", "expects a list"},
        {"route = { receiver = \"slack\"; group_wait = true; };", "test.conf:1: route.group_wait",
         "expects a duration"},
        {"route = { receiver = \"slack\"; routes = ( { matchers = [1]; } ); };",
         "test.conf:1: route.routes[0].matchers[0]", "expects a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rw_pipeline_cfg pc;
        char err[1024] = "";
        memset(&pc, 0x5a, sizeof pc);
        int rc = load_cfg(bad[i].text, &pc, err, sizeof err);
        int ok = rc == -EINVAL && strncmp(err, bad[i].where, strlen(bad[i].where)) == 0 &&
                 strstr(err, bad[i].why) != NULL;
        if (!ok)
            fprintf(stderr, "bad config %zu: rc %d, err \"%s\"\n  want \"%s\" ... \"%s\"\n", i, rc,
                    err, bad[i].where, bad[i].why);
        CHECK(ok);
        CHECK(pc.root == NULL && pc.inhibit == NULL && pc.timeints == NULL);
    }
}

int main(void)
{
    test_matchers();
    test_tree_by_hand();
    test_config();
    test_config_errors();
    TEST_DONE();
}
