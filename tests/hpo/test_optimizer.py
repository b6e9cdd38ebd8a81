"""The backend registry and the names the learners' flags accept."""

import pytest

from hpo.optimizer import BACKEND_NAMES, BACKENDS, Optimizer


def test_the_flag_choices_are_exactly_the_registered_backends():
    assert sorted(BACKEND_NAMES) == sorted(BACKENDS.names())


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_each_backend_is_imported_and_registered_when_first_asked_for(name):
    backend = BACKENDS.get(name)
    assert issubclass(backend, Optimizer) and BACKENDS.get(name) is backend


def test_an_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Expected one of: ddpg, gp, random, tpe"):
        BACKENDS.get("bayes")
