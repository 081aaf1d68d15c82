"""What every stage spec is: its kind, id, resources, traits (class variables), inputs and output."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, NamedTuple

from pydantic import Field, model_validator

from schemas._base import Schema
from schemas.artifacts import ArtifactType
from schemas.names import StageId
from schemas.resources import Resources


class Curve(NamedTuple):
    """A training curve the report plots from a stage's TensorBoard scalars."""

    suffix: str
    """File name suffix of the plot (`<stage>-<suffix>.png`)."""
    tag: str
    """TensorBoard scalar tag."""
    label: str
    """Y axis label."""
    parts: str = ""
    """A glob of further tags drawn thinner beside `tag`, e.g. `train/rewards/*/mean` (the reward's parts)."""
    note: str = ""
    """What the curve tells a researcher, one sentence under the plot."""


class StageSpec(Schema):
    """What every stage has: its kind, an id unique in the recipe, and resources."""

    kind: str
    """The stage kind (each subclass narrows it to its own name)."""
    id: StageId
    """Unique name of the stage; later stages refer to its output by it."""
    resources: Resources = Resources()
    """Processes, strategy, accelerators (never part of the fingerprint)."""
    matrix: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    """Fan out into one branch per combination of values, e.g. `{lr: [1e-5, 1e-4]}`; stages that use
    this one fan out with it, and list inputs (evaluate's `models`) take every branch."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {}
    OUTPUT: ClassVar[ArtifactType]
    OUTPUTS: ClassVar[dict[str, ArtifactType]] = {}
    """Named outputs besides the main one (split: `mastered`, `injection`, `heldout`). Each is an artifact
    of its own, referenced as `<stage id>.<name>`, fingerprinted, planned and committed like any other; the
    stage writes each into `ctx.out/<name>/`, laid out like an artifact of its type."""
    NON_RESULT: ClassVar[frozenset[str]] = frozenset()
    DISTRIBUTED: ClassVar[bool] = False
    """Whether the stage can run as several processes (the training stages)."""
    INPUT_KINDS: ClassVar[dict[str, str]] = {}
    """Inputs that must come from one stage kind (a replay buffer exists only in a grpo output)."""
    INPUT_PATHS: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Where an input that is not a field of its own lies in the block (for located errors)."""
    VERSION: ClassVar[int] = 1
    """Version of the stage's code (`stages/<kind>.py`); part of every fingerprint of this kind. Bump it
    when that code changes what the stage produces: every cached output of the kind is redone."""
    LIGHT: ClassVar[bool] = False
    """The stage only moves files (no accelerator): on the cloud it rides on whatever machine is up."""
    SAMPLING: ClassVar[bool] = False
    """The stage samples from models and may use every GPU from one process (vLLM tensor parallelism)."""
    CURVES: ClassVar[tuple[Curve, ...]] = ()
    """Training curves the report plots for this stage."""
    REPLAY_CURVES: ClassVar[bool] = False
    """Without TensorBoard logs, the report draws reward and length curves from the stage's replay buffer."""
    METRICS_TABLE: ClassVar[bool] = False
    """The stage's `report.json` holds metrics per model (`models: {name: {accuracy, ...}}`): the report
    shows them as a table and an accuracy bar plot."""
    MEMORY: ClassVar[str | None] = None
    """The memory model the fit check estimates a training kind with (`sft` or `grpo`, sdk/fit/estimate.py);
    None for a kind that trains nothing. Every DISTRIBUTED kind needs one (the registry test checks)."""
    BATCH: ClassVar[tuple[str, str] | None] = None
    """A training kind's field that sizes the rows each step draws, and what it counts: `plan` warns when a
    dataset has fewer rows than one batch."""
    SHAPE_FROM: ClassVar[str | None] = None
    """For a kind whose output model has the architecture and shapes of one of its inputs (training: its
    `model`; a merge: its `models`), that input slot: plan-time checks (merges, chained models) follow it to
    the model whose files are known."""
    FORGETTING_TABLE: ClassVar[bool] = False
    """The stage's `report.json` holds learned / forgotten counts per model, with per-epoch histories, and
    `forgetting.png` plots them: the report shows both."""
    ATTRIBUTION: ClassVar[bool] = False
    """The report shows its `report.json` as a cognition attribution: fast / slow / reasoning gain per domain."""

    @model_validator(mode="after")
    def _processes_supported(self) -> StageSpec:
        if self.resources.processes > 1 and not self.DISTRIBUTED:
            raise ValueError(f"{self.kind} stages run as one process; only sft and grpo take resources.processes > 1")
        return self

    def non_result(self) -> frozenset[str]:
        """Dotted field paths that do not change the result (left out of the fingerprint)."""
        return self.NON_RESULT

    def outputs(self) -> dict[str, ArtifactType]:
        """This stage's named outputs: `OUTPUTS`, or more where the spec's own fields add some (partition's
        difficulty groups, one per `groups`)."""
        return self.OUTPUTS


def input_refs(spec: StageSpec) -> list[tuple[str, str]]:
    """The (slot, reference) pairs of a spec; a list field gives one slot per entry, keyed by name."""
    pairs: list[tuple[str, str]] = []
    for field in spec.INPUTS:
        value: Any = getattr(spec, field)
        if value is None:  # an optional input left out
            continue
        if isinstance(value, list):
            pairs.extend((f"{field}.{ref}", ref) for ref in value)
        else:
            pairs.append((field, value))
    return pairs
