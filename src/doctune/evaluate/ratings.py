"""Rating lines in a judge's free-text reply: the documented fallback format of the judge protocol.

A judge served without JSON-schema support (`structured_output: instructions` or `json_object`)
often answers in the MT-bench format instead of the JSON it was asked for: a rationale, then
`Rating: [[8]]`, or one line per criterion (`Accuracy: 8/10`). This module reads those forms and
nothing looser; the JSON path (`doctune.models.structured`) stays strict and separate.

Read as ratings:
- overall: `[[8]]`, `[[8.5]]`, `[[8/10]]` anywhere, and a label (Rating, Score, Overall rating,
  Final score... and their German, French, Spanish, Portuguese, Russian, Chinese and Japanese
  equivalents) then `:`, `=`, `|` or ` - ` and the number, optionally in brackets, optionally
  followed by `/10`, `out of 10`, `von 10`, `sur 10`, `分`;
- per criterion: the rubric's criteria (accuracy, completeness, clarity, with common synonyms and
  translations), the same way: `Accuracy: 8/10`, `Completeness: 7`, `Clarity - 9`,
  `| Accuracy | 8 |` in a Markdown table.
  A label followed by spaces only counts when the number has its scale (`Accuracy 8/10`); weak
  labels (`Overall`, `Note`, `Nota`, `Grade`) only with the scale or brackets, because "Note: 3
  steps are missing" is prose.

Never read as ratings: anything inside code blocks or inline code, quoted format examples
(`"Rating: [[5]]"`), a bare `[0]`, a number without a label, a rubric's `(0-10)`.

Rejected with a reason, never guessed:
- two different overall ratings, or a criterion rated twice differently ("conflicting ratings");
- a range or a hedge (`7-8`, `7 or 8`), several numbers after one label (`Scores: 8, 7, 9`);
- a rating on another scale (`4/5`, `80/100`, `80 %`): the rubric is 0-10, and a judge that used
  another scale misread the prompt, so its number is not rescaled (a rescaled 4/5 would be a
  guess at what the judge meant by 4);
- a value outside 0-10;
- some criteria rated and others not, with no overall rating;
- an unlabelled `N/10` beside the labelled ratings whose value is none of theirs ("Accuracy:
  8/10, revised to 7/10");
- prose without any rating ("no rating"), and a reply cut off at the token limit (the rest of
  it may have rated differently).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

CRITERIA = ("accuracy", "completeness", "clarity")
_CRITERION_LABELS = {
    "accuracy": (
        "factual accuracy",
        "factual correctness",
        "accuracy",
        "correctness",
        "sachliche richtigkeit",
        "richtigkeit",
        "genauigkeit",
        "exactitude",
        "précision",
        "precisión",
        "exactitud",
        "precisão",
        "exatidão",
        "фактическая точность",
        "точность",
        "准确性",
        "准确度",
        "正確性",
        "正確さ",
    ),
    "completeness": (
        "completeness",
        "vollständigkeit",
        "complétude",
        "exhaustivité",
        "completitud",
        "exhaustividad",
        "completude",
        "полнота",
        "完整性",
        "完整度",
        "網羅性",
        "完全性",
    ),
    "clarity": (
        "clarity",
        "klarheit",
        "clarté",
        "claridad",
        "clareza",
        "ясность",
        "清晰度",
        "清晰性",
        "明確さ",
        "明瞭性",
        "明瞭さ",
    ),
}
_STRONG_OVERALL = (
    "overall rating",
    "overall score",
    "final rating",
    "final score",
    "total score",
    "rating",
    "score",
    "gesamtbewertung",
    "bewertung",
    "punktzahl",
    "note globale",
    "note finale",
    "évaluation",
    "puntuación",
    "calificación",
    "valoración",
    "pontuação",
    "avaliação",
    "итоговая оценка",
    "оценка",
    "总体评分",
    "评分",
    "得分",
    "总分",
    "総合評価",
    "評価",
    "スコア",
    "点数",
)
# Words that are also ordinary prose ("Note: 3 steps are missing", "Overall, 2 errors").
_WEAK_OVERALL = ("overall", "verdict", "grade", "gesamtnote", "note", "nota")

_NUM = r"\d+(?:\.\d+|,\d(?![\d,]))?"
_VALUE = (
    r"(?P<open>\[\[|\[|\()?[ \t]*(?P<num>" + _NUM + r")"
    r"(?:[ \t]*(?:/|out[ \t]+of|of|von|sur|de|из)[ \t]*(?P<den>\d+(?:[.,]\d+)?))?"
    r"(?P<pct>[ \t]*%)?"
    r"(?:[ \t]*(?:points?|pts?|punkte?|分|点))?"
    r"(?:[ \t]*(?P<close>\]\]|\]|\)))?"
)
_SEP = r"(?P<sep>[ \t]*[:=|][ \t]*|[ \t]+[-–—][ \t]+|[ \t]+)"
_DOUBLE = re.compile(r"\[\[[ \t]*(?P<num>" + _NUM + r")(?:[ \t]*/[ \t]*(?P<den>\d+))?[ \t]*\]\]")
_STRAY = re.compile(r"(?<![\d.,])(?P<num>\d+(?:\.\d+)?)[ \t]*(?:/|out[ \t]+of)[ \t]*10(?!\d|\.\d)")
_RANGE_AFTER = re.compile(r"[ \t]*(?:-|–|—|~|to|or|oder|ou|o|или|或|至|到)[ \t]*\d", re.IGNORECASE)
_LIST_AFTER = re.compile(r"[ \t]*[,;|][ \t]*\d")
_WORD_AFTER = re.compile(r"[A-Za-z]")
_FENCE = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_QUOTED = re.compile(r"\"[^\"\n]{0,120}\"|“[^”\n]{0,120}”|„[^“”\n]{0,120}[“”]|«[^»\n]{0,120}»")
_RUBRIC_SCALE = re.compile(
    r"[(\[][ \t]*(?:0|1)[ \t]*(?:-|–|—|to|bis|à|a)[ \t]*10(?:[ \t]*(?:scale|points?))?[ \t]*[)\]]"
    r"|\((?:out of|on a scale of)[ \t]*10\)",
    re.IGNORECASE,
)
_PAIRS = {"[[": "]]", "[": "]", "(": ")"}


def _label_pattern(labels: tuple[str, ...]) -> str:
    parts = []
    for label in sorted(labels, key=len, reverse=True):
        body = re.escape(label).replace(r"\ ", r"[ \t]+")
        # Latin and Cyrillic labels are whole words; CJK ones are not delimited by spaces.
        wide = unicodedata.east_asian_width(label[0]) in ("W", "F")
        parts.append(body if wide else rf"(?<!\w){body}(?!\w)")
    return "(?:" + "|".join(parts) + ")"


_CRITERION_RE = {
    name: re.compile(
        "(?P<label>" + _label_pattern(labels) + r")(?:[ \t]+(?:score|rating))?" + _SEP + _VALUE,
        re.IGNORECASE,
    )
    for name, labels in _CRITERION_LABELS.items()
}
_OVERALL_RE = {
    strength: re.compile("(?P<label>" + _label_pattern(labels) + ")" + _SEP + _VALUE, re.IGNORECASE)
    for strength, labels in (("strong", _STRONG_OVERALL), ("weak", _WEAK_OVERALL))
}


@dataclass(frozen=True)
class Ratings:
    """What a reply rated: the criteria it scored (0-10 each) and its overall rating, if any."""

    criteria: dict[str, float] = field(default_factory=dict)
    overall: float | None = None


def clean(text: str) -> str:
    """The reply without what is never a rating: code, quoted examples, rubric scales, emphasis.
    Full-width digits and colons (CJK replies) become ASCII."""
    text = unicodedata.normalize("NFKC", text)
    text = _FENCE.sub(" ", text)
    text = _INLINE_CODE.sub(" ", text)
    text = _QUOTED.sub(" ", text)
    text = text.replace("*", "").replace("__", "")
    text = re.sub(r"(?m)^[ \t]{0,3}#{1,6}[ \t]*", "", text)
    return _RUBRIC_SCALE.sub(" ", text)


@dataclass
class _Found:
    values: dict[str, set[float]] = field(default_factory=dict)
    spans: list[tuple[int, int, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, value: float, span: tuple[int, int]) -> None:
        self.values.setdefault(name, set()).add(value)
        self.spans.append((*span, value))

    def covers(self, position: int) -> bool:
        return any(start <= position < end for start, end, _ in self.spans)

    def unexplained(self, body: str) -> float | None:
        """An unlabelled N/10 that restates no rating: after a labelled rating on its line it
        must equal that rating, elsewhere one of the reply's ratings."""
        every = {v for values in self.values.values() for v in values}
        for match in _STRAY.finditer(body):
            if self.covers(match.start()):
                continue
            value = float(match.group("num"))
            line_start = body.rfind("\n", 0, match.start()) + 1
            before = [
                (end, v) for start, end, v in self.spans if line_start <= start < match.start()
            ]
            allowed = {max(before)[1]} if before else every
            if value not in allowed:
                return value
        return None


