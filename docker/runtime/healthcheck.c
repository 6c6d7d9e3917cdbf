/*
 * sitedeploy's image health check: the runtime image has no shell and no curl, so
 * Docker's HEALTHCHECK runs this static binary. It asks nginx for its health location
 * over loopback and exits 0 only on an HTTP 2xx status line within the timeout.
 *
 * usage: healthcheck [port] [path] [address]
 *        (defaults: 8080 /.sitedeploy/health 127.0.0.1; the address may be IPv6)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    const char *path = argc > 2 ? argv[2] : "/.sitedeploy/health";
    const char *host = argc > 3 ? argv[3] : "127.0.0.1";
    struct timeval timeout = {2, 0};
    struct sockaddr_in address4;
    struct sockaddr_in6 address6;
    struct sockaddr *address = (struct sockaddr *)&address4;
    socklen_t size = sizeof address4;
    char request[512];
    char response[64];
    ssize_t received = 0;

    memset(&address4, 0, sizeof address4);
    memset(&address6, 0, sizeof address6);
    address4.sin_family = AF_INET;
    address4.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &address4.sin_addr) != 1) {
        address6.sin6_family = AF_INET6;
        address6.sin6_port = htons((unsigned short)port);
        if (inet_pton(AF_INET6, host, &address6.sin6_addr) != 1) {
            fputs("healthcheck: bad address\n", stderr);
            return 1;
        }
        address = (struct sockaddr *)&address6;
        size = sizeof address6;
    }
    int fd = socket(address->sa_family, SOCK_STREAM, 0);
    if (fd < 0 || port <= 0 || port > 65535) {
        fputs("healthcheck: bad port or no socket\n", stderr);
        return 1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, address, size) != 0) {
        perror("healthcheck: connect");
        return 1;
    }
    int length = snprintf(request, sizeof request,
                          "GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: sitedeploy-healthcheck\r\n\r\n",
                          path);
    if (length <= 0 || write(fd, request, (size_t)length) != length) {
        perror("healthcheck: write");
        return 1;
    }
    while (received < (ssize_t)sizeof response - 1) {
        ssize_t n = read(fd, response + received, sizeof response - 1 - (size_t)received);
        if (n <= 0) break;
        received += n;
    }
    close(fd);
    response[received] = '\0';
    /* "HTTP/1.1 204 No Content" */
    if (received >= 12 && strncmp(response, "HTTP/1.", 7) == 0 && response[9] == '2') {
        return 0;
    }
    fprintf(stderr, "healthcheck: unhealthy answer: %.40s\n", response);
    return 1;
}
