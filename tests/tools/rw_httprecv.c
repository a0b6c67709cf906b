/* rw_httprecv: a small real HTTP/1.1 receiver for tests.
 *
 *   rw_httprecv [--port N] [--port-file PATH] [--out PATH] [--codes 500,500,200]
 *               [--hang N] [--max-requests N] [--timeout S] [--retry-after S]
 *               [--down-for S]
 *
 * Listens on 127.0.0.1 only (port 0 picks a free one; the chosen port is
 * written to --port-file, atomically, once listening). Every complete
 * request is appended to --out as one JSON line, flushed at once:
 *   {"method":..,"path":..,"headers":{lowercased name: value},"body":<JSON or string>,
 *    "body_b64":<the body bytes exactly as received, base64>,"received_ms":<epoch ms>}
 * (body_b64 lets a test check a signature over the exact bytes.)
 * Answers use --codes in order (the last one repeats; default 200); 429 and
 * 503 answers carry "Retry-After: S" with --retry-after S. --down-for S:
 * once the port is known (and written to --port-file), the listener is
 * closed for S seconds, so connections are refused, then opened again on the
 * same port (a receiver that is down for a while). The
 * first --hang N requests are logged but never answered: the connection
 * stays open and silent until the client gives up. Exits after
 * --max-requests N requests (answered or hung), after --timeout S seconds
 * (default 120), or on SIGTERM/SIGINT, always with status 0.
 *
 * One thread, poll() over all connections. Requests need Content-Length
 * (chunked bodies are refused with 501); "Expect: 100-continue" is honoured.
 * Garbage gets a 400 and the connection is closed; oversized headers or
 * bodies get 431/413.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <openssl/evp.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES (16 * 1024 * 1024)
#define MAX_CODES 64

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    int hung;          /* never answer; discard what arrives */
    int sent_continue; /* 100 Continue already sent for the current request */
};

struct opts {
    int port;
    const char *port_file;
    const char *out;
    int codes[MAX_CODES];
    int ncodes;
    long hang;
    long max_requests;
    double timeout_s;
    long retry_after; /* seconds, on 429/503; 0 = none */
    double down_for_s;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: rw_httprecv [--port N] [--port-file PATH] [--out PATH]\n"
               "                   [--codes C1,C2,...] [--hang N] [--max-requests N]\n"
               "                   [--timeout S] [--retry-after S] [--down-for S]\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_codes(const char *s, struct opts *o)
{
    o->ncodes = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 200 || v > 599 || o->ncodes >= MAX_CODES)
            return -1;
        o->codes[o->ncodes++] = (int)v;
        if (*end == ',')
            end++;
        else if (*end)
            return -1;
        p = end;
    }
    return o->ncodes ? 0 : -1;
}

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

/* Write all of buf; a client that does not read within a second is dropped. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 1000) <= 0)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

static int respond(int fd, int code, int keep_alive, long retry_after)
{
    const char *body = (code >= 200 && code < 300) ? "ok\n" : "error\n";
    if (code == 204 || code == 304)
        body = "";
    char head[512], ra[64] = "";
    if (retry_after > 0 && (code == 429 || code == 503))
        snprintf(ra, sizeof ra, "Retry-After: %ld\r\n", retry_after);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "%sConnection: %s\r\n\r\n%s",
                     code, reason(code), strlen(body), ra, keep_alive ? "keep-alive" : "close", body);
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    return send_all(fd, head, (size_t)n);
}

/* A JSON string from arbitrary bytes: invalid UTF-8 bytes become '?'. */
static json_t *jbytes(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    char *copy = malloc(n + 1);
    if (!copy)
        return json_string("");
    for (size_t i = 0; i < n; i++)
        copy[i] = ((unsigned char)p[i] < 0x80) ? p[i] : '?';
    s = json_stringn(copy, n);
    free(copy);
    return s ? s : json_string("");
}

static const char *find_crlfcrlf(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i;
    return NULL;
}

static const char *find_crlf(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n')
            return buf + i;
    return NULL;
}

