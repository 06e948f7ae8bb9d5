/*
 * schur_lanes.h
 *	  The Schur-complement route of marginal.c on lanes of SL_W components,
 *	  one per element of a vector of type SL_V: included by marginal.c once
 *	  for four lanes (the AVX2 and baseline builds) and, with AVX-512, once
 *	  for eight, each with its own SL_NAME suffix.  The arithmetic per lane
 *	  is the same; the two agree to a few ulp (which multiply-adds the
 *	  compiler fuses may differ between the builds).  Defines before
 *	  including: SL_W, SL_V (doubles), SL_L
 *	  (int64), SL_LOAD, SL_SPLAT, SL_STORE, SL_LOG (log of positive normal
 *	  lanes), SL_NAME(f); it undefines them at its end.  Part of the
 *	  numerical core; not a header of its own (no include guard: it is a
 *	  template).
 */
#define LANE(base, i) ((base) + (size_t) (i) * SL_W)
#define LANES_GROUP(d) LANES_GROUP_W((d), SL_W)

/*
 * Zv = U^T Yv on the lanes, U upper: column t needs rows 0..t only.  Eight
 * columns at a time (eight independent chains of multiply-adds): the rows
 * above the block in full, then the block's own upper triangle.
 */
ALWAYS_INLINE void
SL_NAME(lanes_z)(const double *U4, const double *Yv, double *Zv, int d)
{
	int			t0 = 0;

	for (; t0 + 8 <= d; t0 += 8)
	{
		SL_V			a0 = SL_SPLAT(0.0),
					a1 = SL_SPLAT(0.0),
					a2 = SL_SPLAT(0.0),
					a3 = SL_SPLAT(0.0),
					a4 = SL_SPLAT(0.0),
					a5 = SL_SPLAT(0.0),
					a6 = SL_SPLAT(0.0),
					a7 = SL_SPLAT(0.0);

#define LANES_Z_ROW(s, from) \
		do { \
			SL_V			ys_ = SL_LOAD(LANE(Yv, (s))); \
			const double *u_ = LANE(U4, (size_t) (s) * d + t0); \
			if ((from) <= 0) a0 += ys_ * SL_LOAD(LANE(u_, 0)); \
			if ((from) <= 1) a1 += ys_ * SL_LOAD(LANE(u_, 1)); \
			if ((from) <= 2) a2 += ys_ * SL_LOAD(LANE(u_, 2)); \
			if ((from) <= 3) a3 += ys_ * SL_LOAD(LANE(u_, 3)); \
			if ((from) <= 4) a4 += ys_ * SL_LOAD(LANE(u_, 4)); \
			if ((from) <= 5) a5 += ys_ * SL_LOAD(LANE(u_, 5)); \
			if ((from) <= 6) a6 += ys_ * SL_LOAD(LANE(u_, 6)); \
			a7 += ys_ * SL_LOAD(LANE(u_, 7)); \
		} while (0)
		for (int s = 0; s < t0; s++)
			LANES_Z_ROW(s, 0);
		LANES_Z_ROW(t0, 0);
		LANES_Z_ROW(t0 + 1, 1);
		LANES_Z_ROW(t0 + 2, 2);
		LANES_Z_ROW(t0 + 3, 3);
		LANES_Z_ROW(t0 + 4, 4);
		LANES_Z_ROW(t0 + 5, 5);
		LANES_Z_ROW(t0 + 6, 6);
		LANES_Z_ROW(t0 + 7, 7);
#undef LANES_Z_ROW
		SL_STORE(LANE(Zv, t0), a0);
		SL_STORE(LANE(Zv, t0 + 1), a1);
		SL_STORE(LANE(Zv, t0 + 2), a2);
		SL_STORE(LANE(Zv, t0 + 3), a3);
		SL_STORE(LANE(Zv, t0 + 4), a4);
		SL_STORE(LANE(Zv, t0 + 5), a5);
		SL_STORE(LANE(Zv, t0 + 6), a6);
		SL_STORE(LANE(Zv, t0 + 7), a7);
	}
	for (; t0 < d; t0++)
	{
		SL_V			a0 = SL_SPLAT(0.0),
					a1 = SL_SPLAT(0.0);
		int			s = 0;

		for (; s + 1 <= t0; s += 2)
		{
			a0 += SL_LOAD(LANE(Yv, s)) * SL_LOAD(LANE(U4, (size_t) s * d + t0));
			a1 += SL_LOAD(LANE(Yv, s + 1)) * SL_LOAD(LANE(U4, (size_t) (s + 1) * d + t0));
		}
		if (s <= t0)
			a0 += SL_LOAD(LANE(Yv, s)) * SL_LOAD(LANE(U4, (size_t) s * d + t0));
		SL_STORE(LANE(Zv, t0), a0 + a1);
	}
}

