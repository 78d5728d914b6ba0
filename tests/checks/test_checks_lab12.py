"""Lab 12 checks: pass any correct answer, reject placeholders and plausible mistakes."""

import pytest

from raycourse.checks import lab12

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")


@pytest.fixture(scope="module")
def ray_data(ray_session):
    import ray

    return ray.data


# Exercise 1 requires (the lab's text, sentence by sentence; docs/checks.md counts these lists):
#   R1 `evens` the even numbers below 10: test_ex1_rejects_the_odd_numbers


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved():
    assert lab12.exercise_1.result(...).status == "not solved"


@pytest.mark.fast
def test_ex1_accepts_a_filter_and_a_range_with_a_step(ray_data):
    from ray.data.expressions import col

    assert lab12.exercise_1.result(ray_data.range(10).filter(expr=col("id") % 2 == 0)).passed
    assert lab12.exercise_1.result(ray_data.from_items([{"id": i} for i in range(0, 10, 2)])).passed


@pytest.mark.fast
def test_ex1_rejects_the_odd_numbers(ray_data):
    from ray.data.expressions import col

    verdict = lab12.exercise_1.result(ray_data.range(10).filter(expr=col("id") % 2 == 1))
    assert verdict.status == "wrong" and "% 2 == 0" in verdict.hint


# The stretch requires:
#   R1 `n_evens` the count of `evens`: test_stretch_rejects_another_count


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved():
    assert lab12.stretch.result(...).status == "not solved"


@pytest.mark.fast
def test_stretch_accepts_the_count():
    assert lab12.stretch.result(5).passed


@pytest.mark.fast
def test_stretch_rejects_another_count():
    assert lab12.stretch.result(10).status == "wrong"
