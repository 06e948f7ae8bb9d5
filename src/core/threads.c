/*
 * threads.c
 *	  Running one function over task numbers on a few threads, for the E-step
 *	  of one fit on several cores (gmm.fit_workers).
 *
 * The caller's thread takes part; the others are POSIX threads created for
 * the call and joined before it returns.  They run with every signal
 * blocked, so that the host's signal handlers (PostgreSQL's) only ever run
 * on its own thread, and they must not call the host: the task function
 * gets memory prepared by the caller, and cancellation is checked by the
 * caller between calls.  Tasks are handed out by an atomic counter; which
 * thread runs a task never changes its result, as each task writes only
 * its own output.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

#include "gmm_core.h"

typedef struct TaskPool
{
	void		(*fn) (int task, int worker, void *arg);
	void	   *arg;
	int			ntasks;
	atomic_int	next;
} TaskPool;

typedef struct WorkerArg
{
	TaskPool   *pool;
	int			worker;
} WorkerArg;

static void
run_tasks(TaskPool *pool, int worker)
{
	int			t;

	while ((t = atomic_fetch_add(&pool->next, 1)) < pool->ntasks)
		pool->fn(t, worker, pool->arg);
}

static void *
worker_main(void *p)
{
	WorkerArg  *wa = (WorkerArg *) p;

	run_tasks(wa->pool, wa->worker);
	return NULL;
}

int
gmm_run_tasks(int ntasks, int workers,
			  void (*fn) (int task, int worker, void *arg), void *arg)
{
	TaskPool	pool;
	pthread_t	tid[GMM_MAX_FIT_WORKERS];
	WorkerArg	wa[GMM_MAX_FIT_WORKERS];
	sigset_t	all,
				old;
	int			started = 0;

	if (workers > GMM_MAX_FIT_WORKERS)
		workers = GMM_MAX_FIT_WORKERS;
	if (workers > ntasks)
		workers = ntasks;
	pool.fn = fn;
	pool.arg = arg;
	pool.ntasks = ntasks;
	atomic_init(&pool.next, 0);

	if (workers > 1)
	{
		/* the new threads inherit this mask: no signal is delivered to them */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (int i = 1; i < workers; i++)
		{
			wa[i].pool = &pool;
			wa[i].worker = i;
			if (pthread_create(&tid[i], NULL, worker_main, &wa[i]) != 0)
				break;			/* fewer threads: the tasks still all run */
			started++;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	run_tasks(&pool, 0);
	for (int i = 1; i <= started; i++)
		pthread_join(tid[i], NULL);
	return started + 1;
}
