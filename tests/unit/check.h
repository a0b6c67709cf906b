/* Minimal test assertions that stay on under NDEBUG (after libuv's task.h).
 * A failing CHECK prints file:line and the values, counts the failure and
 * continues; main returns rw_test_failures != 0. */
#ifndef RW_CHECK_H
#define RW_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int rw_test_failures;
static int rw_test_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        rw_test_checks++;                                                            \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            rw_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define CHECK_INT(a, b)                                                              \
    do {                                                                             \
        long long _a = (long long)(a), _b = (long long)(b);                          \
        rw_test_checks++;                                                            \
        if (_a != _b) {                                                              \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,      \
                    __LINE__, #a, #b, _a, _b);                                       \
            rw_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double _a = (double)(a), _b = (double)(b);                                   \
        rw_test_checks++;                                                            \
        if (!(fabs(_a - _b) <= (tol))) {                                             \
            fprintf(stderr, "%s:%d: %s ~ %s failed: %.9g vs %.9g (tol %g)\n",        \
                    __FILE__, __LINE__, #a, #b, _a, _b, (double)(tol));              \
            rw_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                              \
    do {                                                                             \
        const char *_a = (a), *_b = (b);                                             \
        rw_test_checks++;                                                            \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                     \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,  \
                    __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");       \
            rw_test_failures++;                                                      \
        }                                                                            \
    } while (0)

#define TEST_DONE()                                                                  \
    do {                                                                             \
        printf("%d checks, %d failed\n", rw_test_checks, rw_test_failures);          \
        return rw_test_failures ? 1 : 0;                                             \
    } while (0)

#endif
