/*
 * em_block.h
 *	  The blocked E-step's kernels (em.c), written once for a vector width
 *	  and included by em.c twice: eight doubles a vector (EB_W 8: v8d, one
 *	  register with AVX-512, SSE2 pairs on the baseline; built for both,
 *	  GMM_KERNEL) and four (EB_W 4: v4d, one AVX2 register; built for AVX2
 *	  with FMA only, GMM_KERNEL_AVX2_ONLY, run where the CPU has it and not
 *	  AVX-512).  GCC keeps a v8d in memory where the CPU has no 512-bit
 *	  registers, so an AVX2 build of the eight-wide code is slower than the
 *	  baseline's; the four-wide build is what AVX2 CPUs run.
 *
 *	  The block's layout is the same at both widths: B and the padded row
 *	  counts (vround) are multiples of 8, so every loop over np rows runs
 *	  whole vectors at either width.  Per row, both compute the same
 *	  operations in the same order; a sum over the rows of a block (vsum of
 *	  the accumulators) adds EB_W partial sums, so the two widths' statistics
 *	  differ in the last bits, as any two summation orders do.
 *
 *	  The includer defines EB_W, EB_V and EB_L (the vector of doubles and of
 *	  int64_t), EB_LOAD, EB_STORE, EB_SPLAT, EB_SUM, EB_EXP (exp of lanes
 *	  <= 0), EB_KERNEL (the build attribute) and EB_NAME(f) (the width's
 *	  name of kernel f); they are undefined at the end.  Core-internal.
 */

/*
 * X0T (d x B) = the n rows of Xb transposed, XT = X0T - c; rows n to the
 * next multiple of 8 are zero in X0T.  The n rows after them (the next
 * block, or whatever follows) are to be asked for into the second-level
 * cache while this block's E-step runs (block_prefetch): between two
 * transposes the block's kernels read no row, so the hardware prefetcher,
 * which follows the reads, had not fetched the next block's lines, and the
 * transpose waited for them (`perf annotate` of `em_bench fit 200000 8 4
 * full`: half the transpose's samples on its first load of a row).  Asked
 * for all at once here, the prefetches stalled the transpose instead (more
 * lines than the CPU has misses in flight).
 */
