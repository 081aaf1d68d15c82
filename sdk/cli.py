"""`recipe`: the command line over `sdk.api`. Only the stdlib is imported until a command runs.

Each command is one `sdk.api` call and the printing of what it returned; the runner (`--runner`, else
the recipe's `runner.kind`) is resolved by the API through `sdk.registry.RUNNERS`.

Exit codes: 0 ok, 1 a stage failed, 2 the recipe or the command line is wrong, 130 interrupted,
141 the reader of the output went away (`recipe status | head`).
Set RECIPE_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sdk.registry import RUNNERS

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
"""The CLI uses no pydantic plugin, and looking for them scans every installed package's entry points at
the first schema built (a tenth of `recipe plan`); set the variable to empty to have them loaded."""

EXAMPLES = """examples:
  recipe validate recipes/pipeline-tiny.yaml
  recipe plan recipes/pipeline-tiny.yaml stages.sft.lr=1e-3      # what would run, and why
  recipe plan recipes/pipeline-tiny.yaml --expand                 # the stages as a pipeline recipe
  recipe apply recipes/pipeline-tiny.yaml                         # run what is not cached
  recipe apply recipes/pipeline-tiny.yaml --until sft --force sft
  recipe report --store runs                                       # plots + summary.md of the last apply
  recipe status
  recipe verify                                                   # hash every stored file against its manifest
  recipe gc recipes/*.yaml --dry-run                              # what removing unused artifacts would free
  recipe init --list                                              # the recipe kinds
  recipe init re-distill my-exp                                   # my-exp.yaml: a working, commented start
  recipe schema > schemas/recipe.schema.json                      # what editors read (shipped; kept in step)
  recipe apply recipes/re-distill.yaml --runner skypilot --dry-run   # SkyPilot task YAML (in the store), no launch
  recipe logs recipes/re-distill.yaml                             # cloud runs: logs, status, cancel
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recipe", description="Declarative post-training recipes for reasoning LLMs.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def recipe_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_, description=help_)
        c.add_argument("file", help="recipe YAML file")
        c.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="override a value (stages.sft.lr=1e-6, stages.0.epochs=2) or delete one (~key)")
        return c

    c = recipe_cmd("validate", "check a recipe and report every problem with its file:line:col")
    c.add_argument("--store", help="artifact store folder whose models merges are checked against (default: the "
                                   "recipe's `store:`)")
    runner_help = "where stages run (default: the recipe's `runner:`)"
    c = recipe_cmd("plan", "show the stages a recipe compiles to, and which are cached, new or changed")
    c.add_argument("--store", help="artifact store folder (default: the recipe's `store:`)")
    c.add_argument("--expand", action="store_true", help="print the equivalent `pipeline` recipe")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.add_argument("--runner", choices=list(RUNNERS), help=runner_help + "; skypilot shows machines and cost")
    c = recipe_cmd("apply", "run the stages the store does not have yet")
    c.add_argument("--store", help="artifact store folder (default: the recipe's `store:`)")
    c.add_argument("--runner", choices=list(RUNNERS), help=runner_help)
    c.add_argument("--out", help="skypilot --dry-run: folder for the task YAML (default: STORE/sky-tasks/NAME)")
    c.add_argument("--only", action="append", default=[], metavar="STAGE", help="run just this stage")
    c.add_argument("--until", action="append", default=[], metavar="STAGE",
                   help="run this stage and what it needs")
    c.add_argument("--force", action="append", default=[], metavar="STAGE", help="re-run even if cached")
    c.add_argument("--dry-run", action="store_true", help="show the plan, run nothing")
    c.add_argument("--jobs", "-j", type=int, metavar="N",
                   help="run up to N independent stages at once (local default: one per GPU, one on a CPU; "
                        "skypilot: managed jobs at once, default all that are ready)")
    c.add_argument("--detach", action="store_true",
                   help="skypilot: return once every job is launched instead of following them to the end")
    c = sub.add_parser("status", help="list applies and artifacts in a store, or a recipe's cloud jobs")
    c.add_argument("file", nargs="?", help="recipe file (its store, or its SkyPilot jobs)")
    c.add_argument("--store", help="artifact store folder (default: the recipe's, else ./runs)")
    c.add_argument("--runner", choices=list(RUNNERS), help=runner_help)
    c.add_argument("--json", action="store_true")
    c = sub.add_parser("logs", help="stream the logs of a recipe's latest run (its SkyPilot job, or the local apply)")
    c.add_argument("file", help="recipe file")
    c.add_argument("--runner", choices=list(RUNNERS), help=runner_help)
    c.add_argument("--no-follow", action="store_true", help="print what is there and return")
    c.add_argument("--task", metavar="STAGE",
                   help="only the job (skypilot) or stage (local) running this stage; default: all of them")
    c = sub.add_parser("cancel", help="cancel every running SkyPilot job of a recipe")
    c.add_argument("file", help="recipe file")
    c.add_argument("--runner", choices=list(RUNNERS), help=runner_help)
    c = sub.add_parser("report", help="plots (PNG) and a Markdown summary of the last apply in a store")
    c.add_argument("--store", default="./runs", help="artifact store folder (default: ./runs)")
    c.add_argument("--recipe", help="report this recipe's last apply (default: the last apply of any)")
    c.add_argument("--out", help="output folder (default: STORE/reports/NAME-TIME)")
    c = sub.add_parser("verify", help="hash every file of a store's artifacts against their manifests; "
                                      "mark the ones that differ broken, for the next apply to rebuild")
    c.add_argument("file", nargs="?", help="recipe file: check only the artifacts its stages make")
    c.add_argument("--store", help="artifact store folder (default: the recipe's, else ./runs)")
    c = sub.add_parser("gc", help="remove the artifacts no given recipe makes, and work folders nothing resumes")
    c.add_argument("files", nargs="+", metavar="FILE", help="the recipes whose artifacts to keep")
    c.add_argument("--store", help="artifact store folder (default: the recipes' `store:`)")
    c.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    c.add_argument("--yes", "-y", action="store_true", help="remove without asking")
    c = sub.add_parser("schema", help="print the JSON Schema of recipe files (for editor completion)")
    c = sub.add_parser("init", help="write a new recipe of a kind: its tiny twin's values, commented, ready to run")
    c.add_argument("kind", nargs="?", help="recipe kind (see --list)")
    c.add_argument("name", nargs="?", help="recipe name (default: the kind); the file is NAME.yaml")
    c.add_argument("--list", action="store_true", help="name every recipe kind with one line each")
    c.add_argument("-o", "--out", help="file to write (default: ./NAME.yaml)")
    c.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    bad = [x for x in extra if x.startswith("-") or not hasattr(args, "overrides") or ("=" not in x and x[0] != "~")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    if extra:
        args.overrides = [*args.overrides, *extra]  # overrides may come after options too
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's shutdown
        return code
    except BrokenPipeError:  # `recipe status | head`: the reader has what it wanted
        _silence_stdout()
        return 128 + 13  # what the shell reports for a tool ended by SIGPIPE
    except KeyboardInterrupt:
        print("\ninterrupted; finished stages are kept, run the same apply again to resume", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the edge: known errors become one line
        if os.environ.get("RECIPE_DEBUG"):
            raise
        return _report(err)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain about the pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _report(err: Exception) -> int:
    code = _report_error(err)
    for note in getattr(err, "__notes__", []):
        print(f"note: {note}", file=sys.stderr)
    return code


def _report_error(err: Exception) -> int:
    from sdk.errors import RecipeError, StageFailed, StoreError

    if isinstance(err, RecipeError):
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if isinstance(err, StageFailed):
        for o in err.outcomes:  # every branch's outcome: a failure stops only what depends on it
            why = f": {o.reason}" if o.reason else ""
            print(f"  {o.id}: {o.state}{why}", file=sys.stderr)
    if isinstance(err, (StageFailed, StoreError)):  # the recipe is fine: exit 1, not 2
        print(f"error: {err}", file=sys.stderr)
        return 1
    if type(err).__name__ == "CloudError":  # a runner's cloud API refused or is unreachable
        print(f"error: {err}", file=sys.stderr)
        return 1
    if isinstance(err, OSError) and err.filename:
        print(f"error: {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 1
    print(f"error: {type(err).__name__}: {err} (set RECIPE_DEBUG=1 for the traceback)", file=sys.stderr)
    return 1


def _validate(args: argparse.Namespace) -> int:
    from sdk import api

    recipe = api.load(args.file, args.overrides)
    plan = _compiled(recipe)
    api.check(plan, args.store)
    print(f"{args.file}: ok ({recipe.recipe} recipe {recipe.name!r}, {len(plan.stages)} stages)")
    return 0


def _compiled(recipe: Any) -> Any:
    """The recipe's plan, after printing its warnings (a dataset smaller than one batch)."""
    from sdk import api

    plan = api.compile(recipe)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return plan


def _plan(args: argparse.Namespace) -> int:
    from sdk import api

    recipe = api.load(args.file, args.overrides)
    if args.expand:
        import yaml

        print(yaml.safe_dump(api.expand(recipe), sort_keys=False, width=100), end="")
        return 0
    from sdk.fit.check import check, locator, memory_json, print_fits

    plan = _compiled(recipe)
    planned = api.plan(plan, args.store, runner=args.runner, **_selection(args))
    if planned.estimate is not None:
        _runner_view(planned.runner).print_plan(planned, recipe, args.json, sys.stdout)
    elif args.json:
        print(json.dumps({"name": planned.plan.name, "stages": [s.to_json() for s in planned],
                          "memory": memory_json(planned.memory)}, indent=2))
    else:
        _print_plan(planned.plan, list(planned), planned.where)
        _print_schedule(planned.schedule)
    if not args.json:
        print_fits(planned.memory, sys.stdout)
    check(planned.memory, locator(recipe))  # after showing them: refuse a stage that does not fit
    return 0


def _print_schedule(schedule: Any) -> None:
    """The waves of stages that can run together (`apply --jobs N` runs up to N at once)."""
    if schedule is None or schedule.widest < 2:
        return
    print(f"schedule: {len(schedule.waves)} steps, up to {schedule.widest} stages at once "
          f"(apply --jobs {schedule.widest}; each stage starts as soon as its inputs are committed)")
    for n, wave in enumerate(schedule.waves, 1):
        print(f"  {n}. {', '.join(wave)}")


def _runner_view(kind: str) -> Any:
    """The runner class that prints its own plan, apply and status (the CLI imports no runner)."""
    from sdk.registry import load_runner

    return load_runner(kind)


def _selection(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """--only/--until/--force as given to `apply` (a dry run previews exactly them; `plan` has none)."""
    return {k: tuple(getattr(args, k, None) or ()) for k in ("only", "until", "force")}


def _print_plan(plan: Any, statuses: list[Any], store: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    colors = {"cached": "green", "new": "yellow", "changed": "magenta", "forced": "red"}
    table = Table(title=f"plan {plan.name} (store {store})", title_justify="left")
    for col in ("stage", "kind", "inputs", "key", "status"):
        table.add_column(col, overflow="fold")
    for s in statuses:
        state = f"[{colors[s.state]}]{s.state}[/]"
        if s.changes:
            state += "\n" + escape("\n".join(s.changes))
        inputs = ", ".join(dict.fromkeys(dep for _, dep in s.stage.inputs))
        table.add_row(escape(s.stage.id), s.stage.kind, escape(inputs), s.stage.key[:12], state)
    _console().print(table)
    todo = sum(s.state != "cached" for s in statuses)
    print(f"{todo} of {len(statuses)} stages to run" if todo else "everything is cached")
    for line in hub_checks(plan):
        print(f"note: {line}")


def hub_checks(plan: Any) -> list[str]:
    """What plan cannot read of a hub model (its config is not here) and the stage checks when it loads it."""
    users: dict[str, list[str]] = {}
    for stage in plan.stages:
        for slot, dep in stage.inputs:  # a dep may be a stage's named output (`split.injection`)
            source = plan.producer(dep)
            model = getattr(source.spec, "model", None) if source.kind == "model" else None
            if slot == "reward_model" and getattr(model, "origin", None) == "hub":
                users.setdefault(dep, []).append(stage.id)
    return [f"reward model {dep!r} ({plan[dep].spec.model.source}) is a hub model: {', '.join(ids)} check that "
            "it is a sequence classifier with one output when they load it" for dep, ids in users.items()]


def _console() -> Any:
    """A rich console; piped or captured output is not folded at 80 columns (stage ids stay whole)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def _apply(args: argparse.Namespace) -> int:
    from sdk import api
    from sdk.run.display import Display

    recipe = api.load(args.file, args.overrides)
    result = api.apply(_compiled(recipe), store=args.store, runner=args.runner, **_selection(args),
                       dry_run=args.dry_run, out=args.out, display=Display(), jobs=_jobs(args.jobs),
                       detach=args.detach)
    if result.runner != "local":
        return _runner_view(result.runner).print_apply(result, recipe, args.file, sys.stdout)
    store = args.store or result.plan.store
    if result.dry_run:
        _print_plan(result.plan, result.preview, store)
        return 0
    ran = [o for o in result.outcomes if o.state == "ran"]
    print(f"done: {len(ran)} ran, {len(result.outcomes) - len(ran)} cached; store {store}")
    for o in result.outcomes:
        if result.plan[o.id].spec.METRICS_TABLE and o.path:
            _print_report(o.id, o.path)
    for o in result.outcomes:
        if result.plan[o.id].spec.FORGETTING_TABLE and o.path:
            _print_forgetting(o.id, o.path)
    _print_attribution([o.path for o in result.outcomes if result.plan[o.id].spec.ATTRIBUTION and o.path])
    if ran:  # plots and a summary of what just ran (a fully cached apply stays instant)
        from sdk.report.write import verdict_lines, write_report

        folder = write_report(store, result.plan.name)
        print(f"report: {folder / 'report.html'} (plots inline; also {folder / 'summary.md'})")
        for line in verdict_lines(folder):
            print(f"  {line}")
    return 0


def _jobs(jobs: int | None) -> int | None:
    if jobs is not None and jobs < 1:
        from sdk.errors import RecipeError

        raise RecipeError(f"--jobs {jobs}: give at least 1")
    return jobs


def _print_attribution(paths: list[str]) -> None:
    """The cognition attribution of every model the apply attributed, one row each."""
    if not paths:
        return
    from rich.table import Table

    from sdk.report.attribution import OVERALL_HEAD, overall_rows

    table = Table(title="cognition attribution (± one standard error over questions)", title_justify="left")
    for index, name in enumerate(OVERALL_HEAD):
        table.add_column(name, justify="left" if index == 0 else "right")
    for row in overall_rows([json.loads((Path(p) / "report.json").read_text()) for p in paths]):
        table.add_row(*row)
    _console().print(table)


def _print_forgetting(stage_id: str, path: str) -> None:
    """A forgetting stage's learned / forgotten counts per model, and each model's counts per epoch."""
    from rich.markup import escape
    from rich.table import Table

    from sdk.report.forgetting import FORGETTING_HEAD, epoch_lines, forgetting_note, forgetting_rows

    report = json.loads((Path(path) / "report.json").read_text())
    table = Table(title=escape(f"{stage_id}: learned and forgotten questions"), title_justify="left")
    for index, name in enumerate(FORGETTING_HEAD):
        table.add_column(name, justify="left" if index == 0 else "right")
    for row in forgetting_rows(report):
        table.add_row(*map(escape, row))
    _console().print(table)
    for line in epoch_lines(report):
        _console().print(escape(line), highlight=False)
    _console().print(escape(forgetting_note(report)), style="dim", highlight=False)


def _print_report(stage_id: str, path: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from sdk.report.write import COUNTS, eval_columns, eval_note

    report = json.loads((Path(path) / "report.json").read_text())
    rows = report.get("models", {})
    if not rows:
        return
    cols = eval_columns(next(iter(rows.values())))
    table = Table(title=escape(f"{stage_id} on {report.get('data', 'the test set')}"), title_justify="left")
    table.add_column("model", overflow="fold")
    for _, name in cols:
        table.add_column(name, justify="right")
    for name, metrics in rows.items():
        table.add_row(escape(name), *("" if metrics.get(key) is None else str(int(metrics[key])) if key in COUNTS
                                      else f"{metrics[key]:.3g}" for key, _ in cols))
    _console().print(table)
    _console().print(escape(eval_note(report)), style="dim", highlight=False)
    _print_paired(stage_id, Path(path), list(rows))


def _print_paired(stage_id: str, folder: Path, order: list[str]) -> None:
    """The paired differences under the metrics table: which gaps between models are beyond the noise."""
    from rich.markup import escape
    from rich.table import Table

    from sdk.report.paired import PAIRED_HEAD, PAIRED_NOTE, paired_rows, read_comparisons

    found = read_comparisons(folder, order)
    if not found:
        return
    table = Table(title=escape(f"{stage_id}: paired differences"), title_justify="left")
    for i, name in enumerate(PAIRED_HEAD):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in paired_rows(found):
        table.add_row(*map(escape, row))
    _console().print(table)
    _console().print(escape(PAIRED_NOTE), style="dim", highlight=False)


def _status(args: argparse.Namespace) -> int:
    from sdk import api
    from sdk.report.status import recipe_lines, store_lines

    recipe = api.load(args.file) if args.file else None
    info = api.status(args.store, recipe=recipe, runner=args.runner)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    if info["runner"] != "local":
        return _runner_view(info["runner"]).print_status(info, sys.stdout)
    if recipe is None:
        print("\n".join(store_lines(info)))
        return 0
    plan = api.compile(recipe)
    print("\n".join(recipe_lines(plan, list(api.plan(plan, args.store, runner="local")), info)))
    return 0


def _logs(args: argparse.Namespace) -> int:
    from sdk import api

    return api.logs(api.load(args.file), runner=args.runner, follow=not args.no_follow, task=args.task)


def _cancel(args: argparse.Namespace) -> int:
    from sdk import api

    done = api.cancel(api.load(args.file), runner=args.runner)
    if done.get("cancelled"):
        names = ", ".join(done.get("names") or [done["job"]])
        print(f"cancelled {len(done['cancelled'])} managed job(s) of {done['job']} "
              f"(id {', '.join(map(str, done['cancelled']))}): {names}")
    for cluster in done.get("down", []):
        print(f"took down cluster {cluster}")
    if not done.get("cancelled") and not done.get("down"):
        print(done.get("note") or f"nothing running for {done.get('job')}")
    return 0


def _report_cmd(args: argparse.Namespace) -> int:
    from sdk.report.write import verdict_lines, write_report

    out = write_report(args.store, args.recipe, args.out)
    print(f"report: {out / 'report.html'} (open it in a browser; the plots are inline)")
    print(f"  {out / 'summary.md'}")
    for png in sorted(out.glob("*.png")):
        print(f"  {png}")
    for line in verdict_lines(out):
        print(line)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from sdk import api
    from sdk.run import upkeep

    recipe = api.load(args.file) if args.file else None
    with Progress("verify", BarColumn(), DownloadColumn(), TimeRemainingColumn(), transient=True,
                  console=_console_err()) as bar:
        task = bar.add_task("verify", total=None)
        found = api.verify(recipe, store=args.store, progress=lambda n: bar.advance(task, n))
    broken = [v for v in found if v.broken]
    for v in broken:
        print(f"broken: {v.stage} ({v.key[:12]}): {v.broken}")
    size = upkeep.human_bytes(sum(v.bytes for v in found))
    if broken:
        print(f"{len(broken)} of {len(found)} artifacts broken ({size} checked); they are marked: the next "
              "`recipe apply` rebuilds them and what was built from them")
        return 1
    print(f"{len(found)} artifacts intact ({size} hashed)" if found else "no artifacts to verify")
    return 0


def _gc(args: argparse.Namespace) -> int:
    from sdk import api
    from sdk.errors import RecipeError
    from sdk.run import upkeep

    recipes = [api.load(f) for f in args.files]
    found = api.gc(recipes, store=args.store, dry_run=True)
    if not found:
        print("nothing to remove")
        return 0
    for item in found:
        print(f"  {upkeep.human_bytes(item.bytes):>9}  {item.path}  ({item.why})")
    total = upkeep.human_bytes(sum(item.bytes for item in found))
    if args.dry_run:
        print(f"would free {total} ({len(found)} folders); nothing removed (--dry-run)")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise RecipeError(f"gc would remove {len(found)} folders ({total}); pass --yes to remove them")
        if input(f"remove these {len(found)} folders ({total})? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 0
    freed = upkeep.collect(found)
    print(f"freed {upkeep.human_bytes(freed)} ({len(found)} folders)")
    return 0


def _console_err() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _schema(args: argparse.Namespace) -> int:
    from sdk.recipe.json_schema import schema_text

    print(schema_text(), end="")  # byte for byte the shipped file (its REGENERATE command is this one)
    return 0


def _init(args: argparse.Namespace) -> int:
    from sdk import api

    if args.list or not args.kind:
        kinds = api.kinds()
        width = max(map(len, kinds))
        for kind, about in kinds.items():
            print(f"{kind:<{width}}  {about}")
        return 0
    path = api.init(args.kind, args.name, args.out, force=args.force)
    print(f"wrote {path}; next: recipe plan {path}")
    return 0


COMMANDS = {"validate": _validate, "plan": _plan, "apply": _apply, "status": _status, "logs": _logs,
            "cancel": _cancel, "report": _report_cmd, "verify": _verify, "gc": _gc, "schema": _schema,
            "init": _init}

if __name__ == "__main__":
    sys.exit(main())