/*
 * schur_full_lanes's q where the difference of its two terms would lose
 * too many digits: from w = L^-1 b (in Bv), y_m = -(L D L^T)^-1 b by the
 * rest of the solve, and q = ||z + U_m^T y_m||^2, the quadratic at the
 * conditional mean of the missing part, as a sum of squares (rows mi of
 * U, whole).  Bv is overwritten.
 */
ALWAYS_INLINE SL_V
SL_NAME(schur_lanes_squares)(const double *U4, const double *Zv, const double *Gv,
					const double *Iv, double *Bv, const int *mi, int d, int m)
{
	SL_V			q0 = SL_SPLAT(0.0),
				q1 = SL_SPLAT(0.0);
	int			t = 0;

	for (int i = 0; i < m; i++)
		SL_STORE(LANE(Bv, i), SL_LOAD(LANE(Bv, i)) * SL_LOAD(LANE(Iv, i)));
	for (int i = m - 1; i >= 0; i--)
	{
		SL_V			sv = SL_LOAD(LANE(Bv, i));

		for (int l2 = i + 1; l2 < m; l2++)
			sv -= SL_LOAD(LANE(Gv, l2 * m + i)) * SL_LOAD(LANE(Bv, l2));
		SL_STORE(LANE(Bv, i), sv);
	}
	for (; t + 2 <= d; t += 2)
	{
		SL_V			z0 = SL_LOAD(LANE(Zv, t));
		SL_V			z1 = SL_LOAD(LANE(Zv, t + 1));

		for (int a = 0; a < m; a++)
		{
			const double *ua = LANE(U4, (size_t) mi[a] * d + t);
			SL_V			ba = SL_LOAD(LANE(Bv, a));

			z0 -= ba * SL_LOAD(ua);
			z1 -= ba * SL_LOAD(LANE(ua, 1));
		}
		q0 += z0 * z0;
		q1 += z1 * z1;
	}
	if (t < d)
	{
		SL_V			z0 = SL_LOAD(LANE(Zv, t));

		for (int a = 0; a < m; a++)
			z0 -= SL_LOAD(LANE(Bv, a)) * SL_LOAD(LANE(U4, (size_t) mi[a] * d + t));
		q0 += z0 * z0;
	}
	return q0 + q1;
}

/*
 * schur_components for full covariances with the precisions (and their
 * lanes layout) given and m <= LANE_MAX_M: four components at once, one per
 * vector lane, from y = x - mu with y_m = 0 to the sum of squares.  For m
 * of a few, a factor and solve per component is mostly latency (divisions,
 * short dependent loops, horizontal sums); on the lanes every step is a
 * vector operation with no dependence between components.  The products
 * with U run over whole rows (the stored zeros of U's lower part, and of
 * y_m, add nothing), so no loop depends on which features are missing but
 * the m x m steps.  The quadratic is ||z||^2 less the Schur term w^T D^-1 w
 * (m multiply-adds past b; summing ||z + U_m^T y_m||^2 took m d more per
 * component: missing_kernel's schur 1.57x complete rows, 1.27-1.34x now),
 * as squares only where the difference would lose digits.  The
 * conditional mean offsets are not kept
 * (scoring needs only the log-densities).  False when a pivot of P_mm is
 * not a positive normal number: the caller takes the per-component path,
 * which factors (or fails to factor) each block on its own.
 */