EB_KERNEL static void
EB_NAME(block_transpose)(const double *Xb, int n, int d, BlockWork *bw)
{
	int			B = bw->B;
	int			np = vround(n);

	int			i0 = 0;
	int			dt = 0;

	bw->pf = (uintptr_t) Xb + sizeof(double) * (size_t) n * d;
	bw->pf_len = bw->pf_left = sizeof(double) * (size_t) n * d;
#ifndef __clang__
	/*
	 * EB_W x EB_W tiles through registers; clang (bitcode only) takes the
	 * loop
	 */
	dt = d & ~(EB_W - 1);
	for (; i0 + EB_W <= n; i0 += EB_W)
		for (int t0 = 0; t0 < dt; t0 += EB_W)
		{
			EB_V		r[EB_W],
						u[EB_W];

			GMM_UNROLL
			for (int q = 0; q < EB_W; q++)
				r[q] = EB_LOAD(Xb + (size_t) (i0 + q) * d + t0);
#if EB_W == 8
			GMM_UNROLL
			for (int q = 0; q < 8; q += 2)
			{
				u[q] = __builtin_shuffle(r[q], r[q + 1],
										 (EB_L) {0, 8, 2, 10, 4, 12, 6, 14});
				u[q + 1] = __builtin_shuffle(r[q], r[q + 1],
											 (EB_L) {1, 9, 3, 11, 5, 13, 7, 15});
			}
			GMM_UNROLL
			for (int q = 0; q < 8; q += 4)
				GMM_UNROLL
				for (int h = 0; h < 2; h++)
				{
					r[q + h] = __builtin_shuffle(u[q + h], u[q + h + 2],
												 (EB_L) {0, 1, 8, 9, 4, 5, 12, 13});
					r[q + h + 2] = __builtin_shuffle(u[q + h], u[q + h + 2],
													 (EB_L) {2, 3, 10, 11, 6, 7, 14, 15});
				}
			GMM_UNROLL
			for (int q = 0; q < 4; q++)
			{
				EB_STORE(bw->X0T + (size_t) (t0 + q) * B + i0,
						 __builtin_shuffle(r[q], r[q + 4],
										   (EB_L) {0, 1, 2, 3, 8, 9, 10, 11}));
				EB_STORE(bw->X0T + (size_t) (t0 + q + 4) * B + i0,
						 __builtin_shuffle(r[q], r[q + 4],
										   (EB_L) {4, 5, 6, 7, 12, 13, 14, 15}));
			}
#else
			/* rows a b c d: u = a0 b0 a2 b2, a1 b1 a3 b3, c0 d0 c2 d2, c1 d1 c3 d3 */
			GMM_UNROLL
			for (int q = 0; q < 4; q += 2)
			{
				u[q] = __builtin_shuffle(r[q], r[q + 1], (EB_L) {0, 4, 2, 6});
				u[q + 1] = __builtin_shuffle(r[q], r[q + 1], (EB_L) {1, 5, 3, 7});
			}
			GMM_UNROLL
			for (int q = 0; q < 2; q++)
			{
				EB_STORE(bw->X0T + (size_t) (t0 + q) * B + i0,
						 __builtin_shuffle(u[q], u[q + 2], (EB_L) {0, 1, 4, 5}));
				EB_STORE(bw->X0T + (size_t) (t0 + q + 2) * B + i0,
						 __builtin_shuffle(u[q], u[q + 2], (EB_L) {2, 3, 6, 7}));
			}
#endif
		}
#endif
	/* the features past the tiles of full rows, then the rows past them */
	for (int i = 0; i < i0; i++)
		for (int t = dt; t < d; t++)
			bw->X0T[(size_t) t * B + i] = Xb[(size_t) i * d + t];
	for (int i = i0; i < n; i++)
		for (int t = 0; t < d; t++)
			bw->X0T[(size_t) t * B + i] = Xb[(size_t) i * d + t];
	for (int t = 0; t < d; t++)
	{
		double	   *x0 = bw->X0T + (size_t) t * B;
		double	   *xc = bw->XT + (size_t) t * B;
		EB_V		c = EB_SPLAT(bw->c[t]);

		for (int i = n; i < np; i++)
			x0[i] = 0.0;
		for (int i = 0; i < np; i += EB_W)
			EB_STORE(xc + i, EB_LOAD(x0 + i) - c);
	}
}

/*
 * Add n rows with responsibilities resp (k x bw->B, component-major,
 * overwritten by w * resp, zero past row n) to the statistics; the block is
 * in bw->X0T and bw->XT (block_transpose).  Full: per component
 * Y0 = x - shift_j, S1_j += sum of w r Y0, S2_j += (w r Y0)^T Y0 (one dgemm;
 * the M-step reads the row-major lower triangle and symmetrises; on gmm's
 * own kernels one pass from X0T, gmm_fullsmall_stats).
 * Tied: S1 of all components from one dgemm, one S2 of all rows (each row's
 * responsibilities sum to 1).  Diag and spherical: per component and
 * feature, sums over the rows.  want_s2 false skips S2.
 */
