/* Where the HTTP listener listens: `ADDR:PORT` ("127.0.0.1:8080",
 * "[::1]:8080", "localhost:0"; port 0 = any free port) or an absolute Unix
 * socket path. Parsing only (getaddrinfo for names), so the config parser
 * can check an address without the listener. Owns nothing. */
#ifndef DAGD_HTTP_ADDRESS_H
#define DAGD_HTTP_ADDRESS_H

#include <stdbool.h>
#include <sys/socket.h>

struct dagd_http_address {
    struct sockaddr_storage sa;
    socklen_t len;
    bool is_unix;
};

/* 0 with *ret, or -EINVAL (-ENAMETOOLONG for a Unix path too long). */
int dagd_http_address_parse(const char *addr, struct dagd_http_address *ret);
/* dagd_http_address_parse() without the result. */
int dagd_http_check_address(const char *addr);
/* A 127.0.0.0/8 or ::1 address. */
bool dagd_http_address_is_loopback(const struct dagd_http_address *a);

#endif
