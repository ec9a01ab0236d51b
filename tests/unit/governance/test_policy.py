"""Protected-attribute policy: refused and allowed tables for keys, text and metadata."""

from __future__ import annotations

import pytest

from watchkeeper.core.errors import InvalidInputError, PolicyViolationError
from watchkeeper.governance.policy import (
    POLICY_STATEMENT,
    Concept,
    check_field_name,
    check_metadata,
    check_text,
    find_in_field_name,
    find_in_text,
    normalise_tokens,
    safe_excerpt,
    validate_free_text,
)

C = Concept

REFUSED_FIELD_NAMES = [
    # spelling, case and separators
    ("race", C.ETHNICITY_RACE),
    ("Race", C.ETHNICITY_RACE),
    ("RACE", C.ETHNICITY_RACE),
    ("races", C.ETHNICITY_RACE),
    ("subject_race", C.ETHNICITY_RACE),
    ("raceCode", C.ETHNICITY_RACE),
    ("ethnicity", C.ETHNICITY_RACE),
    ("ethnic_group", C.ETHNICITY_RACE),
    ("Ethnic-Group", C.ETHNICITY_RACE),
    ("ethnicGroup", C.ETHNICITY_RACE),
    ("ETHNIC GROUP", C.ETHNICITY_RACE),
    ("ethnicgroupcode", C.ETHNICITY_RACE),
    ("multiethnic", C.ETHNICITY_RACE),
    ("eth_nicity", C.ETHNICITY_RACE),
    ("E.T.H.N.I.C.I.T.Y", C.ETHNICITY_RACE),
    ("r a c e", C.ETHNICITY_RACE),
    ("ra\u200bce", C.ETHNICITY_RACE),
    ("HTTPRaceHeader", C.ETHNICITY_RACE),
    # leetspeak-ish digits
    ("r4ce", C.ETHNICITY_RACE),
    ("3thnicity", C.ETHNICITY_RACE),
    ("ethn1city", C.ETHNICITY_RACE),
    ("R4C3", C.ETHNICITY_RACE),
    ("age1", C.DEMOGRAPHIC),
    # other languages, accents stripped
    ("ethnie", C.ETHNICITY_RACE),
    ("origine_ethnique", C.ETHNICITY_RACE),
    ("Rasse", C.ETHNICITY_RACE),
    ("ethnische_Herkunft", C.ETHNICITY_RACE),
    ("Volkszugehörigkeit", C.ETHNICITY_RACE),
    ("raza", C.ETHNICITY_RACE),
    ("étnico", C.ETHNICITY_RACE),
    ("raça", C.ETHNICITY_RACE),
    ("razza", C.ETHNICITY_RACE),
    ("etnicità", C.ETHNICITY_RACE),
    ("etniciteit", C.ETHNICITY_RACE),
    ("national_origin", C.NATIONAL_ORIGIN),
    ("nationalOrigin", C.NATIONAL_ORIGIN),
    ("nationality", C.NATIONAL_ORIGIN),
    ("nationalité", C.NATIONAL_ORIGIN),
    ("Nationalität", C.NATIONAL_ORIGIN),
    ("Staatsangehörigkeit", C.NATIONAL_ORIGIN),
    ("nacionalidad", C.NATIONAL_ORIGIN),
    ("nacionalidade", C.NATIONAL_ORIGIN),
    ("nazionalità", C.NATIONAL_ORIGIN),
    ("nationaliteit", C.NATIONAL_ORIGIN),
    ("country_of_origin", C.NATIONAL_ORIGIN),
    ("citizenship", C.NATIONAL_ORIGIN),
    ("skin_colour", C.SKIN_COLOUR),
    ("skinColor", C.SKIN_COLOUR),
    ("skin-tone", C.SKIN_COLOUR),
    ("skintones", C.SKIN_COLOUR),
    ("couleur_de_peau", C.SKIN_COLOUR),
    ("Hautfarbe", C.SKIN_COLOUR),
    ("color_de_piel", C.SKIN_COLOUR),
    ("cor_da_pele", C.SKIN_COLOUR),
    ("colore_della_pelle", C.SKIN_COLOUR),
    ("huidskleur", C.SKIN_COLOUR),
    ("fitzpatrick_type", C.SKIN_COLOUR),
    ("ancestry", C.ANCESTRY),
    ("descent", C.ANCESTRY),
    ("Abstammung", C.ANCESTRY),
    ("ascendencia", C.ANCESTRY),
    ("afkomst", C.ANCESTRY),
    ("tribe", C.TRIBE_CASTE),
    ("tribal_affiliation", C.TRIBE_CASTE),
    ("caste", C.TRIBE_CASTE),
    ("kaste", C.TRIBE_CASTE),
    ("casta", C.TRIBE_CASTE),
    ("tribu", C.TRIBE_CASTE),
    # demographic and emotion inference as keys
    ("age", C.DEMOGRAPHIC),
    ("estimated_age", C.DEMOGRAPHIC),
    ("ageEstimate", C.DEMOGRAPHIC),
    ("gender", C.DEMOGRAPHIC),
    ("Gender", C.DEMOGRAPHIC),
    ("sex", C.DEMOGRAPHIC),
    ("Geschlecht", C.DEMOGRAPHIC),
    ("género", C.DEMOGRAPHIC),
    ("sexo", C.DEMOGRAPHIC),
    ("leeftijd", C.DEMOGRAPHIC),
    ("demographics", C.DEMOGRAPHIC),
    ("emotion", C.EMOTION),
    ("emotions", C.EMOTION),
    ("dominantEmotion", C.EMOTION),
    ("mood", C.EMOTION),
    ("sentiment_score", C.EMOTION),
    ("émotion", C.EMOTION),
    ("Stimmung", C.EMOTION),
    ("emoción", C.EMOTION),
    ("emoção", C.EMOTION),
    ("emozione", C.EMOTION),
    ("emotie", C.EMOTION),
    ("facial_expression", C.EMOTION),
]