EB_KERNEL static void
EB_NAME(stats_add_block)(GmmStats *s, const double *wb, int n, double *resp,
				bool want_s2, BlockWork *bw)
{
	int			k = s->k;
	int			d = s->d;
	int			B = bw->B;
	int			np = vround(n);
	const double one = 1.0;

	if (wb)
	{
		for (int i = 0; i < n; i++)
			if (wb[i] > 0.0)
			{
				s->n_rows++;
				s->sum_w += wb[i];
			}
	}
	else
	{
		s->n_rows += n;
		s->sum_w += n;
	}
	for (int j = 0; j < k; j++)
	{
		double	   *r = resp + (size_t) j * B;
		EB_V		acc = EB_SPLAT(0.0);

		if (wb)
			for (int i = 0; i < n; i++)
				r[i] = wb[i] > 0.0 ? r[i] * wb[i] : 0.0;
		for (int i = n; i < np; i++)
			r[i] = 0.0;
		for (int i = 0; i < np; i += EB_W)
			acc += EB_LOAD(r + i);
		s->s0[j] += EB_SUM(acc);
	}

	switch (s->cov_type)
	{
		case GMM_COV_FULL:
			for (int j = 0; j < k; j++)
			{
				const double *r = resp + (size_t) j * B;
				const double *sh = s->shift + (size_t) j * d;
				double	   *Y0 = bw->H;
				EB_V		mass = EB_SPLAT(0.0);

				for (int i = 0; i < np; i += EB_W)
					mass += EB_LOAD(r + i);
				if (EB_SUM(mass) == 0.0)
					continue;	/* common with well separated data */
				if (gmm_fullsmall_use(d))
				{
					/* gmm's own, fused: the upper triangle the M-step reads */
					gmm_fullsmall_stats(n, d, bw->X0T, B, r, sh, s->s1 + (size_t) j * d,
										want_s2 ? s->s2 + (size_t) j * d * d : NULL,
										bw->Y, Y0);
					continue;
				}
				/* Y0 = x - shift exactly (from the rows as stored), Y = r Y0 */
				for (int t = 0; t < d; t++)
				{
					const double *x0 = bw->X0T + (size_t) t * B;
					double	   *y0 = Y0 + (size_t) t * B;
					double	   *y = bw->Y + (size_t) t * B;
					EB_V		a = EB_SPLAT(sh[t]);
					EB_V		acc = EB_SPLAT(0.0);

					for (int i = 0; i < np; i += EB_W)
					{
						EB_V		v = EB_LOAD(x0 + i) - a;
						EB_V		rv = EB_LOAD(r + i) * v;

						EB_STORE(y0 + i, v);
						EB_STORE(y + i, rv);
						acc += rv;
					}
					s->s1[(size_t) j * d + t] += EB_SUM(acc);
				}
				if (!want_s2)
					continue;
				if (d >= EM_TRI_MIN_D)
				{
					/* S2_j += (sqrt(r) Y0)^T (sqrt(r) Y0): half the flops */
					for (int i = 0; i < np; i++)
						bw->sq[i] = sqrt(r[i]);
					for (int t = 0; t < d; t++)
					{
						double	   *y0 = Y0 + (size_t) t * B;

						for (int i = 0; i < np; i += EB_W)
							EB_STORE(y0 + i, EB_LOAD(bw->sq + i) * EB_LOAD(y0 + i));
					}
					dsyrk_("U", "T", &d, &n, &one, Y0, &B, &one,
						   s->s2 + (size_t) j * d * d, &d, 1, 1);
				}
				else
					/* S2_j += Y^T Y0 (scikit-learn's (resp * diff.T) @ diff) */
					dgemm_("T", "N", &d, &d, &n, &one, bw->Y, &B, Y0, &B, &one,
						   s->s2 + (size_t) j * d * d, &d, 1, 1);
			}
			break;
		case GMM_COV_TIED:
			/* S1^T (d x k, column-major) += XT (d x n) * R (n x k) */
			dgemm_("T", "N", &d, &k, &n, &one, bw->XT, &B, resp, &B, &one,
				   s->s1, &d, 1, 1);
			if (want_s2)
			{
				const double *A = bw->XT;

				if (wb)
				{
					for (int i = 0; i < n; i++)
						bw->sq[i] = wb[i] > 0.0 ? sqrt(wb[i]) : 0.0;
					for (int t = 0; t < d; t++)
						for (int i = 0; i < n; i++)
							bw->Y[(size_t) t * B + i] =
								bw->sq[i] * bw->XT[(size_t) t * B + i];
					A = bw->Y;
				}
				dsyrk_("U", "T", &d, &n, &one, A, &B, &one, s->s2, &d, 1, 1);
			}
			break;
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			for (int j = 0; j < k; j++)
			{
				const double *r = resp + (size_t) j * B;
				const double *mu = s->shift + (size_t) j * d;

				for (int t = 0; t < d; t++)
				{
					const double *x0 = bw->X0T + (size_t) t * B;
					EB_V		a = EB_SPLAT(mu[t]);
					EB_V		a1 = EB_SPLAT(0.0),
								a2 = EB_SPLAT(0.0);

					for (int i = 0; i < np; i += EB_W)
					{
						EB_V		y = EB_LOAD(x0 + i) - a;
						EB_V		wy = EB_LOAD(r + i) * y;

						a1 += wy;
						a2 += wy * y;
					}
					s->s1[(size_t) j * d + t] += EB_SUM(a1);
					s->s2[(size_t) j * d + t] += EB_SUM(a2);
				}
			}
			break;
	}
}

