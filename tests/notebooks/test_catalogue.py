"""The course catalogue (raycourse/catalogue.py) and what every module of it must have where the course looks.

A module is declared by its files' names alone (``python -m raycourse.authoring new-module NN "Title"`` writes them):
these tests fail when one lacks a file or an entry it needs, and say which."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from raycourse import catalogue
from raycourse.errors import CourseError

ROOT = Path(__file__).resolve().parents[2]
MODULES = catalogue.modules(ROOT)


def test_the_catalogue_reads_every_module_from_the_files_names():
    assert [m.number for m in MODULES] == [f"{n:02d}" for n in range(len(MODULES))]
    vit = catalogue.module("5", ROOT)
    assert (vit.name, vit.label) == ("05_vit_fine_tuning", "05 · vit fine tuning")
    assert vit.lesson == ROOT / "notebooks" / "05_vit_fine_tuning.ipynb"
    assert vit.lab == ROOT / "labs" / "05_vit_fine_tuning_lab.ipynb"
    assert vit.solution == ROOT / "solutions" / "05_vit_fine_tuning_lab.ipynb"
    assert (vit.checks, vit.quiz, vit.lesson_checks) == ("raycourse.checks.lab05", "raycourse.checks.quiz05", None)
    assert catalogue.module("00", ROOT).checks is None and not catalogue.module("00", ROOT).has_lab
    assert catalogue.notebook_of_checks("raycourse.checks.lesson07", ROOT) == catalogue.module("07", ROOT).lesson
    assert catalogue.notebook_of_checks("raycourse.checks.lab03", ROOT) == catalogue.module("03", ROOT).lab
    assert [
        catalogue.number_of(x)
        for x in (
            "notebooks/05_vit_fine_tuning.ipynb",
            "05_vit_fine_tuning_lab.ipynb",
            "raycourse.checks.lab05",
            "lesson07",
            "5",
            "quiz05",
            "abc",
        )
    ] == ["05", "05", "05", "07", "05", None, None]


def test_one_find_lab_takes_a_number_or_a_lab_name():
    lab = catalogue.module("03", ROOT).lab
    assert catalogue.find_lab("3", ROOT) == catalogue.find_lab("03", ROOT) == lab
    assert catalogue.find_lab("labs/03_image_generation_lab.ipynb", ROOT) == lab
    assert catalogue.find_lab("03_image_generation_lab", ROOT) == lab
    with pytest.raises(CourseError, match="There is no lab '00'"):  # module 00 has no lab
        catalogue.find_lab("00", ROOT)


def test_an_unknown_module_says_which_there_are_and_how_to_start_one():
    with pytest.raises(CourseError) as caught:
        catalogue.module("42", ROOT)
    message = str(caught.value)
    assert "There is no module '42'" in message and "00, 01" in message and "new-module" in message


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_every_module_has_its_lesson_quiz_and_lab_files(module):
    assert module.lesson.is_file(), f"{module.name} has no lesson {module.lesson.relative_to(ROOT)}"
    assert module.quiz, f"{module.name} has no quiz raycourse/checks/quiz{module.number}.py"
    if module.number == "00":  # the environment check: a lesson without a lab
        return
    for path in (module.solution, module.lab, module.check_tests):
        assert path.is_file(), f"{module.name} has no {path.relative_to(ROOT)}"
    assert module.checks, f"{module.name} has no checks raycourse/checks/lab{module.number}.py"
    assert f"from raycourse.checks import lab{module.number} as check" in module.solution.read_text()


def test_every_checks_quiz_and_check_test_file_belongs_to_a_module():
    numbers = {m.number for m in MODULES}
    files = sorted((ROOT / "raycourse" / "checks").glob("*.py")) + sorted(
        (ROOT / "tests" / "checks").glob("test_checks_*.py")
    )
    for path in files:
        match = re.fullmatch(r"(?:test_checks_)?(?:lab|lesson|quiz)(\d\d)\.py", path.name)
        if match:
            assert match.group(1) in numbers, (
                f"{path.relative_to(ROOT)} names module {match.group(1)}, which has no lesson in notebooks/"
            )


def _roles_loaded(module) -> set[str]:
    """The model roles a lesson names in ``raycourse.model_id("role")`` (module 00 loads every role in a loop)."""
    return (
        set(re.findall(r'raycourse\.model_id\(\\?"(\w+)', module.lesson.read_text()))
        if module.lesson.is_file()
        else set()
    )


def _loads_a_model(module) -> bool:
    return module.lesson.is_file() and "raycourse.model_id(" in module.lesson.read_text()


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_every_module_has_its_facts_and_they_say_what_its_notebooks_say(module):
    """modules/NN_slug.toml: its minutes are its notebooks' Estimated time; its roles are the models its lesson
    loads; a module with roles has its full-size stages (or why not) and its two-node build."""
    facts = module.facts  # a missing or malformed file is a CourseError naming the file and the field
    assert facts.lesson_minutes == _estimated_minutes(module.lesson), f"{module.facts_file.name}: minutes.lesson"
    if module.has_lab:
        assert facts.lab_minutes == _estimated_minutes(module.solution), f"{module.facts_file.name}: minutes.lab"
    assert facts.loads_a_model == _loads_a_model(module), f"{module.facts_file.name}: roles {facts.roles}"
    assert _roles_loaded(module) <= set(facts.roles), f"{module.facts_file.name}: roles lack {_roles_loaded(module)}"


def _estimated_minutes(path: Path) -> int:
    return int(re.search(r"Estimated time:\*\* (\d+) minutes", path.read_text()).group(1))


def test_every_facts_file_belongs_to_a_module():
    names = {m.name for m in MODULES}
    for path in sorted((ROOT / "modules").glob("*.toml")):
        assert path.stem in names, f"modules/{path.name} names no module (its lesson is notebooks/{path.stem}.ipynb)"


def test_a_bad_facts_file_is_an_error_that_names_the_file_and_the_field(tmp_path):
    good = catalogue.module("04", ROOT).facts_file.read_text()
    path = tmp_path / "04_llm_prompt_enhancement.toml"
    for broken, said in (
        (good.replace("lesson = 30", 'lesson = "30"'), "minutes.lesson must be a int"),
        (good.replace('roles = ["llm", "image_gen"]', 'roles = ["llm", "painter"]'), "['painter'] are not model"),
        (good.replace("[fullsize]", "[fullsize_]"), "name its stages in [fullsize]"),
        (good.replace("title =", "title"), "not valid TOML"),
    ):
        path.write_text(broken)
        with pytest.raises(CourseError, match=re.escape(said)) as caught:
            catalogue.read_facts(path)
        assert path.name in str(caught.value)
    with pytest.raises(CourseError, match="is missing: every module has its facts file"):
        catalogue.read_facts(tmp_path / "missing.toml")


def test_every_lesson_that_loads_a_model_has_its_full_size_stages_and_its_two_node_build():
    """make verify-gpu measures each such module's models (a stage, or a reason in its facts' no_stage); the two-node
    rehearsal (tests/notebooks/test_two_nodes.py) knows what each builds on one GPU: both from the modules' facts."""
    from raycourse.fullsize import stages, verify

    loading = {m.number for m in MODULES if _loads_a_model(m)}
    staged = {stage.module for stage in verify.STAGES}
    assert [(s.module, s.name) for s in verify.STAGES] == [(m.number, n) for m in MODULES for n in m.facts.stages]
    assert verify.NO_STAGE == {m.number: m.facts.no_stage for m in MODULES if m.facts.no_stage}
    assert not staged & set(verify.NO_STAGE), "a module with stages and a no_stage"
    lacking = loading - staged - set(verify.NO_STAGE)
    assert not lacking, f"module(s) {sorted(lacking)} load a model: name its stages in its facts (or no_stage)"
    for stage in verify.STAGES:  # a stage loads only models its module's lesson uses
        facts = catalogue.module(stage.module, ROOT).facts
        assert set(stage.roles) <= set(facts.roles), (stage.module, stage.name, stage.roles, facts.roles)
    assert set(stages.STAGE_RUNS) == {s.name for s in verify.STAGES}, "a stage no module's facts name"
    import test_two_nodes  # every folder of tests/ is on the path (tests/conftest.py)

    assert set(test_two_nodes.BUILDS) == loading, (
        f"the facts' [two_node] of every lesson that loads a model, by module number ({sorted(loading)})"
    )


