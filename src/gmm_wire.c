/*
 * gmm_wire.c
 *	  A bounds-checked cursor over untrusted big-endian bytes, for the binary
 *	  input of the gmm type and of the aggregate state types.
 */
#include "postgres.h"

#include "port/pg_bswap.h"

#include "gmm.h"

/* the next n bytes, or an error naming what is being read when too few are left */
const char *
gmm_wire_bytes(GmmWireReader *r, size_t n)
{
	const char *p;

	if (r->len - r->pos < n)
		ereport(ERROR,
				(errcode(r->errcode),
				 errmsg("invalid %s: truncated", r->what),
				 errdetail("The %zu-byte field at offset %zu runs past the end of the data at offset %zu.",
						   n, r->pos, r->len)));
	p = r->data + r->pos;
	r->pos += n;
	return p;
}

uint8
gmm_wire_u8(GmmWireReader *r)
{
	return (uint8) *gmm_wire_bytes(r, 1);
}

uint32
gmm_wire_u32(GmmWireReader *r)
{
	uint32		v;

	memcpy(&v, gmm_wire_bytes(r, 4), 4);
	return pg_ntoh32(v);
}

uint64
gmm_wire_u64(GmmWireReader *r)
{
	uint64		v;

	memcpy(&v, gmm_wire_bytes(r, 8), 8);
	return pg_ntoh64(v);
}

double
gmm_wire_f8(GmmWireReader *r)
{
	uint64		bits = gmm_wire_u64(r);
	double		x;

	memcpy(&x, &bits, sizeof(x));
	return x;
}
