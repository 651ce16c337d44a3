/* pthread_pool.c - the textbook thread pool: one mutex, one condition
 * variable, a linked queue of malloc'ed jobs; submit signals one waiter, the
 * workers pop and run until the queue is closed and empty. */
#include <pthread.h>

#include "common.h"

struct item {
	struct item *next;
	struct job job;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct item *head, *tail;
	int closed;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->head && !p->closed)
			pthread_cond_wait(&p->cv, &p->mu);
		struct item *it = p->head;
		if (!it) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		p->head = it->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		job_run(&it->job);
		free(it);
	}
}

static void submit(struct pool *p, struct job j)
{
	struct item *it = malloc(sizeof *it);
	if (!it)
		abort();
	it->next = NULL;
	it->job = j;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int main(int argc, char **argv)
{
	struct args a = args_parse(argc, argv);
	unsigned char *flag = calloc((size_t)a.n, 1);
	pthread_t *th = calloc((size_t)a.threads, sizeof *th);
	struct pool p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0};
	if (!flag || !th)
		return 2;
	for (int i = 0; i < a.threads; i++)
		pthread_create(&th[i], NULL, worker, &p);

	int64_t t0 = now_ns();
	for (long i = 0; i < a.n; i++)
		submit(&p, (struct job){a.iters, &flag[i]});
	int64_t t1 = now_ns();
	pthread_mutex_lock(&p.mu);
	p.closed = 1;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; i < a.threads; i++)
		pthread_join(th[i], NULL);
	int64_t t2 = now_ns();

	if (flags_check("pthread_pool", flag, a.n))
		return 1;
	report(a.n, t0, t1, t2);
	free(flag);
	free(th);
	return 0;
}
