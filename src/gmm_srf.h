/*
 * gmm_srf.h
 *	  Set-returning functions in materialize mode, across PostgreSQL versions.
 */
#ifndef GMM_SRF_H
#define GMM_SRF_H

#include "fmgr.h"
#include "funcapi.h"

/* set up fcinfo's ReturnSetInfo with a tuplestore and the result tupdesc */
extern ReturnSetInfo *gmm_srf_materialize(FunctionCallInfo fcinfo);

#endif							/* GMM_SRF_H */
