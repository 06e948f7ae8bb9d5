/*
 * gmm_compat.h
 *	  Every difference between the PostgreSQL majors gmm supports (15 to 18),
 *	  as small macros: the rest of the code uses one spelling and never tests
 *	  PG_VERSION_NUM itself.
 */
#ifndef GMM_COMPAT_H
#define GMM_COMPAT_H

#include "postgres.h"

#endif							/* GMM_COMPAT_H */