static int is_tchar(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

enum parse_result { P_NEED_MORE, P_DONE, P_BAD };

struct request {
    char method[32];
    char *path;      /* malloc'd */
    json_t *headers; /* owned */
    size_t head_len; /* bytes up to and including the blank line */
    size_t body_len;
    int keep_alive;
    int expect_continue;
    int error_code; /* for P_BAD: what to answer */
};

static void request_clear(struct request *r)
{
    free(r->path);
    json_decref(r->headers);
    memset(r, 0, sizeof *r);
}

/* Parse the head in buf (len bytes). P_DONE means the head is complete and
 * valid (the body may still be incomplete: compare len to head+body). */
static enum parse_result parse_head(const char *buf, size_t len, struct request *r)
{
    memset(r, 0, sizeof *r);
    r->error_code = 400;
    const char *end = find_crlfcrlf(buf, len);
    if (!end) {
        if (len > MAX_HEADER_BYTES) {
            r->error_code = 431;
            return P_BAD;
        }
        return P_NEED_MORE;
    }
    r->head_len = (size_t)(end - buf) + 4;
    if (memchr(buf, '\0', r->head_len))
        return P_BAD;

    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    const char *head_end = end + 4; /* buf is not NUL-terminated: bound every search */
    const char *line_end = find_crlf(buf, r->head_len);
    const char *sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
    if (!sp1 || sp1 == buf || (size_t)(sp1 - buf) >= sizeof r->method)
        return P_BAD;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1)
        return P_BAD;
    for (const char *p = buf; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return P_BAD;
    for (const char *p = sp1 + 1; p < sp2; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return P_BAD;
    size_t vlen = (size_t)(line_end - sp2 - 1);
    int http11;
    if (vlen == 8 && memcmp(sp2 + 1, "HTTP/1.1", 8) == 0)
        http11 = 1;
    else if (vlen == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0)
        http11 = 0;
    else
        return P_BAD;
    memcpy(r->method, buf, (size_t)(sp1 - buf));
    r->method[sp1 - buf] = '\0';
    r->path = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    r->headers = json_object();
    if (!r->path || !r->headers)
        return P_BAD;
    r->keep_alive = http11;

    long long content_length = 0;
    int have_length = 0;
    const char *p = line_end + 2;
    while (p < end + 2) {
        const char *eol = find_crlf(p, (size_t)(head_end - p));
        if (eol == p)
            break;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p)
            return P_BAD;
        char name[256];
        size_t nlen = (size_t)(colon - p);
        if (nlen >= sizeof name)
            return P_BAD;
        for (size_t i = 0; i < nlen; i++) {
            if (!is_tchar((unsigned char)p[i]))
                return P_BAD;
            name[i] = (char)tolower((unsigned char)p[i]);
        }
        name[nlen] = '\0';
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t value_len = (size_t)(ve - v);

        json_t *prev = json_object_get(r->headers, name);
        if (prev) { /* repeated header: join like a proxy would */
            size_t plen = json_string_length(prev);
            char *joined = malloc(plen + 2 + value_len + 1);
            if (!joined)
                return P_BAD;
            memcpy(joined, json_string_value(prev), plen);
            memcpy(joined + plen, ", ", 2);
            memcpy(joined + plen + 2, v, value_len);
            json_object_set_new(r->headers, name, jbytes(joined, plen + 2 + value_len));
            free(joined);
        } else {
            json_object_set_new(r->headers, name, jbytes(v, value_len));
        }

        if (strcmp(name, "content-length") == 0) {
            if (value_len == 0 || value_len > 12)
                return P_BAD;
            long long cl = 0;
            for (size_t i = 0; i < value_len; i++) {
                if (!isdigit((unsigned char)v[i]))
                    return P_BAD;
                cl = cl * 10 + (v[i] - '0');
            }
            if (have_length && cl != content_length)
                return P_BAD;
            content_length = cl;
            have_length = 1;
        } else if (strcmp(name, "transfer-encoding") == 0) {
            if (!(value_len == 8 && strncasecmp(v, "identity", 8) == 0)) {
                r->error_code = 501;
                return P_BAD;
            }
        } else if (strcmp(name, "connection") == 0) {
            if (value_len == 5 && strncasecmp(v, "close", 5) == 0)
                r->keep_alive = 0;
            else if (value_len == 10 && strncasecmp(v, "keep-alive", 10) == 0)
                r->keep_alive = 1;
        } else if (strcmp(name, "expect") == 0) {
            if (value_len == 12 && strncasecmp(v, "100-continue", 12) == 0)
                r->expect_continue = 1;
        }
        p = eol + 2;
    }
    if (content_length > MAX_BODY_BYTES) {
        r->error_code = 413;
        return P_BAD;
    }
    r->body_len = (size_t)content_length;
    return P_DONE;
}

static void log_request(FILE *out, const struct request *r, const char *body)
{
    if (!out)
        return;
    json_t *rec = json_object();
    if (!rec)
        return;
    json_object_set_new(rec, "method", json_string(r->method));
    json_object_set_new(rec, "path", jbytes(r->path, strlen(r->path)));
    json_object_set(rec, "headers", r->headers);
    json_t *b = NULL;
    if (r->body_len)
        b = json_loadb(body, r->body_len, JSON_DECODE_ANY, NULL);
    if (!b)
        b = jbytes(body, r->body_len);
    json_object_set_new(rec, "body", b);
    char *b64 = malloc(4 * ((r->body_len + 2) / 3) + 1);
    if (b64) {
        int n = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)body, (int)r->body_len);
        json_object_set_new(rec, "body_b64", json_stringn(b64, n > 0 ? (size_t)n : 0));
        free(b64);
    }
    json_object_set_new(rec, "received_ms", json_integer(wall_ms()));
    char *line = json_dumps(rec, JSON_COMPACT);
    if (line) {
        fputs(line, out);
        fputc('\n', out);
        fflush(out);
        free(line);
    }
    json_decref(rec);
}

