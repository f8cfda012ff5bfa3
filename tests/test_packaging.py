"""The installed distribution: what it needs at run time, and its import names."""

import importlib.metadata as metadata
import re

import pytest

DISTRIBUTION = "esm2-tfx"
# The design card's folders, installed as top-level import packages (README,
# "Layout": why they are not nested under one package).
TOP_LEVEL = (
    "components",
    "evaluation",
    "kubeflow",
    "models",
    "pipeline",
    "serving",
    "synthetic",
    "transform",
)


def _runtime_requirements():
    """Names of the distribution's requirements outside any extra."""
    requirements = metadata.requires(DISTRIBUTION) or []
    return {
        re.split(r"[ ;<>=!\[~]", r, maxsplit=1)[0].lower()
        for r in requirements
        if "extra ==" not in r
    }


def test_what_the_report_imports_at_run_time_is_a_runtime_requirement():
    """matplotlib draws the report's plots; jinja2 renders its page."""
    assert {"matplotlib", "jinja2"} <= _runtime_requirements()


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_no_other_installed_distribution_provides_our_import_names(name):
    providers = set(metadata.packages_distributions().get(name, []))
    assert providers == {DISTRIBUTION}, (
        f"import package {name!r} is provided by {sorted(providers)}: another "
        "distribution in this environment would shadow ours or be shadowed"
    )
