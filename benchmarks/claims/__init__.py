"""The parts of the paper-claims benchmark; ``benchmarks/paper_claims.py`` runs it.

One module a job, so the statistics and the report can be read and tested on
hand-made runs, apart from the hour-long pipeline runs that feed them:

- ``settings``: what every run is trained with, and how the report names it;
- ``running``: the logs, and one pipeline run per model and seed (or resumed);
- ``store``: the .json of raw figures, rewritten after every run;
- ``metrics``: which figures the report shows and the claims are judged on;
- ``stats``: one figure of a saved run, and its mean and spread over seeds;
- ``verdicts``: each claim of shared/specs/evaluation.md, judged;
- ``tables``: markdown tables and their "mean ± spread" cells;
- ``report``: the markdown report, section by section;
- ``timing``: each run's component wall times, from ML Metadata.

Its modules import each other relatively: the package is ``benchmarks.claims``
to the tests and ``claims`` to the script, whose folder is on ``sys.path``.
"""

import pipeline  # noqa: F401  (sets the TensorFlow environment first)