ALWAYS_INLINE bool
SL_NAME(schur_full_lanes)(const GmmParams *p, const double *prec,
				 const double *log_weights, const double *x, MissingRow *r,
				 double *logprob, int m)
{
	int			k = p->k;
	int			d = p->d;
	const double *lanes = align_line(prec + (size_t) k * d * d);
	SL_V			cst = SL_SPLAT((d - m) * LOG_2PI);
	double	   *Yv = align_line(r->lanes);	/* d x SL_W: y, 0 where missing */
	double	   *Zv = Yv + (size_t) d * SL_W;	/* d x SL_W: z = U^T y */
	double	   *Gv = Zv + (size_t) d * SL_W;	/* m x m x SL_W: P_mm, then L (lower) */
	double	   *Dv = Gv + (size_t) m * m * SL_W;	/* m x SL_W: D */
	double	   *Iv = Dv + (size_t) m * SL_W;	/* m x SL_W: 1/D */
	double	   *Bv = Iv + (size_t) m * SL_W;	/* m x SL_W: b = P_mo y_o, then -y_m */

	for (int j0 = 0; j0 < k; j0 += SL_W)
	{
		const double *U4 = lanes + (size_t) (j0 / SL_W) * LANES_GROUP(d);
		const double *P4 = U4 + (size_t) d * d * SL_W;
		const double *M4 = P4 + (size_t) d * d * SL_W;
		int			nj = k - j0 < SL_W ? k - j0 : SL_W;
		SL_V			prod = SL_SPLAT(1.0);	/* in [1, 2^m) */
		SL_L			esum = {0};
		SL_L			ok = esum - 1;	/* all ones: every pivot fine so far */
		SL_V			q0;
		SL_V			lp,
					ld;

		/*
		 * G = P_mm and its factor first: the factor's divisions and the
		 * log-determinant's long chain depend on the pattern only, and run
		 * while the products with y below keep the multipliers busy
		 */
		for (int a = 0; a < m; a++)
			for (int c = 0; c <= a; c++)
				SL_STORE(LANE(Gv, a * m + c),
						SL_LOAD(LANE(P4, (size_t) r->mi[a] * d + r->mi[c])));
		/* L D L^T, as ldl_factor, on every lane */
		for (int i = 0; i < m; i++)
		{
			SL_V			si;

			for (int jj = 0; jj < i; jj++)
			{
				SL_V			sv = SL_LOAD(LANE(Gv, i * m + jj));

				for (int l2 = 0; l2 < jj; l2++)
					sv -= SL_LOAD(LANE(Gv, i * m + l2)) * SL_LOAD(LANE(Gv, jj * m + l2)) *
						SL_LOAD(LANE(Dv, l2));
				SL_STORE(LANE(Gv, i * m + jj), sv * SL_LOAD(LANE(Iv, jj)));
			}
			si = SL_LOAD(LANE(Gv, i * m + i));
			for (int l2 = 0; l2 < i; l2++)
			{
				SL_V			li = SL_LOAD(LANE(Gv, i * m + l2));

				si -= li * li * SL_LOAD(LANE(Dv, l2));
			}
			/*
			 * a pivot that is not a positive normal number (unused lanes
			 * have 1): the caller takes the per-component path, which
			 * reports a block that cannot be factored
			 */
			ok &= (si >= SL_SPLAT(DBL_MIN)) & (si <= SL_SPLAT(DBL_MAX));
			SL_STORE(LANE(Dv, i), si);
			SL_STORE(LANE(Iv, i), SL_SPLAT(1.0) / si);
			/* the log-determinant: the pivots' exponents summed, their mantissas multiplied */
			esum += ((SL_L) si >> 52) - 1023;
			prod *= (SL_V) (((SL_L) si & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL);
		}
		for (int l = 0; l < SL_W; l++)
			if (ok[l] != -1)
				return false;
		/* log det P_mm / 2 */
		ld = SL_SPLAT(0.5) * (__builtin_convertvector(esum, SL_V) * SL_SPLAT(0.69314718055994530942) +
							 SL_LOG(prod));
		/* y = x - mu, 0 where x is missing (NaN: x != x) */
		for (int s = 0; s < d; s++)
		{
			SL_V			xs = SL_SPLAT(x[s]);

			SL_STORE(LANE(Yv, s), (SL_V) ((SL_L) (xs - SL_LOAD(LANE(M4, s))) & (xs == xs)));
		}
		SL_NAME(lanes_z)(U4, Yv, Zv, d);
		/*
		 * b = P_mo y_o = (U z)_m: y_m is zero and P = U U^T.  Whole rows
		 * of U (zero before column mi[a]): a loop from mi[a] on, whose
		 * length changes with every random pattern, mispredicted its exit
		 * (missing_kernel's schur_random 1.63x complete rows, 1.39x now)
		 */
		for (int a = 0; a < m; a++)
		{
			const double *ua = LANE(U4, (size_t) r->mi[a] * d);
			SL_V			b0 = SL_SPLAT(0.0),
						b1 = SL_SPLAT(0.0);
			int			s = 0;

			for (; s + 2 <= d; s += 2)
			{
				b0 += SL_LOAD(LANE(ua, s)) * SL_LOAD(LANE(Zv, s));
				b1 += SL_LOAD(LANE(ua, s + 1)) * SL_LOAD(LANE(Zv, s + 1));
			}
			if (s < d)
				b0 += SL_LOAD(LANE(ua, s)) * SL_LOAD(LANE(Zv, s));
			SL_STORE(LANE(Bv, a), b0 + b1);
		}
		/* w = L^-1 b, in place (ldl_solve_neg's forward half) */
		for (int i = 0; i < m; i++)
		{
			SL_V			sv = SL_LOAD(LANE(Bv, i));

			for (int l2 = 0; l2 < i; l2++)
				sv -= SL_LOAD(LANE(Gv, i * m + l2)) * SL_LOAD(LANE(Bv, l2));
			SL_STORE(LANE(Bv, i), sv);
		}
		/*
		 * q = y_o^T (P_oo - P_om P_mm^-1 P_mo) y_o = ||z||^2 - w^T D^-1 w.
		 * The difference loses the digits the two terms share: where q is
		 * below SCHUR_DIFF_MIN of ||z||^2 (features the missing ones predict
		 * closely), q is summed as squares instead (schur_lanes_squares).
		 */
		{
			SL_V			zz0 = SL_SPLAT(0.0),
						zz1 = SL_SPLAT(0.0),
						ss = SL_SPLAT(0.0);
			SL_L			close;
			int64_t		any_close = 0;
			int			t = 0;

			for (; t + 2 <= d; t += 2)
			{
				SL_V			z0 = SL_LOAD(LANE(Zv, t));
				SL_V			z1 = SL_LOAD(LANE(Zv, t + 1));

				zz0 += z0 * z0;
				zz1 += z1 * z1;
			}
			if (t < d)
			{
				SL_V			z0 = SL_LOAD(LANE(Zv, t));

				zz0 += z0 * z0;
			}
			zz0 += zz1;
			for (int i = 0; i < m; i++)
			{
				SL_V			wi = SL_LOAD(LANE(Bv, i));

				ss += wi * wi * SL_LOAD(LANE(Iv, i));
			}
			q0 = zz0 - ss;
			close = q0 < zz0 * SL_SPLAT(SCHUR_DIFF_MIN);
			for (int l = 0; l < nj; l++)
				any_close |= close[l];
			if (any_close)
				q0 = SL_NAME(schur_lanes_squares)(U4, Zv, Gv, Iv, Bv, r->mi, d, m);
		}
		lp = -SL_SPLAT(0.5) * (cst + q0) - ld;
		for (int l = 0; l < nj; l++)
		{
			int			j = j0 + l;

			logprob[j] = log_weights[j] + p->log_det[j] +
				(isnan(q0[l]) ? -INFINITY : lp[l]);
		}
	}
	return true;
}

#undef LANE
#undef LANES_GROUP
/* the parameters too, for the next inclusion */
#undef SL_W
#undef SL_V
#undef SL_L
#undef SL_LOAD
#undef SL_SPLAT
#undef SL_STORE
#undef SL_LOG
#undef SL_NAME
