"""The backend registry and the names the learners' flags accept."""

from hpo.optimizer import BACKEND_NAMES, BACKENDS


def test_the_flag_choices_are_exactly_the_registered_backends():
    import hpo.backends  # noqa: F401  (registers the backends)

    assert sorted(BACKEND_NAMES) == sorted(BACKENDS.names())