struct server {
    struct opts o;
    FILE *out;
    struct conn conns[MAX_CONNS];
    int nconns;
    long requests; /* complete requests seen (hung ones included) */
    long answered;
};

static void conn_close(struct server *s, int i)
{
    close(s->conns[i].fd);
    free(s->conns[i].buf);
    s->conns[i] = s->conns[--s->nconns];
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Handle every complete request buffered on conns[i]. Returns -1 when the
 * connection must be closed. */
static int process(struct server *s, int i)
{
    struct conn *c = &s->conns[i];
    while (!c->hung && c->len > 0) {
        struct request r;
        enum parse_result pr = parse_head(c->buf, c->len, &r);
        if (pr == P_NEED_MORE) {
            request_clear(&r);
            return 0;
        }
        if (pr == P_BAD) {
            respond(c->fd, r.error_code, 0, 0);
            request_clear(&r);
            return -1;
        }
        if (c->len < r.head_len + r.body_len) {
            if (r.expect_continue && !c->sent_continue) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                if (send_all(c->fd, cont, sizeof cont - 1) < 0) {
                    request_clear(&r);
                    return -1;
                }
                c->sent_continue = 1;
            }
            request_clear(&r);
            return 0;
        }
        log_request(s->out, &r, c->buf + r.head_len);
        s->requests++;
        c->sent_continue = 0;
        if (s->requests <= s->o.hang) {
            c->hung = 1;
            c->len = 0;
            request_clear(&r);
            return 0;
        }
        int idx = s->answered < s->o.ncodes ? (int)s->answered : s->o.ncodes - 1;
        s->answered++;
        int keep = r.keep_alive;
        int rc = respond(c->fd, s->o.codes[idx], keep, s->o.retry_after);
        consume(c, r.head_len + r.body_len);
        request_clear(&r);
        if (rc < 0 || !keep)
            return -1;
    }
    if (c->hung)
        c->len = 0;
    return 0;
}

static int read_conn(struct server *s, int i)
{
    struct conn *c = &s->conns[i];
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 8192;
            if (cap > MAX_HEADER_BYTES + MAX_BODY_BYTES + 8192)
                return -1; /* parse_head refuses this long before */
            char *nb = realloc(c->buf, cap);
            if (!nb)
                return -1;
            c->buf = nb;
            c->cap = cap;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            if (c->hung)
                c->len = 0;
            continue;
        }
        if (n == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
}

static int listen_on(int port, int *chosen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(fd);
        return -1;
    }
    *chosen = ntohs(sa.sin_port);
    return fd;
}

static int write_port_file(const char *path, int port)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

