-- The centred fallback of the M-step (src/mstep_centred.c), on scikit-learn's
-- test_gaussian_mixture_setting_best_params case (sklearn/mixture/tests/
-- test_gaussian_mixture.py): 30 rows of numpy.random.RandomState(0).uniform
-- (size=(30, 3)), spherical, reg_covar 0, all three initial parameters, and
-- components 0 and 1 (precision 1e6) collapsing onto one row each in the
-- first M-step.  Their scatter from sums shifted by the previous means is
-- rounding noise (it was "not positive definite"); recomputed from centred
-- rows it is about 1e-30 (exact, mpmath from scikit-learn's responsibilities:
-- 7.9e-31 and 2.1e-30; scikit-learn's uncentred formula gives its own noise,
-- 3.6e-16 and 9.1e-16; test/conformance/sklearn_degenerate.py compares).
SET extra_float_digits = 0;
CREATE TABLE collapse (id int, x float8[]);
INSERT INTO collapse VALUES
(1, ARRAY[0.5488135039273248, 0.7151893663724195, 0.6027633760716439]),
(2, ARRAY[0.5448831829968969, 0.4236547993389047, 0.6458941130666561]),
(3, ARRAY[0.4375872112626925, 0.8917730007820798, 0.9636627605010293]),
(4, ARRAY[0.3834415188257777, 0.7917250380826646, 0.5288949197529045]),
(5, ARRAY[0.5680445610939323, 0.925596638292661, 0.07103605819788694]),
(6, ARRAY[0.08712929970154071, 0.02021839744032572, 0.832619845547938]),
(7, ARRAY[0.7781567509498505, 0.8700121482468192, 0.978618342232764]),
(8, ARRAY[0.7991585642167236, 0.46147936225293185, 0.7805291762864555]),
(9, ARRAY[0.11827442586893322, 0.6399210213275238, 0.1433532874090464]),
(10, ARRAY[0.9446689170495839, 0.5218483217500717, 0.4146619399905236]),
(11, ARRAY[0.26455561210462697, 0.7742336894342167, 0.45615033221654855]),
(12, ARRAY[0.5684339488686485, 0.018789800436355142, 0.6176354970758771]),
(13, ARRAY[0.6120957227224214, 0.6169339968747569, 0.9437480785146242]),
(14, ARRAY[0.6818202991034834, 0.359507900573786, 0.43703195379934145]),
(15, ARRAY[0.6976311959272649, 0.06022547162926983, 0.6667667154456677]),
(16, ARRAY[0.6706378696181594, 0.2103825610738409, 0.1289262976548533]),
(17, ARRAY[0.31542835092418386, 0.3637107709426226, 0.5701967704178796]),
(18, ARRAY[0.43860151346232035, 0.9883738380592262, 0.10204481074802807]),
(19, ARRAY[0.2088767560948347, 0.16130951788499626, 0.6531083254653984]),
(20, ARRAY[0.2532916025397821, 0.4663107728563063, 0.24442559200160274]),
(21, ARRAY[0.15896958364551972, 0.11037514116430513, 0.6563295894652734]),
(22, ARRAY[0.1381829513486138, 0.1965823616800535, 0.3687251706609641]),
(23, ARRAY[0.8209932298479351, 0.09710127579306127, 0.8379449074988039]),
(24, ARRAY[0.09609840789396307, 0.9764594650133958, 0.4686512016477016]),
(25, ARRAY[0.9767610881903371, 0.604845519745046, 0.7392635793983017]),
(26, ARRAY[0.039187792254320675, 0.2828069625764096, 0.1201965612131689]),
(27, ARRAY[0.29614019752214493, 0.11872771895424405, 0.317983179393976]),
(28, ARRAY[0.41426299451466997, 0.06414749634878436, 0.6924721193700198]),
(29, ARRAY[0.5666014542065752, 0.2653894909394454, 0.5232480534666997]),
(30, ARRAY[0.09394051075844168, 0.5759464955561793, 0.9292961975762141])
;
CREATE TABLE collapse_opts AS SELECT '{"covariance_type": "spherical", "reg_covar": 0, "max_iter": 1,
	"means_init": [[0.670637869618158, 0.21038256107384043, 0.12892629765485303],
		[0.09394051075844147, 0.5759464955561779, 0.929296197576212],
		[0.5033230372781258, 0.9569852381759425, 0.08654043447295741],
		[0.18578301420435747, 0.5531158970919143, 0.19388943970532435],
		[0.4548589928173794, 0.35182513658825276, 0.568146063202464],
		[0.609279894978321, 0.7929063819678847, 0.9620097270828052]],
	"precisions_init": [999999.999604483, 999999.9990869573, 553.7603944542167,
		204.78596008931834, 15.867423501783637, 85.4595728389735],
	"weights_init": [0.03333333333333341, 0.03333333333333341, 0.06666666666666674,
		0.06666666666666674, 0.7000000000000001, 0.10000000000000007]}'::jsonb AS o;

-- gmm_fit: no error, not converged (as scikit-learn asserts), the collapsed
-- variances positive and below 1e-20, the others as scikit-learn's to 4 digits
-- (scikit-learn 1.2.1: 1.80483507e-03 4.88699286e-03 6.37265099e-02 1.20531890e-02)
SET client_min_messages = error;
CREATE TABLE collapsed AS SELECT gmm_fit(x, 6, (SELECT o FROM collapse_opts)) AS m FROM collapse;
RESET client_min_messages;
SELECT gmm_converged(m), gmm_n_iter(m),
	   (gmm_covariances(m))[1] BETWEEN 1e-300 AND 1e-20 AS c0_tiny,
	   (gmm_covariances(m))[2] BETWEEN 1e-300 AND 1e-20 AS c1_tiny,
	   round((gmm_covariances(m))[3]::numeric, 6) AS c2,
	   round((gmm_covariances(m))[4]::numeric, 6) AS c3,
	   round((gmm_covariances(m))[5]::numeric, 5) AS c4,
	   round((gmm_covariances(m))[6]::numeric, 5) AS c5
FROM collapsed;

-- gmm_refit from the initial parameters (max_iter 0 keeps them) does the same
SET client_min_messages = error;
SELECT gmm_covariances(r) = gmm_covariances((SELECT m FROM collapsed)) AS same_as_fit
FROM (SELECT gmm_refit(x, (SELECT gmm_fit(x, 6, o || '{"max_iter": 0}') FROM collapse, collapse_opts),
					   '{"max_iter": 1}') AS r
	  FROM collapse) f;
RESET client_min_messages;

-- the combinable path (gmm_em_step) has no second pass: the shifted result
-- is kept with a warning, or is an error that says why when it is not even
-- positive definite (here: the error)
SELECT gmm_n_iter(gmm_em_step(x, (SELECT gmm_fit(x, 6, o || '{"max_iter": 0}') FROM collapse, collapse_opts)))
FROM collapse;
-- and a well-conditioned step is silent
SELECT gmm_n_iter(gmm_em_step(x, (SELECT gmm_fit(x, 2, '{"max_iter": 3}') FROM collapse)))
FROM collapse;
