"""Protected-attribute policy: the one place that decides what Watchkeeper refuses to know.

Watchkeeper never infers, stores, filters, groups or sorts people by ethnicity, race, national
origin, skin colour, ancestry, tribe or caste, and never estimates age, gender or emotion. Every
path that accepts metadata keys, query fields or free text crosses the checks below, so the rule
lives here and nowhere else.

How matching works, and why:

* Text is normalised before matching so cosmetic variants do not slip through: accents are
  stripped (``Nationalität`` -> ``nationalitat``), camelCase and separators split into tokens
  (``ethnicGroup``, ``Ethnic-Group`` and ``ethnic_group`` all become ``ethnic group``), invisible
  format characters are dropped (``ra\u200bce``), and digits inside words are read as the letters
  they imitate (``r4ce``, ``3thnicity``).
* Matching is by whole token (or a few tokens joined), never by raw substring, so ``trace``,
  ``embrace`` and ``racecar`` stay allowed while ``race`` is refused. Only long, unambiguous stems
  (``ethni``, ``nationalit``, ``hautfarb``...) also match inside compounds such as ``multiethnic``
  or ``Hautfarbenerkennung``.
* Field names (metadata keys, query and sort fields) are checked most strictly: a key that merely
  names age, gender or emotion is refused, since the only reason to have one is to store or filter
  by it. Free text (purposes, notes, metadata values) refuses protected attributes and emotion
  inference outright, but mentions of age or gender only when they sit next to an inference word
  ("estimate age", "gender classification"), so "missing child, age 7" is still a valid purpose.

Example:
    >>> check_field_name("camera_id")
    >>> find_in_field_name("ethnicGroup")
    Finding(concept=<Concept.ETHNICITY_RACE: 'ethnicity or race'>, matched='ethnic')
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from watchkeeper.core.errors import InvalidInputError, PolicyViolationError

__all__ = [
    "POLICY_STATEMENT",
    "Concept",
    "Finding",
    "check_field_name",
    "check_metadata",
    "check_text",
    "find_in_field_name",
    "find_in_text",
    "normalise_tokens",
    "safe_excerpt",
    "validate_free_text",
]

POLICY_STATEMENT = (
    "Watchkeeper never infers, stores, filters, groups or sorts people by ethnicity, race, "
    "national origin, nationality, skin colour, ancestry, tribe or caste, and does no "
    "demographic (age, gender) or emotion inference."
)


class Concept(StrEnum):
    """What a refused term is about; named in the error so the user knows which rule applied."""

    ETHNICITY_RACE = "ethnicity or race"
    NATIONAL_ORIGIN = "national origin or nationality"
    SKIN_COLOUR = "skin colour"
    ANCESTRY = "ancestry or descent"
    TRIBE_CASTE = "tribe or caste"
    DEMOGRAPHIC = "demographic inference (age, gender)"
    EMOTION = "emotion or mood inference"


# --- Term tables ---------------------------------------------------------------------------------
# Terms are written already normalised: lower case, no accents, words separated by one space. A
# multi-word term matches consecutive tokens and also the same words run together
# ("skin colour", "skin-colour", "skinColour", "skincolour").

_P = Concept

# Refused everywhere: keys, values and free text.
# fmt: off
_STRICT_TERMS: dict[Concept, tuple[str, ...]] = {
    _P.ETHNICITY_RACE: (
        # en
        "race", "races", "racial", "racially", "ethnic", "ethnicity", "ethnicities", "ethnically",
        "ethnic group", "ethnic origin", "racial origin", "mixed race", "caucasian", "caucasoid",
        "negroid", "mongoloid", "hispanic", "latinx", "biracial", "multiracial", "interracial",
        # fr
        "raciale", "raciaux", "ethnie", "ethnique", "ethnicite", "origine ethnique",
        # de
        "rasse", "rassen", "rassisch", "rassische", "ethnisch", "ethnische", "ethnizitat",
        "volkszugehorigkeit", "ethnische herkunft",
        # es / pt / it
        "raza", "razas", "etnia", "etnias", "etnico", "etnica", "etnicidad", "etnicidade", "raca",
        "racas", "razza", "razze", "razziale", "etnicita", "origen etnico", "origem etnica",
        "origine etnica",
        # nl
        "etniciteit", "etnisch", "etnische", "etnische afkomst",
    ),
    _P.NATIONAL_ORIGIN: (
        "national origin", "nationality", "nationalities", "country of origin",
        "country of birth", "birth country", "citizenship", "nationalite", "origine nationale",
        "pays d origine", "pays de naissance", "nationalitat", "staatsangehorigkeit",
        "staatsburgerschaft", "herkunftsland", "nationale herkunft", "geburtsland",
        "nacionalidad", "origen nacional", "pais de origen", "pais de nacimiento",
        "nacionalidade", "origem nacional", "pais de origem", "nazionalita", "origine nazionale",
        "paese di origine", "cittadinanza", "nationaliteit", "nationale herkomst",
        "land van herkomst", "staatsburgerschap",
    ),
    _P.SKIN_COLOUR: (
        "skin colour", "skin color", "skin tone", "skin type", "complexion", "fitzpatrick",
        "couleur de peau", "couleur de la peau", "teint", "hautfarbe", "hautton", "hauttyp",
        "color de piel", "color de la piel", "tono de piel", "tez", "cor da pele", "cor de pele",
        "tom de pele", "colore della pelle", "carnagione", "huidskleur",
        "huidtint", "huidtype",
    ),
    _P.ANCESTRY: (
        "ancestry", "ancestries", "ancestral origin", "descent", "lineage", "ascendance",
        "abstammung", "ascendencia", "ascendenza", "afkomst", "afstamming",
    ),
    _P.TRIBE_CASTE: (
        "tribe", "tribes", "tribal", "tribal affiliation", "caste", "castes", "dalit", "tribu",
        "tribus", "stammeszugehorigkeit", "kaste", "kasten", "casta", "castas", "tribo", "tribos",
        "tribale",
    ),
    _P.EMOTION: (
        "emotion", "emotions", "emotional state", "emotion recognition", "emotion detection",
        "facial expression", "facial expressions", "expression analysis",
        "expression recognition", "mood", "moods", "sentiment", "sentiment analysis",
        "affect recognition", "affective", "emotion ai", "emotionen", "gefuhl", "gefuhle",
        "gefuhlslage", "stimmung", "gesichtsausdruck", "emocion", "emociones", "estado de animo",
        "expresion facial", "emocao", "emocoes", "expressao facial", "emozione", "emozioni",
        "umore", "espressione facciale", "emotie", "emoties", "gemoedstoestand",
        "gezichtsuitdrukking", "humeur", "expression faciale",
    ),
    _P.DEMOGRAPHIC: (
        "demographic", "demographics", "demography", "age estimation", "age estimate",
        "estimated age", "apparent age", "age prediction", "predicted age", "age detection",
        "age group", "age bracket", "age range", "gender classification", "gender detection",
        "gender recognition", "gender prediction", "predicted gender", "estimated gender",
        "gender estimation", "sex classification", "sex prediction", "demographie",
        "demographique", "estimation de l age", "estimation de l'age", "demografie",
        "demografisch", "altersschatzung", "geschatztes alter", "geschlechtserkennung",
        "altersgruppe", "demografia", "demografico", "demografica", "estimacion de edad",
        "estimativa de idade", "stima dell eta", "stima eta", "leeftijdsschatting",
        "geslachtsherkenning", "leeftijdsgroep",
    ),
}

# Refused only in field names (keys, filter and sort fields): ordinary words in prose, but a key
# with this name exists only to store or filter by the attribute.
_KEY_ONLY_TERMS: dict[Concept, tuple[str, ...]] = {
    _P.ETHNICITY_RACE: ("ras", "latino", "latina", "ethnic background", "racial background"),
    _P.NATIONAL_ORIGIN: ("passport country", "herkunft", "origin country"),
    _P.SKIN_COLOUR: ("skin", "pigmentation", "peau", "piel", "pele", "pelle", "huid"),
    _P.ANCESTRY: ("heritage", "ancestor", "ancestors"),
    _P.TRIBE_CASTE: ("stamm", "stam", "clan", "varna", "jati"),
    _P.DEMOGRAPHIC: (
        "age", "gender", "genders", "sex", "sexe", "genre", "alter", "geschlecht", "edad",
        "genero", "sexo", "idade", "sesso", "genere", "leeftijd", "geslacht", "male", "female",
        "age years", "age band",
    ),
    _P.EMOTION: (
        "smile", "smiling", "happiness", "sadness", "anger", "fear", "disgust", "surprise",
        "feeling", "feelings", "humor",
    ),
}

# Long stems that begin a refused word in any of the languages ("nationalit" covers nationality,
# nationalité, Nationalität, nationaliteit...). They match the start of a token.
_PREFIX_STEMS: dict[Concept, tuple[str, ...]] = {
    _P.ETHNICITY_RACE: ("ethni", "etnic", "etnisch", "racial", "razzial", "rassisch"),
    _P.NATIONAL_ORIGIN: ("nationalit", "nacionalid", "nazionalit", "staatsangehorig"),
    _P.SKIN_COLOUR: ("hautfarb", "huidskleur", "skincolo", "skintone"),
    _P.ANCESTRY: ("ancestr", "abstammung"),
    _P.TRIBE_CASTE: ("stammeszugehor",),
    _P.EMOTION: ("emotion", "emocion", "emozion", "sentiment", "sentimient"),
    _P.DEMOGRAPHIC: ("demograph", "demograf", "altersschatz", "geschlechtserkenn"),
}
# Stems distinctive enough to match anywhere inside a token, which catches compounds
# ("multiethnic", "interracial", "Gesichtshautfarbe"). "emotion" is not here: it hides in
# "demotion".
_INNER_STEMS: dict[Concept, tuple[str, ...]] = {
    _P.ETHNICITY_RACE: ("ethni", "etnic", "etnisch", "racial", "rassisch"),
    _P.NATIONAL_ORIGIN: ("staatsangehorig",),
    _P.SKIN_COLOUR: ("hautfarb", "huidskleur"),
    _P.ANCESTRY: ("abstammung",),
    _P.DEMOGRAPHIC: ("altersschatz", "geschlechtserkenn"),
}

# In free text, a demographic word is refused when an inference word sits within this many tokens.
_DEMOGRAPHIC_WORDS = frozenset(
    {
        "age", "ages", "aged", "gender", "genders", "sex", "sexe", "geschlecht", "edad", "genero",
        "sexo", "idade", "sesso", "genere", "leeftijd", "geslacht", "male", "female",
    }
)
_INFERENCE_STEMS = (
    "estim", "predict", "infer", "classif", "detect", "recogni", "guess", "apparent", "determin",
    "analy", "analis", "reconn", "reconoc", "reconhec", "riconosc", "schatz", "schatt", "erkenn",
    "bestimm", "herkenn", "detecc", "detec", "rilev", "stim", "calcul", "assess", "judg", "sort",
    "group", "filter", "rank", "bucket", "segment",
)
# fmt: on
_INFERENCE_WINDOW = 3
_MAX_NGRAM = 4


@dataclass(frozen=True, slots=True)
class Finding:
    """Why a piece of text was refused: the concept and the normalised words that matched."""

    concept: Concept
    matched: str


def _build_index(
    *tables: dict[Concept, tuple[str, ...]],
) -> dict[str, Concept]:
    index: dict[str, Concept] = {}
    for table in tables:
        for concept, terms in table.items():
            for term in terms:
                words = term.replace("'", " ").split()
                index[" ".join(words)] = concept
                index["".join(words)] = concept
    return index


_STRICT_INDEX = _build_index(_STRICT_TERMS)
_KEY_INDEX = _build_index(_STRICT_TERMS, _KEY_ONLY_TERMS)
_PREFIXES: tuple[tuple[str, Concept], ...] = tuple(
    (stem, concept) for concept, stems in _PREFIX_STEMS.items() for stem in stems
)
_INNERS: tuple[tuple[str, Concept], ...] = tuple(
    (stem, concept) for concept, stems in _INNER_STEMS.items() for stem in stems
)

# --- Normalisation -------------------------------------------------------------------------------

_CAMEL_LOWER_UPPER = re.compile(r"(?<=[a-z])(?=[A-Z])")
_CAMEL_ACRONYM = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
_TOKEN = re.compile(r"[a-z0-9]+")
# Digits read as the letters they imitate; only applied inside tokens that also contain letters,
# so plain numbers ("2024") are left alone.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})
_SYMBOL_LEET = str.maketrans({"@": "a", "$": "s"})
_HAS_LETTER = re.compile(r"[a-z]")


def _raw_tokens(value: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", value)
    # Drop combining marks (accents) and invisible format characters (zero-width space, joiners)
    # that could be slipped between letters to dodge matching.
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) not in {"Mn", "Me", "Cf"})
    split = _CAMEL_ACRONYM.sub(" ", _CAMEL_LOWER_UPPER.sub(" ", kept))
    return _TOKEN.findall(split.casefold().translate(_SYMBOL_LEET))


def _leet(token: str) -> str:
    if _HAS_LETTER.search(token) and not token.isalpha():
        return token.translate(_LEET)
    return token


def normalise_tokens(value: str) -> list[str]:
    """Split text into lower-case ASCII tokens the way the policy reads it.

    >>> normalise_tokens("Ethnic-Group, ethnicGroup, Nationalität, r4ce, 2024")
    ['ethnic', 'group', 'ethnic', 'group', 'nationalitat', 'race', '2024']
    """
    return [_leet(token) for token in _raw_tokens(value)]


def _variants(raw: str) -> tuple[str, ...]:
    """Ways to read one token: digits as letters ("r4ce"), or digits as a suffix ("age1")."""
    leet = _leet(raw)
    if leet == raw:
        return (raw,)
    letters = raw.strip("0123456789")
    return (leet, letters) if letters.isalpha() else (leet,)


def _with_letter_runs(tokens: list[str]) -> list[str]:
    """Add runs of single letters ("r a c e", "r.a.c.e") joined as one extra token."""
    out = list(tokens)
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        if len(run) >= 3:
            out.append("".join(run))
        run = []
    return out


def _lookup(words: list[str], index: Mapping[str, Concept]) -> Finding | None:
    """Match a phrase of consecutive tokens against the index, spaced or run together."""
    spaced = " ".join(words)
    concept = index.get(spaced) or index.get("".join(words))
    if concept is not None:
        return Finding(concept, spaced)
    if len(words) == 1:
        word = words[0]
        # Cheap plural handling, for the forms the tables do not list.
        for suffix in ("s", "es"):
            if word.endswith(suffix) and len(word) > len(suffix) + 2:
                concept = index.get(word[: -len(suffix)])
                if concept is not None:
                    return Finding(concept, spaced)
    return None


def _match_stems(token: str) -> Finding | None:
    for stem, concept in _PREFIXES:
        if token.startswith(stem):
            return Finding(concept, token)
    for stem, concept in _INNERS:
        if stem in token:
            return Finding(concept, token)
    return None


def _scan(raw: list[str], index: Mapping[str, Concept], *, whole: bool) -> Finding | None:
    tokens = _with_letter_runs([_leet(token) for token in raw])
    singles = [variant for token in raw for variant in _variants(token)]
    for token in [*singles, *tokens[len(raw) :]]:
        found = _lookup([token], index) or _match_stems(token)
        if found is not None:
            return found
    for size in range(2, _MAX_NGRAM + 1):
        for start in range(len(raw) - size + 1):
            found = _lookup(tokens[start : start + size], index)
            if found is not None:
                return found
    if whole and len(raw) > 1:
        # A field name is one identifier: read it also with its separators removed, so
        # "eth_nicity" or "ETH-NIC-ITY" cannot hide. Not done for prose, where "Seth Nichols"
        # would run together into "sethnichols".
        joined = "".join(tokens[: len(raw)])
        return _lookup([joined], index) or _match_stems(joined)
    return None


def _demographic_inference(tokens: list[str]) -> Finding | None:
    for position, token in enumerate(tokens):
        if token not in _DEMOGRAPHIC_WORDS:
            continue
        low = max(0, position - _INFERENCE_WINDOW)
        near = tokens[low:position] + tokens[position + 1 : position + 1 + _INFERENCE_WINDOW]
        for other in near:
            if other.startswith(_INFERENCE_STEMS):
                return Finding(Concept.DEMOGRAPHIC, f"{token} ... {other}")
    return None


def find_in_field_name(name: str) -> Finding | None:
    """The policy finding for a field name (metadata key, filter or sort field), or None."""
    return _scan(_raw_tokens(name), _KEY_INDEX, whole=True)


def find_in_text(value: str) -> Finding | None:
    """The policy finding for free text (purpose, note, metadata value), or None."""
    raw = _raw_tokens(value)
    return _scan(raw, _STRICT_INDEX, whole=False) or _demographic_inference(
        [_leet(token) for token in raw]
    )


# --- Public checks -------------------------------------------------------------------------------


def safe_excerpt(value: object, max_len: int = 60) -> str:
    """A short printable rendering of untrusted input for error messages and logs.

    Control and format characters become U+FFFD and long input is cut, so a hostile value can
    neither forge extra log lines nor flood a message.

    >>> safe_excerpt("a\\nb" + "x" * 100, max_len=8)
    'a\ufffdbxxxx…'
    """
    text = value if isinstance(value, str) else repr(value)
    cleaned = "".join(
        "\ufffd" if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"} else ch
        for ch in text[: max_len + 1]
    )
    return cleaned if len(cleaned) <= max_len else cleaned[: max_len - 1] + "…"


def _refuse(where: str, value: str, finding: Finding) -> PolicyViolationError:
    return PolicyViolationError(
        f"{where} {safe_excerpt(value)!r} refers to {finding.concept.value} "
        f"(matched {safe_excerpt(finding.matched, 40)!r}). {POLICY_STATEMENT} "
        "Remove or rename it; describe the person only by identity, watchlist and case "
        "reference."
    )


def check_field_name(name: str) -> None:
    """Refuse a metadata key, filter field or sort field that names a protected attribute.

    Raises:
        InvalidInputError: ``name`` is not a string.
        PolicyViolationError: the name refers to a protected attribute or to demographic or
            emotion inference.
    """
    if not isinstance(name, str):
        raise InvalidInputError(f"field name must be text, got {type(name).__name__}")
    finding = find_in_field_name(name)
    if finding is not None:
        raise _refuse("field", name, finding)


def check_text(value: str) -> None:
    """Refuse free text that names a protected attribute or asks for demographic/emotion inference.

    Raises:
        InvalidInputError: ``value`` is not a string.
        PolicyViolationError: see :data:`POLICY_STATEMENT`.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"text must be a string, got {type(value).__name__}")
    finding = find_in_text(value)
    if finding is not None:
        raise _refuse("text", value, finding)


