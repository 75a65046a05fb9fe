"""Build hook: the tutorials in notebooks/ ship inside the package as kling_nb/tutorials/.

notebooks/*.ipynb stays the one source (strict nbval runs there); the wheel gets a copy
made at build time, so the repository never holds two versions of a notebook.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import FileError

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


class BuildWithTutorials(build_py):
    """build_py, plus notebooks/*.ipynb copied to kling_nb/tutorials/ in the build."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install finds notebooks/ in the checkout itself
        notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
        if not notebooks:
            raise FileError(f"no tutorials in {NOTEBOOKS}: the wheel would ship without them")
        target = Path(self.build_lib) / "kling_nb" / "tutorials"
        target.mkdir(parents=True, exist_ok=True)
        for notebook in notebooks:
            self.copy_file(str(notebook), str(target / notebook.name))


setup(cmdclass={"build_py": BuildWithTutorials})
