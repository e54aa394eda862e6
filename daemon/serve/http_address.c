/* See http_address.h. */
#include "http_address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "util.h"

int dagd_http_address_parse(const char *addr, struct dagd_http_address *ret)
{
    *ret = (struct dagd_http_address){0};
    if (!addr || !*addr) {
        return -EINVAL;
    }
    if (addr[0] == '/') {
        struct sockaddr_un *un = (struct sockaddr_un *)&ret->sa;
        if (strlen(addr) >= sizeof(un->sun_path)) {
            return -ENAMETOOLONG;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, addr);
        ret->len = sizeof(*un);
        ret->is_unix = true;
        return 0;
    }
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1]) {
        return -EINVAL;
    }
    _cleanup_free_ char *host = dagd_xstrndup(addr, (size_t)(colon - addr));
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 3 || host[n - 1] != ']') {
            return -EINVAL;
        }
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    } else if (strchr(host, ':')) {
        return -EINVAL; /* IPv6 needs brackets */
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || errno || port > 65535 || colon[1] == '-' || colon[1] == '+') {
        return -EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai) {
        return -EINVAL;
    }
    memcpy(&ret->sa, ai->ai_addr, ai->ai_addrlen);
    ret->len = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (ret->sa.ss_family == AF_INET) {
        ((struct sockaddr_in *)&ret->sa)->sin_port = htons((uint16_t)port);
    } else if (ret->sa.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&ret->sa)->sin6_port = htons((uint16_t)port);
    } else {
        return -EINVAL;
    }
    return 0;
}

int dagd_http_check_address(const char *addr)
{
    struct dagd_http_address a;
    return dagd_http_address_parse(addr, &a);
}

bool dagd_http_address_is_loopback(const struct dagd_http_address *a)
{
    if (a->sa.ss_family == AF_INET) {
        return (ntohl(((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->sa.ss_family == AF_INET6) {
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
    }
    return false;
}
