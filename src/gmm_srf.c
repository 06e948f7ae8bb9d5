/*
 * gmm_srf.c
 *	  Materialize-mode set-returning functions: one helper over the API that
 *	  changed names across PostgreSQL 15-18 (gmm_compat.h).
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"

#include "gmm.h"
#include "gmm_compat.h"

ReturnSetInfo *
gmm_srf_materialize(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	return rsinfo;
}
