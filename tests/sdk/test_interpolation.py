"""Plain `${vars.x}` references resolve without importing OmegaConf, to exactly what OmegaConf gives;
everything else still goes through OmegaConf."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from sdk.recipe.loader import _strings, plain_vars
from tests.conftest import ROOT

DOCS = [
    {"vars": {"lr": 1e-5, "n": 4, "name": "kk"}, "a": "${vars.lr}", "b": ["${vars.n}", "x"],
     "c": "run-${vars.name}-${vars.n}"},
    {"vars": {"cfg": {"min": 1, "ops": ["+", "-"]}}, "data": {"d": {"config": "${vars.cfg}"}}, "e": "${vars.cfg.ops}"},
    {"vars": {"gpu": {"accelerators": "H100:8"}},
     "stages": [{"resources": "${vars.gpu}"}, {"resources": "${vars.gpu}"}]},
    {"vars": {"f": 0.5, "s": "a b"}, "m": "alpha=${vars.f} ${vars.s}", "k": {"deep": [{"x": "${vars.f}"}]}},
]
FALLBACK = [
    {"vars": {"a": "${vars.b}", "b": 1}, "x": "${vars.a}"},  # a chain
    {"vars": {"a": 1}, "x": "${oc.env:HOME}"},  # another resolver
    {"vars": {"a": 1}, "x": "\\${vars.a}"},  # an escape
    {"vars": {"a": 1}, "x": "${vars.missing}"},  # OmegaConf reports it
    {"vars": {"a": {"b": 1}}, "x": "in ${vars.a}"},  # a mapping inside a string
    {"vars": {"a": True}, "x": "flag ${vars.a}"},
    {"x": "${vars.a}"},  # no vars at all
]


def _strings_with_refs(doc):
    return [(p, v) for p, v in _strings(doc, ()) if "${" in v]


@pytest.mark.parametrize("doc", DOCS)
def test_plain_references_resolve_as_omegaconf_does(doc):
    before = copy.deepcopy(doc)
    fast = plain_vars(doc, _strings_with_refs(doc))
    assert fast is not None and doc == before  # the document itself is left as it was
    assert fast == OmegaConf.to_container(OmegaConf.create(doc), resolve=True)
    assert type(fast["vars"]) is dict


@pytest.mark.parametrize("doc", FALLBACK)
def test_anything_else_is_left_to_omegaconf(doc):
    assert plain_vars(doc, _strings_with_refs(doc)) is None


def test_planning_the_quickstart_does_not_import_omegaconf():
    code = ("import sys; from sdk import api; r = api.load('recipes/quickstart.yaml'); api.compile(r); "
            "print('omegaconf' in sys.modules, r.cold_start.data)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False", "warmup"]
