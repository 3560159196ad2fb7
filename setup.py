"""Build wiring for the optional C accelerator; all project metadata lives in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "anchor.core._sha256pairs",
            ["src/anchor/core/_sha256pairs.c"],
            # optional: a machine without a compiler still installs; anchor.core.merkle then runs
            # its pure-Python path.
            optional=True,
            extra_compile_args=["-O3"],
        )
    ],
)
