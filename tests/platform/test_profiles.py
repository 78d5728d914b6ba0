"""Profiles, model roles, overrides and data roles resolve as documented."""

from pathlib import Path

import pytest

import raycourse
from raycourse import config, data, models
from raycourse.errors import CourseError


def test_profile_default_follows_the_hardware(course_env):
    course_env.delenv("RAYCOURSE_PROFILE")
    expected = "gpu" if config.gpu_count() else "tiny"
    assert raycourse.profile() == expected


@pytest.mark.parametrize("value, expected", [("tiny", "tiny"), ("gpu", "gpu"), (" tiny ", "tiny")])
def test_profile_from_environment(course_env, value, expected):
    course_env.setenv("RAYCOURSE_PROFILE", value)
    assert raycourse.profile() == expected


def test_unknown_profile_says_what_to_do(course_env):
    course_env.setenv("RAYCOURSE_PROFILE", "laptop")
    with pytest.raises(CourseError, match="Unknown profile 'laptop'") as err:
        raycourse.profile()
    assert "RAYCOURSE_PROFILE" in err.value.fix and "tiny" in err.value.fix


def test_a_profile_in_capitals_is_refused_with_its_name_in_lower_case(course_env):
    """The guides name the profiles in lower case (`tiny`, `gpu`), and so does every file that sets them."""
    course_env.setenv("RAYCOURSE_PROFILE", "GPU")
    with pytest.raises(CourseError, match="Unknown profile 'GPU' in RAYCOURSE_PROFILE") as err:
        raycourse.profile()
    assert "one of tiny, gpu (lower case: gpu)" in err.value.fix


def test_tiny_profile_resolves_to_local_standins(course_env, tmp_path):
    course_env.setenv("RAYCOURSE_CACHE", str(tmp_path))
    path = Path(raycourse.model_id("llm"))
    assert path.is_dir() and path.is_relative_to(tmp_path)
    assert (path / "config.json").exists()
    assert raycourse.model_id("llm") == str(path)  # cached: the second call reuses it


def test_gpu_profile_resolves_to_the_seed_models(course_env):
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    assert {r: raycourse.model_id(r, check=False) for r in config.MODEL_ROLES} == {
        "image_gen": "stabilityai/sdxl-turbo",
        "llm": "Qwen/Qwen2.5-0.5B-Instruct",
        "vit": "google/vit-base-patch16-224-in21k",
        "clip": "openai/clip-vit-base-patch32",
        "speech": "openai/whisper-tiny",
    }


def test_override_wins_in_both_profiles(course_env, tmp_path):
    course_env.setenv("RAYCOURSE_MODEL_LLM", str(tmp_path))
    for profile in config.PROFILES:
        course_env.setenv("RAYCOURSE_PROFILE", profile)
        assert raycourse.model_id("llm") == str(tmp_path)
    assert "RAYCOURSE_MODEL_LLM" in models.describe("llm")
    course_env.setenv("RAYCOURSE_MODEL_LLM", "Qwen/Qwen2.5-1.5B-Instruct")
    assert raycourse.model_id("llm", check=False) == "Qwen/Qwen2.5-1.5B-Instruct"


def test_override_to_a_missing_path_is_an_error(course_env, tmp_path):
    course_env.setenv("RAYCOURSE_MODEL_CLIP", str(tmp_path / "nope"))
    with pytest.raises(CourseError, match="does not exist") as err:
        raycourse.model_id("clip")
    assert "RAYCOURSE_MODEL_CLIP" in err.value.fix


def test_uncached_model_names_the_model_and_make_prefetch(course_env, tmp_path):
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    course_env.setenv("HF_HUB_OFFLINE", "1")
    course_env.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as hub_constants

    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    course_env.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CourseError, match="Qwen/Qwen2.5-0.5B-Instruct") as err:
        raycourse.model_id("llm")
    assert "make prefetch" in err.value.fix


def test_unknown_roles_are_errors(course_env):
    with pytest.raises(CourseError, match="Unknown model role"):
        raycourse.model_id("whisper")
    with pytest.raises(CourseError, match="Unknown data role"):
        raycourse.data_path("weather")


def test_data_roles_resolve_to_bundled_files_in_tiny(course_env):
    for role in data.DATA_ROLES:
        resolved = raycourse.data_path(role)
        for path in resolved if isinstance(resolved, list) else [resolved]:
            assert Path(path).exists(), (role, path)


def test_data_roles_use_public_locations_in_gpu(course_env):
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    assert all(p.startswith("s3://") for p in raycourse.data_path("images_train"))
    assert raycourse.data_path("embedding_images").startswith("s3://")
    assert Path(raycourse.data_path("animals")).exists()  # the course's own table in both profiles
    assert Path(raycourse.data_path("labels")).name == "imagenette_labels.csv"
    course_env.setenv("RAYCOURSE_REHEARSAL", "1")  # the offline rehearsal: gpu models, the course's data
    assert all(Path(p).is_dir() for p in raycourse.data_path("images_train"))
    assert Path(raycourse.data_path("labels")).name == "labels.csv"


def test_missing_data_file_says_how_to_restore_it(course_env, tmp_path):
    course_env.setenv("RAYCOURSE_DATA", str(tmp_path))
    with pytest.raises(CourseError, match="Missing course data file") as err:
        raycourse.data_path("animals")
    assert "make_data.py" in err.value.fix
    course_env.setenv("RAYCOURSE_DATA", str(tmp_path / "absent"))
    with pytest.raises(CourseError, match="does not exist"):
        raycourse.data_root()
