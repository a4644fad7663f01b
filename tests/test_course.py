"""Finding exercises and resolving the names students type."""

from __future__ import annotations

import pytest

from grader.course import CourseError, UnknownExercise, load_course


@pytest.fixture
def course(fake_course):
    fake_course.add("01_http_client")
    fake_course.add("02_http_parse")
    fake_course.add("07_wsgi_server", part=2)
    fake_course.add("08_wsgi_server_http11", part=2)
    return load_course(fake_course.root)


def test_finds_exercises_in_order(course):
    assert [e.name for e in course.exercises] == ["01_http_client", "02_http_parse", "07_wsgi_server", "08_wsgi_server_http11"]
    first = course.exercises[0]
    assert (first.number, first.slug, first.part, first.files) == (1, "http_client", 1, ("http_client.py",))
    assert first.hints == ("first hint", "second hint")


@pytest.mark.parametrize("text", ["7", "07", "wsgi_server", "07_wsgi_server", "exercises/07_wsgi_server/"])
def test_resolves_every_way_of_naming_an_exercise(course, text):
    assert course.resolve(text).name == "07_wsgi_server"


def test_resolves_an_unambiguous_prefix(course):
    assert course.resolve("http_c").name == "01_http_client"


def test_an_ambiguous_prefix_names_the_candidates(course):
    with pytest.raises(UnknownExercise, match="could mean several exercises: 07_wsgi_server, 08_wsgi_server_http11"):
        course.resolve("wsgi")


def test_a_wrong_name_suggests_the_closest(course):
    with pytest.raises(UnknownExercise, match=r"no exercise 'wsgi_sever' — did you mean wsgi_server"):
        course.resolve("wsgi_sever")


def test_a_hopeless_name_points_at_the_list(course):
    with pytest.raises(UnknownExercise, match=r"no exercise 'zzz' \(run `grader` to see the list\)"):
        course.resolve("zzz")


def test_a_missing_number_is_unknown(course):
    with pytest.raises(UnknownExercise, match="no exercise '99'"):
        course.resolve("99")


def test_a_typo_in_the_metadata_is_named(fake_course):
    fake_course.add("01_http_client", extra_toml="hint = ['x']\n")
    with pytest.raises(CourseError, match=r"unknown key 'hint' \(did you mean 'hints'\?\)"):
        load_course(fake_course.root)


def test_invalid_toml_is_reported_with_its_file(fake_course):
    folder = fake_course.add("01_http_client")
    (folder / "exercise.toml").write_text("title = \n")
    with pytest.raises(CourseError, match="exercise.toml is not valid TOML"):
        load_course(fake_course.root)


def test_a_missing_metadata_file_is_reported(fake_course):
    folder = fake_course.add("01_http_client")
    (folder / "exercise.toml").unlink()
    with pytest.raises(CourseError, match="exercise.toml is missing"):
        load_course(fake_course.root)


def test_a_wrongly_typed_field_is_reported(fake_course):
    folder = fake_course.add("01_http_client")
    text = (folder / "exercise.toml").read_text().replace("part = 1", 'part = "one"')
    (folder / "exercise.toml").write_text(text)
    with pytest.raises(CourseError, match="'part' has the wrong type"):
        load_course(fake_course.root)