ALLOWED_FIELD_NAMES = [
    "camera_id",
    "case_ref",
    "trace",
    "trace_id",
    "embrace",
    "racecar",
    "racetrack",
    "grace",
    "terrace",
    "page",
    "page_size",
    "image",
    "stage",
    "usage",
    "storage",
    "message",
    "captured_at",
    "pts_s",
    "similarity",
    "sussex_office",
    "promotion",
    "demotion",
    "motion_score",
    "national_id",
    "clanger",
    "castle",
    "casting",
    "forecast",
    "broadcast",
    "h264_stream",
    "zone_2024",
    "id",
    "origin_camera",
    "source_origin",
]

REFUSED_TEXT = [
    ("find everyone of the same race", C.ETHNICITY_RACE),
    ("Search by ETHNICITY please", C.ETHNICITY_RACE),
    ("sort results by skin colour", C.SKIN_COLOUR),
    ("group by nationality", C.NATIONAL_ORIGIN),
    ("filtrer par origine ethnique", C.ETHNICITY_RACE),
    ("nach Hautfarbe sortieren", C.SKIN_COLOUR),
    ("buscar por raza", C.ETHNICITY_RACE),
    ("pesquisar por raça", C.ETHNICITY_RACE),
    ("cercare per etnia", C.ETHNICITY_RACE),
    ("zoeken op etniciteit", C.ETHNICITY_RACE),
    ("people of Hispanic appearance", C.ETHNICITY_RACE),
    ("interracial couples", C.ETHNICITY_RACE),
    ("members of the tribe", C.TRIBE_CASTE),
    ("lower caste visitors", C.TRIBE_CASTE),
    ("estimate age of each face", C.DEMOGRAPHIC),
    ("age estimation on camera 3", C.DEMOGRAPHIC),
    ("classify gender", C.DEMOGRAPHIC),
    ("gender classification for statistics", C.DEMOGRAPHIC),
    ("detect the sex of passers-by", C.DEMOGRAPHIC),
    ("Altersschätzung der Besucher", C.DEMOGRAPHIC),
    ("estimación de edad", C.DEMOGRAPHIC),
    ("demographic breakdown of visitors", C.DEMOGRAPHIC),
    ("detect emotion of customers", C.EMOTION),
    ("measure the mood of the crowd", C.EMOTION),
    ("sentiment analysis of faces", C.EMOTION),
    ("reconnaissance des émotions", C.EMOTION),
    ("Emotionserkennung", C.EMOTION),
    ("r4ce of the suspect", C.ETHNICITY_RACE),
    ("e t h n i c i t y", C.ETHNICITY_RACE),
]

ALLOWED_TEXT = [
    "Missing person, case 2024/117",
    "missing child, age 7, last seen near gate 3",
    "Trace the stolen car at the racetrack",
    "embrace least privilege",
    "Seth Nichols, suspected of burglary",
    "Bethnal Green station, platform 2",
    "promotion and demotion of staff badges",
    "ETA estimate for the patrol: 10 minutes",
    "alter the filter for camera 4",
    "Latina and Varna offices",
    "Robert'); DROP TABLE students;--",
    "",
    "2024-05-01 12:00",
    "national ID card check at the border",
    "Grace Hopper",
]


@pytest.mark.parametrize(("name", "concept"), REFUSED_FIELD_NAMES)
def test_field_names_naming_protected_attributes_are_refused(name: str, concept: Concept) -> None:
    finding = find_in_field_name(name)
    assert finding is not None, name
    assert finding.concept is concept
    with pytest.raises(PolicyViolationError):
        check_field_name(name)


@pytest.mark.parametrize("name", ALLOWED_FIELD_NAMES)
def test_ordinary_field_names_are_allowed(name: str) -> None:
    assert find_in_field_name(name) is None
    check_field_name(name)


@pytest.mark.parametrize(("text", "concept"), REFUSED_TEXT)
def test_text_naming_protected_attributes_or_inference_is_refused(
    text: str, concept: Concept
) -> None:
    finding = find_in_text(text)
    assert finding is not None, text
    assert finding.concept is concept
    with pytest.raises(PolicyViolationError):
        check_text(text)