MetadataValue = str | int | float | bool | None


def check_metadata(mapping: Mapping[str, object]) -> None:
    """Refuse a metadata mapping whose keys or text values touch a protected attribute.

    Keys are checked as field names, string values as free text; nested mappings and sequences
    are checked recursively so the rule cannot be dodged by nesting.

    >>> check_metadata({"case_ref": "2024/117", "camera": "gate-3"})
    """
    if not isinstance(mapping, Mapping):
        raise InvalidInputError(f"metadata must be a mapping, got {type(mapping).__name__}")
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"metadata keys must be text, got {type(key).__name__}")
        check_field_name(key)
        _check_value(value)


def _check_value(value: object) -> None:
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, Mapping):
        check_metadata(value)
    elif isinstance(value, list | tuple | set | frozenset):
        items: Iterable[object] = value
        for item in items:
            _check_value(item)


# --- Free-text validation ------------------------------------------------------------------------

# Direction overrides and isolates can make a logged name display differently from what was
# stored ("Trojan Source"); they are refused outright in names and purposes.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def validate_free_text(
    value: object,
    field: str,
    max_len: int,
    *,
    allow_newlines: bool = False,
    allow_empty: bool = False,
) -> str:
    """Check a user-supplied name or purpose and return it unchanged.

    The text is stored verbatim (SQL parameters make quotes and ``;`` harmless), so this only
    refuses what no honest name or purpose contains: control characters, direction overrides,
    lone surrogates, over-long input and, unless allowed, empty or blank text.

    >>> validate_free_text("Missing person, case 2024/117", "purpose", 500)
    'Missing person, case 2024/117'

    Raises:
        InvalidInputError: with a message naming ``field`` and the problem.
    """
    if max_len < 1:
        raise InvalidInputError(f"max_len for {field} must be positive, got {max_len}")
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be text, got {type(value).__name__}")
    if len(value) > max_len:
        raise InvalidInputError(f"{field} is too long: {len(value)} characters, at most {max_len}")
    if not allow_empty and not value.strip():
        raise InvalidInputError(f"{field} must not be empty")
    for index, ch in enumerate(value):
        if allow_newlines and ch in "\n\t":
            continue
        category = unicodedata.category(ch)
        if category in {"Cc", "Cs"} or ch in _BIDI_CONTROLS or category in {"Zl", "Zp"}:
            raise InvalidInputError(
                f"{field} contains a control character (U+{ord(ch):04X}) at position {index}; "
                "use plain printable text"
            )
    return value