def read_ratings(text: str, *, cut_off: bool = False) -> tuple[Ratings | None, str | None]:
    """(Ratings, None) when the reply rates unambiguously, else (None, one-line reason)."""
    if cut_off:
        return None, "reply cut off at the token limit"
    body = clean(text)
    found = _Found()
    for name, pattern in _CRITERION_RE.items():
        for match in pattern.finditer(body):
            _take(found, name, match, body, weak=False)
    for strength, pattern in _OVERALL_RE.items():
        for match in pattern.finditer(body):
            if not found.covers(match.start()):
                _take(found, "overall", match, body, weak=strength == "weak")
    for match in _DOUBLE.finditer(body):
        if not found.covers(match.start()):
            _take_value(found, "overall", match.group("num"), match.group("den"), match.span())
    if found.problems:
        return None, found.problems[0]
    return _decide(found, body)


def _take(found: _Found, name: str, match: re.Match[str], body: str, *, weak: bool) -> None:
    opened, closed = match.group("open"), match.group("close")
    if opened and closed != _PAIRS[opened]:
        return  # "[[8" with nothing after: cut before the rating closed, or not a rating
    scaled = match.group("den") is not None or bool(opened)
    if (weak or not match.group("sep").strip(" \t")) and not scaled:
        return  # a bare word and a number: prose, not a rating line
    tail = body[match.end() :]
    if _WORD_AFTER.match(tail):
        return  # "8th", "3x": not a rating
    label = " ".join(match.group("label").split())
    if _RANGE_AFTER.match(tail):
        found.problems.append(f"a range, not one rating: {label} {match.group('num')}...")
    elif _LIST_AFTER.match(tail):
        found.problems.append(f"several numbers after one label: {label} {match.group('num')}...")
    elif match.group("pct"):
        found.problems.append(f"a percentage, not a 0-10 rating: {label} {match.group('num')} %")
    else:
        _take_value(found, name, match.group("num"), match.group("den"), match.span())


def _take_value(
    found: _Found, name: str, number: str, scale: str | None, span: tuple[int, int]
) -> None:
    value = float(number.replace(",", "."))
    if scale is not None and float(scale.replace(",", ".")) != 10:
        found.problems.append(f"a rating on another scale ({number}/{scale}), not 0-10")
    elif not 0 <= value <= 10:
        found.problems.append(f"a rating outside 0-10 ({number})")
    else:
        found.add(name, value, span)


def _decide(found: _Found, body: str) -> tuple[Ratings | None, str | None]:
    for name, values in found.values.items():
        if len(values) > 1:
            shown = " and ".join(f"{v:g}" for v in sorted(values))
            return None, f"conflicting ratings: {name} {shown}"
    rated = {name: next(iter(v)) for name, v in found.values.items()}
    stray = found.unexplained(body) if rated else None
    if stray is not None:
        return None, f"an unlabelled rating ({stray:g}/10) beside the labelled ones"
    overall = rated.pop("overall", None)
    missing = [c for c in CRITERIA if c not in rated]
    if overall is None and not rated:
        return None, "no rating"
    if overall is None and missing:
        return None, f"rated {', '.join(rated)} but not {', '.join(missing)}"
    return Ratings(criteria=rated, overall=overall), None