/*
 * Weighted log-probabilities lp (k x B) of the block in bw->XT under the
 * model.  Full: one dgemm H = XT^T [U_j ...] per group of components, then
 * ||H_j - off_j||^2 (tied: the same with its one U).  Diag and spherical:
 * the scaled squares directly.
 */
EB_KERNEL static void
EB_NAME(estep_block)(const GmmParams *p, int n, BlockWork *bw)
{
	int			k = p->k;
	int			d = p->d;
	int			B = bw->B;
	int			np = vround(n);
	const double one = 1.0,
				zero = 0.0;
	double	   *q = bw->sq;
	bool		full = p->cov_type == GMM_COV_FULL;

	for (int j = 0; j < k; j++)
	{
		const double *o = bw->off + (size_t) j * d;
		double	   *lp = bw->lp + (size_t) j * B;
		EB_V		base = EB_SPLAT(bw->base[j]);

		block_prefetch(bw, k);
		for (int i = 0; i < np; i += EB_W)
			EB_STORE(q + i, EB_SPLAT(0.0));
		switch (p->cov_type)
		{
			case GMM_COV_FULL:
			case GMM_COV_TIED:
				if (full && gmm_fullsmall_use(d))
				{
					/* gmm's own: the triangle only, the squares from registers */
					size_t		dp = gmm_fullsmall_dpad(d);

					gmm_fullsmall_quad(np, d, bw->XT, B, bw->Up + (size_t) j * d * dp,
									   bw->op + j * dp, q);
				}
				else if (full && d >= EM_TRI_MIN_D)
				{
					/* H = (XT - a_j) U_j by dtrmm (half the flops of dgemm) */
					const double *a = bw->a + (size_t) j * d;

					for (int t = 0; t < d; t++)
					{
						const double *xt = bw->XT + (size_t) t * B;
						double	   *h = bw->H + (size_t) t * B;
						EB_V		at = EB_SPLAT(a[t]);

						for (int i = 0; i < np; i += EB_W)
							EB_STORE(h + i, EB_LOAD(xt + i) - at);
					}
					/* row-major upper U read column-major is lower U^T */
					dtrmm_("R", "L", "T", "N", &np, &d, &one,
						   p->prec_chol + (size_t) j * d * d, &d, bw->H, &B,
						   1, 1, 1, 1);
					for (int t = 0; t < d; t++)
					{
						const double *h = bw->H + (size_t) t * B;

						for (int i = 0; i < np; i += EB_W)
						{
							EB_V		z = EB_LOAD(h + i);

							EB_STORE(q + i, EB_LOAD(q + i) + z * z);
						}
					}
				}
				else
				{
					int			g = full ? em_group(k, d, B) : k;
					const double *Hj = bw->H + (full ? (size_t) (j % g) * d * B : 0);

					/* a dgemm for the next group of components (tied: one U) */
					if (j % g == 0 && (j == 0 || full))
					{
						int			ncol = full ? (j + g <= k ? g : k - j) * d : d;

						dgemm_("N", "N", &np, &ncol, &d, &one, bw->XT, &B,
							   bw->Ut + (size_t) j * d * d, &d, &zero, bw->H, &B,
							   1, 1);
					}
					for (int t = 0; t < d; t++)
					{
						const double *h = Hj + (size_t) t * B;
						EB_V		ot = EB_SPLAT(o[t]);

						for (int i = 0; i < np; i += EB_W)
						{
							EB_V		z = EB_LOAD(h + i) - ot;

							EB_STORE(q + i, EB_LOAD(q + i) + z * z);
						}
					}
				}
				break;
			case GMM_COV_DIAG:
			case GMM_COV_SPHERICAL:
				for (int t = 0; t < d; t++)
				{
					const double *xt = bw->XT + (size_t) t * B;
					EB_V		at = EB_SPLAT(o[t]);
					EB_V		pt = EB_SPLAT(p->cov_type == GMM_COV_DIAG ?
											  p->prec_chol[(size_t) j * d + t] :
											  p->prec_chol[j]);

					for (int i = 0; i < np; i += EB_W)
					{
						EB_V		z = (EB_LOAD(xt + i) - at) * pt;

						EB_STORE(q + i, EB_LOAD(q + i) + z * z);
					}
				}
				break;
		}
		for (int i = 0; i < np; i += EB_W)
			EB_STORE(lp + i, base - EB_SPLAT(0.5) * EB_LOAD(q + i));
	}
}

