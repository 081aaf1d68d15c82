"""pricing: $/hr per task from SkyPilot's catalog, a cost estimate, and the `budget` check.

The catalog is CSV files SkyPilot downloads on first use (cached in ~/.sky/catalogs). Offline,
pricing degrades to "unknown" with the reason, never a crash; a recipe with a `budget` then
refuses to launch, because a budget it cannot check protects nothing. The price function is a
parameter everywhere, so tests swap in a fake one.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from runners.skypilot.machines import Machine, is_light
from runners.skypilot.tasks import CloudTask
from schemas.skypilot import SkyPilotRunner
from sdk.errors import RecipeError

PRICE_CLOUDS = ("aws", "gcp", "azure", "lambda", "nebius", "runpod")
"""Clouds searched for the cheapest offer when a stage names none."""


class PriceUnavailable(Exception):
    """No price: SkyPilot missing, catalog not downloadable, or no offer for the machine."""


PriceFn = Callable[[Machine], float]
"""$/hr of ONE node of a machine; raises PriceUnavailable."""


def catalog_price(machine: Machine) -> float:
    """The cheapest $/hr of one node in SkyPilot's catalog (on-demand or spot, as the machine asks)."""
    try:
        from sky import catalog
    except ImportError:
        raise PriceUnavailable("SkyPilot is not installed here (pip install 'recipe[cloud]')") from None
    clouds = [machine.cloud] if machine.cloud else list(PRICE_CLOUDS)
    prices: list[float] = []
    errors: list[str] = []
    for cloud in clouds:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                prices += _cloud_prices(catalog, cloud, machine)
        except Exception as err:  # noqa: BLE001 - any catalog failure means "no price from this cloud"
            errors.append(f"{cloud}: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}")
    if prices:
        return min(prices)
    if errors:
        raise PriceUnavailable(f"SkyPilot's catalog is unavailable ({errors[0]})")
    raise PriceUnavailable(f"no offer for {machine.describe()} in the catalogs of {', '.join(clouds)}")


def _cloud_prices(catalog, cloud: str, machine: Machine) -> list[float]:  # noqa: ANN001 - sky.catalog
    if machine.accelerators:
        name, _, count = machine.accelerators.partition(":")
        offers = catalog.list_accelerators(gpus_only=False, name_filter=f"^{re.escape(name)}$",
                                           region_filter=machine.region, quantity_filter=int(float(count or 1)),
                                           clouds=cloud, case_sensitive=False)
        found = [o.spot_price if machine.use_spot else o.price for items in offers.values() for o in items]
        return [p for p in found if p is not None and not math.isnan(p) and p > 0]
    instance = catalog.get_default_instance_type(use_spot=machine.use_spot, region=machine.region, clouds=cloud)
    if instance is None:
        return []
    return [catalog.get_hourly_cost(instance, machine.use_spot, machine.region, None, clouds=cloud)]


@dataclass
class TaskCost:
    task: CloudTask
    hours: float
    node_price: float | None = None
    """$/hr of one node; None when unknown."""

    @property
    def per_hour(self) -> float | None:
        return None if self.node_price is None else self.node_price * self.task.machine.num_nodes

    @property
    def cost(self) -> float | None:
        return None if self.per_hour is None else self.per_hour * self.hours


@dataclass
class Estimate:
    lines: list[TaskCost]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float | None:
        costs = [line.cost for line in self.lines]
        return None if any(c is None for c in costs) else sum(costs)  # type: ignore[misc]


def stage_hours(runner: SkyPilotRunner, task: CloudTask) -> float:
    """Expected hours of a task: `hours` by stage id, then by kind; GPU stages default to `default_hours`."""
    total = 0.0
    for stage in task.group.stages:
        given = runner.hours.get(stage.id, runner.hours.get(stage.kind))
        total += given if given is not None else (0.0 if is_light(stage) else runner.default_hours)
    return total


def estimate(runner: SkyPilotRunner, tasks: list[CloudTask], price: PriceFn | None = None) -> Estimate:
    """Price each task (one catalog lookup per distinct machine); unknown prices become notes."""
    price = price or catalog_price
    known: dict[Machine, float | PriceUnavailable] = {}
    est = Estimate([])
    for task in tasks:
        machine = task.machine
        if machine not in known:
            try:
                known[machine] = float(price(machine))
            except PriceUnavailable as err:
                known[machine] = err
        found = known[machine]
        line = TaskCost(task, stage_hours(runner, task), None if isinstance(found, Exception) else found)
        est.lines.append(line)
    reasons = list(dict.fromkeys(str(v) for v in known.values() if isinstance(v, Exception)))
    est.notes += [f"no $/hr: {r}" for r in reasons]
    if not runner.hours:
        est.notes.append(f"hours are assumed ({runner.default_hours:g} h per GPU stage); "
                         "set runner.hours (by stage id or kind) for a real estimate")
    return est


def check_budget(runner: SkyPilotRunner, est: Estimate) -> None:
    """Raise RecipeError when the estimate exceeds `budget`, or when there is a budget but no estimate."""
    if runner.budget is None:
        return
    total = est.total
    if total is None:
        why = "; ".join(n for n in est.notes if n.startswith("no $/hr")) or "prices unknown"
        raise RecipeError(f"runner.budget is ${runner.budget:g} but the cost cannot be estimated ({why}); "
                          "refusing to launch. Run where SkyPilot's catalog can be fetched, or remove `budget:`")
    if total > runner.budget:
        raise RecipeError(f"estimated cost ${total:,.2f} exceeds runner.budget ${runner.budget:,.2f}; refusing to "
                          "launch (lower the resources or hours, or raise the budget)")