def test_a_stage_a_facts_file_names_must_exist(tmp_path):
    from raycourse.fullsize import stages

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "modules").mkdir()
    (tmp_path / "notebooks" / "03_image_generation.ipynb").write_text("{}")
    facts = catalogue.module("03", ROOT).facts_file.read_text().replace('"image_gen, VAE not', '"image_gen, VAE un')
    (tmp_path / "modules" / "03_image_generation.toml").write_text(facts)
    with pytest.raises(CourseError, match="names the stage 'image_gen, VAE un sliced'"):
        stages.course_stages(tmp_path)
    assert [s.name for s in stages.course_stages(ROOT)][:2] == ["load image_gen", "load llm"]


@pytest.mark.parametrize("module", [m for m in MODULES if m.has_lab], ids=lambda m: m.name)
def test_every_check_test_file_marks_itself_tiny_only(module):
    """The checks' tests run on the sample data and the stand-ins: make test-gpu skips them (root conftest.py)."""
    files = [module.check_tests] + (
        [ROOT / "tests" / "checks" / f"test_checks_lesson{module.number}.py"] if module.lesson_checks else []
    )
    for path in files:
        assert re.search(r"^pytestmark = pytest\.mark\.tiny_only\(", path.read_text(), re.M), (
            f'{path.relative_to(ROOT)}: add pytestmark = pytest.mark.tiny_only("why") below its imports'
        )
