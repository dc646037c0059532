"""Search strategies: which parameter combination to try next.

All three share one shape: `suggest(history)` returns the next combination (or None when
the search is over) and `tell(params, score)` reports a result. The history of finished
experiments is all a strategy needs to pick up after a restart: grid and random plans are
deterministic (random is seeded), and the Bayesian study is rebuilt from the finished
trials, so it resumes with what it had learnt.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from typing import Any

from servedeck.tuner.task import ContinuousSpec, IntegerSpec, Task, grid_size, values_of

Params = dict[str, Any]
WORST = math.inf  # failed experiments: lower is always better


def key(params: Params) -> str:
    return json.dumps(params, sort_keys=True)


def grid(task: Task) -> list[Params]:
    """The cartesian product in the real tool's order (itertools.product over the
    parameters as listed), cut to max_iterations."""
    names = list(task.parameters)
    combos = itertools.product(*(values_of(task.parameters[n]) for n in names))
    limit = task.optimization.max_iterations
    return [dict(zip(names, c)) for c in itertools.islice(combos, limit)]


class Strategy:
    name = "base"

    def __init__(self, task: Task) -> None:
        self.task = task

    @property
    def budget(self) -> int:
        """How many experiments the search runs at most."""
        raise NotImplementedError

    def suggest(self, history: list[Params]) -> Params | None:
        """The next combination given the ones already started (finished or running)."""
        raise NotImplementedError

    def tell(self, params: Params, score: float) -> None:
        """A finished experiment's score (inf when it failed)."""


class GridStrategy(Strategy):
    name = "grid_search"

    def __init__(self, task: Task) -> None:
        super().__init__(task)
        self.plan = grid(task)

    @property
    def budget(self) -> int:
        return len(self.plan)

    def suggest(self, history: list[Params]) -> Params | None:
        return self.plan[len(history)] if len(history) < len(self.plan) else None


class RandomStrategy(Strategy):
    """A seeded sample of the grid without repeats (continuous ranges drawn uniformly)."""

    name = "random"

    def __init__(self, task: Task) -> None:
        super().__init__(task)
        self.rng = random.Random(task.optimization.seed if task.optimization.seed is not None else 0)
        discrete = all(not isinstance(s, (ContinuousSpec, IntegerSpec)) for s in task.parameters.values())
        self.limit = task.optimization.max_iterations or (grid_size(task) if discrete else 20)
        if discrete:
            full = grid(task.model_copy(update={"optimization": task.optimization.model_copy(update={"max_iterations": None})}))
            self.plan = self.rng.sample(full, min(self.limit, len(full)))
        else:
            self.plan = [{n: _draw(self.rng, s) for n, s in task.parameters.items()} for _ in range(self.limit)]

    @property
    def budget(self) -> int:
        return len(self.plan)

    def suggest(self, history: list[Params]) -> Params | None:
        return self.plan[len(history)] if len(history) < len(self.plan) else None


def _draw(rng: random.Random, spec: Any) -> Any:
    if isinstance(spec, ContinuousSpec):
        if spec.log:
            return math.exp(rng.uniform(math.log(spec.low), math.log(spec.high)))
        return rng.uniform(spec.low, spec.high)
    if isinstance(spec, IntegerSpec):
        return rng.randrange(spec.low, spec.high + 1, spec.step)
    return rng.choice(values_of(spec))


class BayesianStrategy(Strategy):
    """Optuna's TPE sampler (direction minimize). Repeats of a tried combination are asked
    again, so every trial measures something new while untried combinations remain."""

    name = "bayesian"
    REASK = 30

    def __init__(self, task: Task) -> None:
        super().__init__(task)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        opt = task.optimization
        self.distributions = {n: _distribution(optuna, s) for n, s in task.parameters.items()}
        sampler = optuna.samplers.TPESampler(n_startup_trials=opt.n_initial_random, seed=opt.seed)
        self.study = optuna.create_study(direction="minimize", sampler=sampler,
                                         study_name=opt.study_name or task.task_name)
        self.limit = opt.max_iterations or 20
        self.told: set[str] = set()
        self.rng = random.Random(opt.seed if opt.seed is not None else 0)
        discrete = all(not isinstance(s, (ContinuousSpec, IntegerSpec)) for s in task.parameters.values())
        self.space = grid_size(task) if discrete else None

    @property
    def budget(self) -> int:
        return min(self.limit, self.space) if self.space else self.limit

    def suggest(self, history: list[Params]) -> Params | None:
        if len(history) >= self.budget:
            return None
        tried = {key(p) for p in history}
        for _ in range(self.REASK):
            trial = self.study.ask(self.distributions)
            params = dict(trial.params)
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)  # only asked; real results are added
            if key(params) not in tried:
                return params
        if self.space:  # TPE keeps proposing tried points: take an untried one at random
            untried = [p for p in grid(self.task.model_copy(update={"optimization": self.task.optimization.model_copy(
                update={"max_iterations": None})})) if key(p) not in tried]
            return self.rng.choice(untried) if untried else None
        return params

    def tell(self, params: Params, score: float) -> None:
        k = key(params)
        if k in self.told:
            return
        self.told.add(k)
        value = score if math.isfinite(score) else 1e30  # TPE needs a number; a failure is the worst
        trial = self.optuna.trial.create_trial(params=params, distributions=self.distributions, value=value)
        self.study.add_trial(trial)


def _distribution(optuna: Any, spec: Any) -> Any:
    dist = optuna.distributions
    if isinstance(spec, ContinuousSpec):
        return dist.FloatDistribution(float(spec.low), float(spec.high), log=spec.log)
    if isinstance(spec, IntegerSpec):
        return dist.IntDistribution(spec.low, spec.high, step=spec.step)
    return dist.CategoricalDistribution(values_of(spec))


def make(task: Task) -> Strategy:
    kind = task.optimization.kind
    if kind == "bayesian":
        return BayesianStrategy(task)
    if kind == "random":
        return RandomStrategy(task)
    return GridStrategy(task)