@pytest.mark.parametrize("text", ALLOWED_TEXT)
def test_ordinary_text_is_allowed(text: str) -> None:
    assert find_in_text(text) is None
    check_text(text)


def test_error_message_explains_the_policy_and_names_the_field() -> None:
    with pytest.raises(PolicyViolationError) as caught:
        check_field_name("Ethnic-Group")
    message = str(caught.value)
    assert "Ethnic-Group" in message
    assert "ethnicity or race" in message
    assert POLICY_STATEMENT in message


def test_error_message_does_not_echo_control_characters_or_huge_input() -> None:
    hostile = "race\n[forged log line]" + "x" * 5000
    with pytest.raises(PolicyViolationError) as caught:
        check_text(hostile)
    message = str(caught.value)
    assert "\n" not in message
    assert len(message) < 1000


def test_text_allows_age_mention_that_key_refuses() -> None:
    # A purpose may describe a missing child's age; a metadata key "age" only exists to store it.
    check_text("age 7")
    with pytest.raises(PolicyViolationError):
        check_field_name("age")


@pytest.mark.parametrize(
    "mapping",
    [
        {"ethnicity": "x"},
        {"notes": "ethnicity unknown"},
        {"case": {"nested": {"skinTone": 3}}},
        {"tags": ["blue jacket", "race: unknown"]},
        {"Emotion": "happy"},
        {"subject": {"geschlecht": "m"}},
    ],
)
def test_metadata_refuses_keys_values_and_nested_entries(mapping: dict[str, object]) -> None:
    with pytest.raises(PolicyViolationError):
        check_metadata(mapping)


def test_metadata_allows_ordinary_entries() -> None:
    check_metadata(
        {
            "case_ref": "2024/117",
            "camera": "gate-3",
            "count": 4,
            "flags": ["night", "rain"],
            "extra": {"operator_note": "Robert'); DROP TABLE x;--"},
            "score": 0.5,
            "ok": True,
            "none": None,
        }
    )


@pytest.mark.parametrize("bad", [["race"], "race=1", 42])
def test_metadata_must_be_a_mapping(bad: object) -> None:
    with pytest.raises(InvalidInputError):
        check_metadata(bad)  # type: ignore[arg-type]


def test_metadata_keys_must_be_text() -> None:
    with pytest.raises(InvalidInputError):
        check_metadata({1: "x"})  # type: ignore[dict-item]


def test_non_text_inputs_get_invalid_input_errors() -> None:
    with pytest.raises(InvalidInputError):
        check_field_name(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        check_text(b"race")  # type: ignore[arg-type]


def test_normalise_tokens_reads_case_separators_accents_and_digits() -> None:
    assert normalise_tokens("ethnicGroup Ethnic-Group ETHNIC_GROUP") == ["ethnic", "group"] * 3
    assert normalise_tokens("Nationalität") == ["nationalitat"]
    assert normalise_tokens("r4ce 3thnicity 2024") == ["race", "ethnicity", "2024"]


# --- validate_free_text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Missing person, case 2024/117",
        "Robert'); DROP TABLE users;--",
        "' OR '1'='1",
        "<script>alert(1)</script>",
        "Zoë Ødegård-Nuñez",
        "李小龙",
        "x" * 200,
    ],
)
def test_free_text_is_returned_verbatim(value: str) -> None:
    assert validate_free_text(value, "purpose", 200) == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("x" * 201, "too long"),
        ("", "empty"),
        ("   ", "empty"),
        ("line1\nline2", "control character"),
        ("tab\there", "control character"),
        ("nul\x00byte", "control character"),
        ("bell\x07", "control character"),
        ("esc\x1b[31m", "control character"),
        ("del\x7f", "control character"),
        ("rtl\u202eoverride", "control character"),
        ("sep\u2028line", "control character"),
        ("lone\ud800surrogate", "control character"),
    ],
)
def test_free_text_refuses_hostile_or_oversized_input(value: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_free_text(value, "purpose", 200)
    assert problem in str(caught.value)
    assert "purpose" in str(caught.value)


def test_free_text_options_allow_newlines_and_empty() -> None:
    assert validate_free_text("a\nb\tc", "notes", 10, allow_newlines=True) == "a\nb\tc"
    assert validate_free_text("", "notes", 10, allow_empty=True) == ""
    with pytest.raises(InvalidInputError):
        validate_free_text("a\x00b", "notes", 10, allow_newlines=True)


@pytest.mark.parametrize("value", [None, 5, b"bytes", ["list"]])
def test_free_text_must_be_a_string(value: object) -> None:
    with pytest.raises(InvalidInputError):
        validate_free_text(value, "name", 10)


def test_free_text_max_len_must_be_positive() -> None:
    with pytest.raises(InvalidInputError):
        validate_free_text("x", "name", 0)


def test_safe_excerpt_neutralises_control_characters_and_cuts() -> None:
    assert safe_excerpt("a\nb\u202ec", 10) == "a\ufffdb\ufffdc"
    cut = safe_excerpt("y" * 100, 10)
    assert len(cut) == 10
    assert cut.endswith("…")