int main(int argc, char **argv)
{
    static struct server s; /* large: keep it off the stack */
    s.o.codes[0] = 200;
    s.o.ncodes = 1;
    s.o.timeout_s = 120;

    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"codes", required_argument, NULL, 'c'},
        {"hang", required_argument, NULL, 'H'},
        {"max-requests", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 't'},
        {"retry-after", required_argument, NULL, 'R'},
        {"down-for", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    long v;
    while ((opt = getopt_long(argc, argv, "p:f:o:c:H:m:t:R:D:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            if (parse_long(optarg, 0, 65535, &v))
                goto bad_usage;
            s.o.port = (int)v;
            break;
        case 'f': s.o.port_file = optarg; break;
        case 'o': s.o.out = optarg; break;
        case 'c':
            if (parse_codes(optarg, &s.o))
                goto bad_usage;
            break;
        case 'H':
            if (parse_long(optarg, 0, 1000000000L, &s.o.hang))
                goto bad_usage;
            break;
        case 'm':
            if (parse_long(optarg, 0, 1000000000L, &s.o.max_requests))
                goto bad_usage;
            break;
        case 't': {
            char *end;
            double t = strtod(optarg, &end);
            if (end == optarg || *end || !(t > 0 && t < 1e7))
                goto bad_usage;
            s.o.timeout_s = t;
            break;
        }
        case 'R':
            if (parse_long(optarg, 0, 86400, &s.o.retry_after))
                goto bad_usage;
            break;
        case 'D': {
            char *end;
            double t = strtod(optarg, &end);
            if (end == optarg || *end || !(t >= 0 && t < 1e6))
                goto bad_usage;
            s.o.down_for_s = t;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: goto bad_usage;
        }
    }
    if (optind != argc)
        goto bad_usage;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (s.o.out) {
        s.out = fopen(s.o.out, "a");
        if (!s.out) {
            fprintf(stderr, "rw_httprecv: cannot open %s: %s\n", s.o.out, strerror(errno));
            return 1;
        }
    }
    int port = 0;
    int lfd = listen_on(s.o.port, &port);
    if (lfd < 0) {
        fprintf(stderr, "rw_httprecv: cannot listen on 127.0.0.1:%d: %s\n", s.o.port,
                strerror(errno));
        if (s.out)
            fclose(s.out);
        return 1;
    }
    if (s.o.port_file && write_port_file(s.o.port_file, port) < 0) {
        fprintf(stderr, "rw_httprecv: cannot write %s: %s\n", s.o.port_file, strerror(errno));
        close(lfd);
        if (s.out)
            fclose(s.out);
        return 1;
    }

    if (s.o.down_for_s > 0) {
        /* Down for a while: nothing listens, connections are refused. */
        close(lfd);
        struct timespec ts = {(time_t)s.o.down_for_s,
                              (long)((s.o.down_for_s - (double)(time_t)s.o.down_for_s) * 1e9)};
        while (!stop_flag && nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
        int again = 0;
        for (int tries = 0; tries < 50 && (lfd = listen_on(port, &again)) < 0; tries++) {
            struct timespec w = {0, 100 * 1000000L};
            nanosleep(&w, NULL);
        }
        if (lfd < 0) {
            fprintf(stderr, "rw_httprecv: cannot listen again on port %d: %s\n", port, strerror(errno));
            if (s.out)
                fclose(s.out);
            return 1;
        }
    }
    int64_t deadline = mono_ms() + (int64_t)(s.o.timeout_s * 1000.0);
    struct pollfd pfd[MAX_CONNS + 1];
    while (!stop_flag && (s.o.max_requests == 0 || s.requests < s.o.max_requests)) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            break;
        int nfds = 0;
        pfd[nfds++] = (struct pollfd){.fd = lfd, .events = s.nconns < MAX_CONNS ? POLLIN : 0};
        for (int i = 0; i < s.nconns; i++)
            pfd[nfds++] = (struct pollfd){.fd = s.conns[i].fd, .events = POLLIN};
        int n = poll(pfd, (nfds_t)nfds, left < 200 ? (int)left : 200);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        /* Connections first (indices match pfd[1..] before any accept/close),
         * walking backwards so conn_close's swap-with-last is safe. */
        for (int i = s.nconns - 1; i >= 0; i--) {
            short re = pfd[i + 1].revents;
            if (!re)
                continue;
            int rc = read_conn(&s, i);
            if (process(&s, i) < 0 || rc < 0)
                conn_close(&s, i);
            if (s.o.max_requests && s.requests >= s.o.max_requests)
                break;
        }
        if (pfd[0].revents & POLLIN) {
            while (s.nconns < MAX_CONNS) {
                int cfd = accept(lfd, NULL, NULL);
                if (cfd < 0)
                    break;
                fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
                fcntl(cfd, F_SETFD, FD_CLOEXEC);
                s.conns[s.nconns++] = (struct conn){.fd = cfd};
            }
        }
    }

    while (s.nconns > 0)
        conn_close(&s, s.nconns - 1);
    close(lfd);
    if (s.out)
        fclose(s.out);
    return 0;

bad_usage:
    usage(stderr);
    return 2;
}