/*
 * Turn the log-probabilities of a block (k x B) into responsibilities in
 * place and return the sum of w * log-sum-exp over its n rows.  One exp per
 * entry; without weights one log per 32 rows (of the product of the row
 * sums, each in [1, k], so it cannot overflow).
 */
EB_KERNEL static double
EB_NAME(block_responsibilities)(int k, int n, const double *wb, BlockWork *bw,
					   double *entropy)
{
	int			B = bw->B;
	int			np = vround(n);
	double	   *m = bw->m;
	double	   *s = bw->s;
	double	   *inv = bw->sq;
	double		ll = 0.0;

	for (int i = 0; i < np; i += EB_W)
		EB_STORE(m + i, EB_LOAD(bw->lp + i));
	for (int j = 1; j < k; j++)
	{
		const double *l = bw->lp + (size_t) j * B;

		for (int i = 0; i < np; i += EB_W)
		{
			EB_V		a = EB_LOAD(l + i),
						b = EB_LOAD(m + i);
			EB_L		gt = a > b;

			EB_STORE(m + i, (EB_V) (((EB_L) a & gt) | ((EB_L) b & ~gt)));
		}
	}
	for (int i = 0; i < np; i += EB_W)
		EB_STORE(s + i, EB_SPLAT(0.0));
	if (entropy)
		for (int i = 0; i < np; i += EB_W)
			EB_STORE(inv + i, EB_SPLAT(0.0));
	for (int j = 0; j < k; j++)
	{
		double	   *l = bw->lp + (size_t) j * B;

		for (int i = 0; i < np; i += EB_W)
		{
			EB_V		v = EB_LOAD(l + i) - EB_LOAD(m + i);

			EB_STORE(l + i, v);
			EB_STORE(l + i, EB_EXP(EB_LOAD(l + i)));
			EB_STORE(s + i, EB_LOAD(s + i) + EB_LOAD(l + i));
			/*
			 * sum_j e_j (lp_j - m), in inv until it holds 1 / s; e_j = 0
			 * adds nothing (also where lp_j is -inf)
			 */
			if (entropy)
			{
				EB_V		e = EB_LOAD(l + i);
				EB_L		pos = e > EB_SPLAT(0.0);

				EB_STORE(inv + i, EB_LOAD(inv + i) + (EB_V) ((EB_L) (e * v) & pos));
			}
		}
	}
	/* sum_j r_j log r_j = sum_j e_j (lp_j - m) / s - log s */
	if (entropy)
		for (int i = 0; i < n; i++)
			if (!wb || wb[i] > 0.0)
				*entropy += (wb ? wb[i] : 1.0) * (inv[i] / s[i] - log(s[i]));
	for (int i = 0; i < np; i += EB_W)
		EB_STORE(inv + i, EB_SPLAT(1.0) / EB_LOAD(s + i));
	for (int j = 0; j < k; j++)
	{
		double	   *l = bw->lp + (size_t) j * B;

		for (int i = 0; i < np; i += EB_W)
			EB_STORE(l + i, EB_LOAD(l + i) * EB_LOAD(inv + i));
	}
	if (wb)
	{
		for (int i = 0; i < n; i++)
			if (wb[i] > 0.0)
				ll += wb[i] * (m[i] + log(s[i]));
	}
	else
	{
		for (int i = 0; i < n; i++)
			ll += m[i];
		for (int i0 = 0; i0 < n; i0 += 32)
		{
			double		prod = 1.0;
			int			i1 = i0 + 32 < n ? i0 + 32 : n;

			for (int i = i0; i < i1; i++)
				prod *= s[i];
			ll += log(prod);
		}
	}
	return ll;
}

#undef EB_W
#undef EB_V
#undef EB_L
#undef EB_LOAD
#undef EB_STORE
#undef EB_SPLAT
#undef EB_SUM
#undef EB_EXP
#undef EB_KERNEL
#undef EB_NAME
