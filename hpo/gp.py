"""Gaussian-process search: GPy regression on the unit cube, expected improvement to choose.

Every told candidate is mapped to the unit cube (``SearchSpace.to_unit``), so integer and
categorical dimensions are seen at the centre of their slice; proposals go back through
``SearchSpace.from_unit``. Rewards are standardised before fitting. The kernel is a Matern 5/2
with one length scale per dimension (ARD); its hyper-parameters and the noise variance are fitted
by maximising the marginal likelihood times weak priors (GPy, L-BFGS-B), started from default
values, from the previous fit and from a few random points. The next candidate maximises expected
improvement over random points and perturbations of the best points seen so far, followed by a
short L-BFGS-B polish. If anything in that fails, the backend logs a warning and asks a random
candidate: a search never stops because of its model.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
from scipy import optimize as scipy_optimize
from scipy import stats
from scipy.stats import qmc
from threadpoolctl import threadpool_limits

from hpo.optimizer import BACKENDS, Optimizer
from hpo.space import Candidate, Continuous, SearchSpace

logger = logging.getLogger(__name__)
# GPy logs three INFO lines for every model it builds, one per ask here; absl (main.py, the
# tools) shows INFO by default.
logging.getLogger("GP").setLevel(logging.WARNING)

# Regularisation of the marginal-likelihood fit, for unit-cube inputs and standardised rewards:
# without it, small data sets are fitted by degenerate optima (length scales shrinking around each
# point with everything else called noise) that a search never leaves. Length scales have a
# Gamma(shape 3, rate 6) prior (mode 1/3, mean 1/2); the noise variance a log-normal prior around
# 1e-2 (two orders of magnitude either way at one standard deviation); the signal variance bounds.
_LENGTHSCALE_PRIOR = (3.0, 6.0)
_NOISE_PRIOR = (math.log(1e-2), 2.0)
_VARIANCE_BOUNDS = (5e-2, 2e1)
# Where the first fit starts.
_DEFAULT_LENGTHSCALE = 0.3
_DEFAULT_NOISE = 1e-3
# Perturbations of the best points: how many points, and the range of their standard deviations.
_NB_LOCAL_CENTRES = 5
_LOCAL_SCALES = (5e-3, 2e-1)
# L-BFGS-B iterations of the acquisition polish.
_POLISH_ITERATIONS = 25


def _check_integer(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Expected an integer {name} >= {minimum}. Received: {name}={value!r}")


def _is_real(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and math.isfinite(value))


@BACKENDS.register("gp")
class GaussianProcessSearch(Optimizer):
    """Bayesian optimisation with a GPy Gaussian process and expected improvement.

    Args:
        space: the search space.
        seed: with the number of told trials, seeds the initial design, the restarts of the fit
            and the acquisition candidates.
        nb_initial_points: told trials before the GP is used; until then candidates come from a
            Latin hypercube design. Default ``max(5, len(space) + 1)``.
        nb_restarts: random restarts of the marginal-likelihood fit, on top of the starts from
            default values and from the previous fit.
        max_iterations: L-BFGS-B iterations of each marginal-likelihood fit.
        refit_every: the hyper-parameters are refitted once every ``refit_every`` told trials;
            in between, the GP is conditioned on the new data with the previous hyper-parameters.
        nb_candidates: uniformly random points scored by expected improvement per ask.
        nb_local_candidates: perturbations of the best told points scored per ask.
        nb_polish_starts: best-scored points from which L-BFGS-B maximises expected improvement
            further (0: no polish).
        exploration: margin ``xi`` of expected improvement, in standard deviations of the
            rewards; larger values explore more.

    Raises:
        ValueError: for an argument out of range.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, *, nb_initial_points: int | None = None,
                 nb_restarts: int = 1, max_iterations: int = 50, refit_every: int = 1,
                 nb_candidates: int = 1000, nb_local_candidates: int = 500,
                 nb_polish_starts: int = 1, exploration: float = 0.01):
        super().__init__(space, seed)
        if nb_initial_points is None:
            nb_initial_points = max(5, len(space) + 1)
        _check_integer("nb_initial_points", nb_initial_points, 1)
        _check_integer("nb_restarts", nb_restarts, 0)
        _check_integer("max_iterations", max_iterations, 1)
        _check_integer("refit_every", refit_every, 1)
        _check_integer("nb_candidates", nb_candidates, 1)
        _check_integer("nb_local_candidates", nb_local_candidates, 0)
        _check_integer("nb_polish_starts", nb_polish_starts, 0)
        if not _is_real(exploration) or exploration < 0:
            raise ValueError("Expected a finite exploration >= 0. "
                             f"Received: exploration={exploration!r}")
        self.nb_initial_points = int(nb_initial_points)
        self.nb_restarts = int(nb_restarts)
        self.max_iterations = int(max_iterations)
        self.refit_every = int(refit_every)
        self.nb_candidates = int(nb_candidates)
        self.nb_local_candidates = int(nb_local_candidates)
        self.nb_polish_starts = int(nb_polish_starts)
        self.exploration = float(exploration)
        self._design = qmc.LatinHypercube(d=len(space), rng=self.rng).random(self.nb_initial_points)
        # Asks since the last tell: asking twice without telling gives two different candidates.
        self._nb_pending_asks = 0
        # Untransformed GPy parameters (variance, length scales, noise) of the last good fit.
        self._hyperparameters: np.ndarray | None = None
        self._nb_observations_at_fit = 0
        self._discrete_columns = [i for i, d in enumerate(space) if not isinstance(d, Continuous)]

    # ----------------------------------------------------------------- ask / tell
    @property
    def nb_warmup_trials(self) -> int:
        """The initial design: its points do not depend on the rewards."""
        return self.nb_initial_points

    def ask(self) -> Candidate:
        # Randomness comes from (seed, trials told, pending asks), so a search that resumes from
        # stored trials goes on from where it stopped instead of replaying its first candidates.
        step = len(self.history) + self._nb_pending_asks
        rng = np.random.default_rng(
            [int(self.seed) % 2**63, len(self.history), self._nb_pending_asks])
        self._nb_pending_asks += 1
        if step < self.nb_initial_points:
            return self.space.from_unit(self._design[step])
        try:
            # The matrices are tiny: BLAS and OpenMP threads (GPy's kernel gradients) only wait
            # for each other, which makes each step ten to fifty times slower on a busy machine.
            with threadpool_limits(limits=1):
                point = self._maximise_expected_improvement(rng)
        except Exception as error:  # noqa: BLE001  (any failure of GPy or the linear algebra)
            logger.warning("Gaussian-process step failed after %d trials (%s: %s); asking a random "
                           "candidate instead.", len(self.history), type(error).__name__, error)
            return self.space.sample(rng)
        return self.space.from_unit(point)

    def _observe(self, candidate: Candidate, reward: float) -> None:
        self._nb_pending_asks = 0

    # ------------------------------------------------------------------ the model
    def _training_data(self) -> tuple[np.ndarray, np.ndarray]:
        inputs = np.array([self.space.to_unit(candidate) for candidate, _ in self.history])
        rewards = np.array([reward for _, reward in self.history])
        scale = rewards.std()
        targets = (rewards - rewards.mean()) / (scale if scale > 1e-12 else 1.0)
        return inputs, targets.reshape(-1, 1)

    def _build_model(self, inputs: np.ndarray, targets: np.ndarray):
        import GPy  # Imported here: it takes a second and only this backend needs it.

        kernel = GPy.kern.Matern52(inputs.shape[1], ARD=True)
        model = GPy.models.GPRegression(inputs, targets, kernel)
        kernel.variance.constrain_bounded(*_VARIANCE_BOUNDS, warning=False)
        # A prior also constrains its parameter to be positive (through log(1 + exp)).
        kernel.lengthscale.set_prior(GPy.priors.Gamma(*_LENGTHSCALE_PRIOR), warning=False)
        model.likelihood.variance.set_prior(GPy.priors.LogGaussian(*_NOISE_PRIOR), warning=False)
        return model

    def _set_hyperparameters(self, model, variance: float, lengthscales: np.ndarray,
                             noise: float) -> None:
        # Strictly inside the bounds: the bounded transform maps a bound to infinity.
        model.kern.variance = np.clip(variance, _VARIANCE_BOUNDS[0] * (1 + 1e-6),
                                      _VARIANCE_BOUNDS[1] * (1 - 1e-6))
        model.kern.lengthscale = lengthscales
        model.likelihood.variance = noise

    def _fitted_model(self, rng: np.random.Generator):
        """The GP on every told trial, its hyper-parameters refitted when due."""
        inputs, targets = self._training_data()
        model = self._build_model(inputs, targets)
        dimension = inputs.shape[1]
        due = (self._hyperparameters is None
               or len(self.history) - self._nb_observations_at_fit >= self.refit_every)
        if not due:
            model[:] = self._hyperparameters
            return model
        # From the defaults, from the previous fit, and from random points: the previous fit alone
        # can stay stuck in a poor optimum (e.g. everything explained as noise).
        starts = [np.concatenate(
            [[1.0], np.full(dimension, _DEFAULT_LENGTHSCALE), [_DEFAULT_NOISE]])]
        if self._hyperparameters is not None:
            starts.append(self._hyperparameters)
        for _ in range(self.nb_restarts):
            starts.append(np.concatenate([
                [math.exp(rng.uniform(math.log(0.2), math.log(5.0)))],
                np.exp(rng.uniform(math.log(0.05), math.log(2.0), size=dimension)),
                [math.exp(rng.uniform(math.log(1e-5), math.log(1e-1)))],
            ]))
        best_parameters, best_log_likelihood, last_error = None, -math.inf, None
        for start in starts:
            try:
                self._set_hyperparameters(model, start[0], start[1:-1], start[-1])
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    model.optimize("lbfgsb", max_iters=self.max_iterations)
                log_likelihood = float(model.log_likelihood() + model.log_prior())
            except Exception as error:  # noqa: BLE001  (a restart may fail; the others may not)
                last_error = error
                continue
            if math.isfinite(log_likelihood) and log_likelihood > best_log_likelihood \
                    and np.all(np.isfinite(model.param_array)):
                best_parameters, best_log_likelihood = model.param_array.copy(), log_likelihood
        if best_parameters is None:
            raise RuntimeError(f"every marginal-likelihood fit failed (last error: {last_error!r})")
        model[:] = best_parameters
        self._hyperparameters = best_parameters
        self._nb_observations_at_fit = len(self.history)
        return model

    # ------------------------------------------------------------ the acquisition
    def _snap(self, points: np.ndarray) -> np.ndarray:
        """Moves integer and categorical coordinates to the centre of their slice of ``[0, 1]``.

        That is where the told trials of those dimensions lie, so the acquisition is scored at
        the points that would actually be evaluated.
        """
        points = np.clip(points, 0.0, 1.0)
        for column in self._discrete_columns:
            dimension = self.space.dimensions[column]
            points[:, column] = [dimension.to_unit(dimension.from_unit(u))
                                 for u in points[:, column]]
        return points

    def _expected_improvement(self, model, points: np.ndarray, incumbent: float,
                              with_gradient: bool = False):
        mean, variance = model.predict_noiseless(points)
        mean, variance = mean[:, 0], np.maximum(variance[:, 0], 1e-12)
        deviation = np.sqrt(variance)
        improvement = mean - incumbent - self.exploration
        z = improvement / deviation
        cdf, pdf = stats.norm.cdf(z), stats.norm.pdf(z)
        value = improvement * cdf + deviation * pdf
        if not with_gradient:
            return value
        mean_gradient, variance_gradient = model.predictive_gradients(points)
        gradient = cdf[:, None] * mean_gradient[:, :, 0] \
            + pdf[:, None] * variance_gradient / (2 * deviation[:, None])
        return value, gradient

    def _maximise_expected_improvement(self, rng: np.random.Generator) -> np.ndarray:
        model = self._fitted_model(rng)
        inputs = model.X
        dimension = inputs.shape[1]
        # The incumbent is the best posterior mean at a told point rather than the best reward,
        # which a noisy evaluation may have inflated.
        incumbent = float(model.predict_noiseless(inputs)[0].max())

        candidates = [rng.uniform(size=(self.nb_candidates, dimension))]
        if self.nb_local_candidates:
            order = np.argsort(-model.Y[:, 0])[:_NB_LOCAL_CENTRES]
            centres = inputs[order][rng.integers(len(order), size=self.nb_local_candidates)]
            scales = np.exp(rng.uniform(*np.log(_LOCAL_SCALES), size=(self.nb_local_candidates, 1)))
            candidates.append(centres + scales * rng.standard_normal(centres.shape))
        candidates = self._snap(np.concatenate(candidates))
        scores = self._expected_improvement(model, candidates, incumbent)
        scores = np.nan_to_num(scores, nan=-np.inf)
        if not np.isfinite(scores).any():
            raise FloatingPointError("expected improvement is not finite at any candidate")
        best = int(np.argmax(scores))
        best_point, best_score = candidates[best], float(scores[best])

        def negative_expected_improvement(point):
            value, gradient = self._expected_improvement(model, point[None, :], incumbent, True)
            return -float(value[0]), -gradient[0]

        for start in np.argsort(-scores)[:self.nb_polish_starts]:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                result = scipy_optimize.minimize(
                    negative_expected_improvement, candidates[start], jac=True, method="L-BFGS-B",
                    bounds=[(0.0, 1.0)] * dimension, options={"maxiter": _POLISH_ITERATIONS})
            if not np.all(np.isfinite(result.x)):
                continue
            point = self._snap(result.x[None, :])
            score = float(self._expected_improvement(model, point, incumbent)[0])
            if math.isfinite(score) and score > best_score:
                best_point, best_score = point[0], score
        return best_point
