"""The public surface: a sorted __all__ whose names all exist."""

import kling_nb


def test_all_is_sorted_and_complete() -> None:
    assert kling_nb.__all__ == sorted(kling_nb.__all__)
    for name in kling_nb.__all__:
        assert getattr(kling_nb, name) is not None, name


def test_private_modules_are_not_exported() -> None:
    assert not [n for n in kling_nb.__all__ if n.startswith("_") and n != "__version__"]
