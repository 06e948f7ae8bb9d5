/*
 * threads.c
 *	  Running one function over task numbers on a few threads, for the E-step
 *	  of one fit on several cores (gmm.fit_workers).
 *
 * The caller's thread takes part; the others are POSIX threads of a team,
 * started by gmm_team_start and joined by gmm_team_stop.  They run with every signal
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

static void
run_tasks(TaskPool *pool, int worker)
{
	int			t;

	while ((t = atomic_fetch_add(&pool->next, 1)) < pool->ntasks)
		pool->fn(t, worker, pool->arg);
}

/*
 * A team: threads started once and woken for each run, for a caller that
 * runs many short batches of tasks (the E-step's waves of chunks, a few
 * milliseconds each).  Created per wave, as before this version, a worker
 * thread started late in every wave, and the caller's thread had taken
 * most of the wave's tasks by then (see gmm_stats_accumulate_parallel).
 */
struct GmmTeam
{
	pthread_mutex_t mu;
	pthread_cond_t go;			/* a run started, or quit */
	pthread_cond_t done;		/* the last thread of a run finished */
	unsigned	generation;		/* runs started */
	int			running;		/* threads still in the current run */
	int			started;		/* threads created besides the caller's */
	bool		quit;
	TaskPool	pool;
	pthread_t	tid[GMM_MAX_FIT_WORKERS];
	struct TeamArg
	{
		struct GmmTeam *team;
		int			worker;
	}			wa[GMM_MAX_FIT_WORKERS];
};

size_t
gmm_team_size(void)
{
	return sizeof(GmmTeam);
}

static void *
team_main(void *p)
{
	struct TeamArg *ta = (struct TeamArg *) p;
	GmmTeam    *team = ta->team;
	unsigned	seen = 0;

	pthread_mutex_lock(&team->mu);
	for (;;)
	{
		while (!team->quit && team->generation == seen)
			pthread_cond_wait(&team->go, &team->mu);
		if (team->quit)
			break;
		seen = team->generation;
		pthread_mutex_unlock(&team->mu);
		run_tasks(&team->pool, ta->worker);
		pthread_mutex_lock(&team->mu);
		if (--team->running == 0)
			pthread_cond_signal(&team->done);
	}
	pthread_mutex_unlock(&team->mu);
	return NULL;
}

int
gmm_team_start(GmmTeam *team, int workers)
{
	sigset_t	all,
				old;

	if (workers > GMM_MAX_FIT_WORKERS)
		workers = GMM_MAX_FIT_WORKERS;
	pthread_mutex_init(&team->mu, NULL);
	pthread_cond_init(&team->go, NULL);
	pthread_cond_init(&team->done, NULL);
	team->generation = 0;
	team->running = 0;
	team->started = 0;
	team->quit = false;
	/* the new threads inherit this mask: no signal is delivered to them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 1; i < workers; i++)
	{
		team->wa[i].team = team;
		team->wa[i].worker = i;
		if (pthread_create(&team->tid[i], NULL, team_main, &team->wa[i]) != 0)
			break;				/* fewer threads: the tasks still all run */
		team->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return team->started + 1;
}

void
gmm_team_run(GmmTeam *team, int ntasks,
			 void (*fn) (int task, int worker, void *arg), void *arg)
{
	pthread_mutex_lock(&team->mu);
	team->pool.fn = fn;
	team->pool.arg = arg;
	team->pool.ntasks = ntasks;
	atomic_store(&team->pool.next, 0);
	team->running = team->started;
	team->generation++;
	pthread_cond_broadcast(&team->go);
	pthread_mutex_unlock(&team->mu);
	run_tasks(&team->pool, 0);
	pthread_mutex_lock(&team->mu);
	while (team->running > 0)
		pthread_cond_wait(&team->done, &team->mu);
	pthread_mutex_unlock(&team->mu);
}

void
gmm_team_stop(GmmTeam *team)
{
	pthread_mutex_lock(&team->mu);
	team->quit = true;
	pthread_cond_broadcast(&team->go);
	pthread_mutex_unlock(&team->mu);
	for (int i = 1; i <= team->started; i++)
		pthread_join(team->tid[i], NULL);
	pthread_cond_destroy(&team->done);
	pthread_cond_destroy(&team->go);
	pthread_mutex_destroy(&team->mu);
}
