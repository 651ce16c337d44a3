/* http.c - a tiny HTTP/1.0 responder for GET /metrics on 127.0.0.1:PORT.
 *
 * One thread of its own, one connection at a time: accept, read the request
 * head (2 s at most), answer with the last exposition the main thread
 * published (a copy taken under mu), close. Loopback only: the socket is
 * bound to 127.0.0.1. http_stop wakes the thread through a pipe and joins it.
 */
#include "telemetry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct http {
	int lfd, wake[2];
	pthread_t th;
	pthread_mutex_t mu;
	struct gbx_buf body; /* under mu */
};

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		struct pollfd pf = {fd, POLLOUT, 0};
		if (poll(&pf, 1, 2000) <= 0)
			return -1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void answer(struct http *h, int fd)
{
	char req[2048];
	size_t len = 0;
	req[0] = 0;
	while (len < sizeof req - 1 && !strstr(req, "\r\n\r\n") && !strstr(req, "\n\n")) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 2000) <= 0)
			return;
		ssize_t r = recv(fd, req + len, sizeof req - 1 - len, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		req[len] = 0;
	}
	req[len] = 0;
	int head = !strncmp(req, "HEAD ", 5);
	const char *path = head ? req + 5 : !strncmp(req, "GET ", 4) ? req + 4 : NULL;
	char hdr[256];
	if (!path) {
		static const char bad[] = "HTTP/1.0 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
		                          "Content-Length: 0\r\nConnection: close\r\n\r\n";
		send_all(fd, bad, sizeof bad - 1);
		return;
	}
	size_t plen = strcspn(path, " ?\r\n");
	if (!(plen == 8 && !strncmp(path, "/metrics", 8))) {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
		                         "Content-Length: 29\r\nConnection: close\r\n\r\n"
		                         "not found: try GET /metrics\r\n";
		send_all(fd, nf, sizeof nf - 1);
		return;
	}
	pthread_mutex_lock(&h->mu);
	size_t n = h->body.len;
	char *copy = malloc(n + 1);
	if (copy && n)
		memcpy(copy, h->body.p, n);
	pthread_mutex_unlock(&h->mu);
	if (!copy)
		return;
	int hl =
	    snprintf(hdr, sizeof hdr,
	             "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	             n);
	if (!send_all(fd, hdr, (size_t)hl) && !head)
		send_all(fd, copy, n);
	free(copy);
}

static void *http_main(void *arg)
{
	struct http *h = arg;
	for (;;) {
		struct pollfd pf[2] = {{h->lfd, POLLIN, 0}, {h->wake[0], POLLIN, 0}};
		int r = poll(pf, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || pf[1].revents)
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		answer(h, fd);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	return NULL;
}

int http_start(struct tel *T, int port, char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "listen: out of memory");
		return -1;
	}
	h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->lfd < 0) {
		snprintf(err, errlen, "listen: socket: %s", strerror(errno));
		free(h);
		return -1;
	}
	int one = 1;
	setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(h->lfd, (struct sockaddr *)&sa, sizeof sa) || listen(h->lfd, 16)) {
		snprintf(err, errlen, "listen: cannot listen on 127.0.0.1:%d: %s", port,
		         strerror(errno));
		close(h->lfd);
		free(h);
		return -1;
	}
	if (pipe2(h->wake, O_CLOEXEC)) {
		snprintf(err, errlen, "listen: pipe: %s", strerror(errno));
		close(h->lfd);
		free(h);
		return -1;
	}
	pthread_mutex_init(&h->mu, NULL);
	gbx_buf_adds(&h->body, "# gearbox telemetry: the run has not started\n");
	/* the engine takes signals on its main thread (signalfd): keep them
	 * away from this one */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&h->th, NULL, http_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		snprintf(err, errlen, "listen: cannot start a thread");
		close(h->lfd);
		close(h->wake[0]);
		close(h->wake[1]);
		pthread_mutex_destroy(&h->mu);
		gbx_buf_free(&h->body);
		free(h);
		return -1;
	}
	T->http = h;
	return 0;
}

void http_publish(struct http *h, const char *body, size_t len)
{
	pthread_mutex_lock(&h->mu);
	h->body.len = 0;
	gbx_buf_add(&h->body, body, len);
	pthread_mutex_unlock(&h->mu);
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	ssize_t w = write(h->wake[1], "x", 1);
	(void)w;
	pthread_join(h->th, NULL);
	close(h->lfd);
	close(h->wake[0]);
	close(h->wake[1]);
	pthread_mutex_destroy(&h->mu);
	gbx_buf_free(&h->body);
	free(h);
}
