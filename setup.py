"""ESM2 on TFX: a production pipeline for entire-space conversion-rate models.

Install with ``make env`` (scripts/bootstrap.sh), which pins the TFX 1.16
stack through constraints.txt; a plain ``pip install -e .`` resolves for many
minutes without those pins.
"""

from setuptools import find_packages, setup

setup(
    name="esm2-tfx",
    version="0.1.0",
    description="ESM2 / ESMM conversion-rate models in a TFX pipeline",
    python_requires=">=3.9,<3.12",
    packages=find_packages(include=[
        "components", "components.*",
        "evaluation", "evaluation.*",
        "kubeflow", "kubeflow.*",
        "models", "models.*",
        "pipeline", "pipeline.*",
        "serving", "serving.*",
        "synthetic", "synthetic.*",
        "transform", "transform.*",
    ]),
    package_data={
        "pipeline": ["schema/*.pbtxt"],
        # The slice report's page: Jinja2 templates and its stylesheet.
        "evaluation.report": ["templates/*"],
    },
    install_requires=[
        "tfx[kfp]==1.16.0",
        "tensorflow==2.16.2",
        "tensorflow-transform==1.16.0",
        "tensorflow-model-analysis==0.47.1",
        "tensorflow-data-validation==1.16.1",
        "tensorflow-serving-api==2.16.1",
        "tf-keras==2.16.0",
        "apache-beam==2.60.0",
        "pyarrow==10.0.1",
        "numpy==1.26.4",
        "pandas",
        # The slice report's templates (evaluation/report); constraints.txt
        # pins the tested 3.1.6.
        "jinja2>=3.0,<4",
        # The slice report's plots (evaluation/report/plots.py) at run time.
        "matplotlib",
        "tqdm",
        "psutil",
    ],
    entry_points={"console_scripts": ["esm2 = pipeline.cli:main"]},
    extras_require={
        # deepctr: the public ESMM that benchmarks/peer_esmm.py compares with
        # (0.9.4 imports tensorflow.keras, i.e. tf_keras under
        # TF_USE_LEGACY_KERAS=1; it needs only requests and h5py besides).
        "dev": ["pytest", "scikit-learn", "kubernetes", "deepctr"],
    },
)
