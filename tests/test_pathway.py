"""Pathway definitions: parsing and every refusal, component selection (all / n-of, credits,
time window, other issuers), cycles across pathways, and properties of the selection against a
brute-force search."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.core.achievement import parse_achievement_text
from anchor.core.errors import InputError
from anchor.core.pathway import (
    NOT_YET_VALID,
    OUTSIDE_WINDOW,
    WRONG_ISSUER,
    AllOf,
    Component,
    HeldComponent,
    NOf,
    Pathway,
    Selection,
    Shortfall,
    check_acyclic,
    check_known,
    parse_pathway,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HOME = "did:web:demo-university.example"
OTHER = "did:web:other.example"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
U = "https://demo-university.example/achievements/"
SQL, PY, VIZ = U + "sql", U + "python", "https://other.example/achievements/visualisation"

STACKED = {
    "id": U + "data-analyst",
    "name": "Data Analyst",
    "description": "Holds the Data Analyst components.",
    "criteria": "Earned the components.",
}


def _load(name: str) -> dict[str, Any]:
    """The loader a caller passes: files relative to examples/."""
    path = EXAMPLES / name
    return parse_achievement_text(path.read_text(), source=str(path))


def _inline(**extra: object) -> str:
    """A pathway file with an inline stacked achievement; ``extra`` replaces top-level keys."""
    import yaml

    doc: dict[str, Any] = {
        "id": "https://demo-university.example/pathways/data-analyst",
        "achievement": STACKED,
        "requires": {"all": [{"achievement": SQL}, {"achievement": PY}, {"achievement": VIZ, "issuer": OTHER}]},
    }
    doc.update(extra)
    doc = {k: v for k, v in doc.items() if v is not None}
    return str(yaml.safe_dump(doc, sort_keys=False))


def _held(ach: str, cid: str, *, issuer: str = HOME, days_ago: float = 10, credits: float | None = 2,
          status: str = "ok") -> HeldComponent:
    return HeldComponent(ach, issuer, cid, NOW - timedelta(days=days_ago), credits, status)


# --- parsing -------------------------------------------------------------------------------------


def test_the_shipped_example_parses_with_its_achievement_files() -> None:
    pathway = parse_pathway((EXAMPLES / "pathway.yaml").read_text(), source="examples/pathway.yaml",
                            load_achievement=_load)
    assert pathway.id == "https://demo-university.example/pathways/data-analyst"
    assert pathway.achievement_id == U + "data-analyst"
    assert pathway.achievement["type"] == ["Achievement"] and pathway.achievement["name"] == "Data Analyst"
    assert pathway.rule == AllOf() and pathway.required == 3
    assert pathway.components == (Component(SQL), Component(PY), Component(VIZ, OTHER))
    assert (pathway.min_credits, pathway.within_days) == (6.0, 730)
    # The component achievement files exist and are valid achievements with the ids used.
    for name, ach_id in (("sql", SQL), ("python", PY), ("visualisation", VIZ)):
        assert _load(f"achievements/{name}.yaml")["id"] == ach_id
    # ... and the three of them (2 credits each) qualify.
    held = [_held(SQL, "urn:a"), _held(PY, "urn:b"), _held(VIZ, "urn:c", issuer=OTHER)]
    selection = pathway.satisfied_by(held, issuer=HOME, now=NOW)
    assert selection is not None and selection.credential_ids == ("urn:a", "urn:b", "urn:c")
    assert selection.credits == 6.0


def test_inline_achievement_shorthand_components_and_n_of() -> None:
    text = _inline(requires={"n": 2, "of": [SQL, PY, {"achievement": VIZ, "issuer": OTHER}]})
    pathway = parse_pathway(text)
    assert pathway.rule == NOf(2) and pathway.required == 2
    assert pathway.components[0] == Component(SQL, None)
    assert pathway.min_credits is None and pathway.within_days is None


def test_the_loader_receives_the_relative_name() -> None:
    asked: list[str] = []

    def loader(name: str) -> dict[str, Any]:
        asked.append(name)
        return dict(STACKED)

    parse_pathway(_inline(achievement="sub/data-analyst.yaml"), load_achievement=loader)
    assert asked == ["sub/data-analyst.yaml"]


@pytest.mark.parametrize(
    ("text", "reason", "words"),
    [
        (_inline(name="x"), "pathway_unknown_key", "unknown key(s) name"),
        (_inline(requires={"all": [{"achievement": SQL, "issuer": OTHER, "credits": 2}]}),
         "pathway_unknown_key", "component #1 has unknown key(s) credits"),
        ("- just a list\n", "pathway_bad_file", "expected a mapping"),
        (_inline(id=None), "pathway_missing_key", "'id' is required"),
        (_inline(requires=None), "pathway_missing_key", "'requires' is required"),
        (_inline(id="data-analyst"), "pathway_bad_id", "absolute URI"),
        (_inline(requires=[SQL]), "pathway_bad_rule", "must be a mapping"),
        (_inline(requires={"all": [SQL], "n": 1}), "pathway_bad_rule", "found all, n"),
        (_inline(requires={"n": 1}), "pathway_bad_rule", "found n"),
        (_inline(requires={}), "pathway_bad_rule", "found nothing"),
        (_inline(requires={"all": []}), "pathway_bad_rule", "non-empty list"),
        (_inline(requires={"all": SQL}), "pathway_bad_rule", "non-empty list"),
        (_inline(requires={"n": 0, "of": [SQL, PY]}), "pathway_bad_rule", "from 1 to 2"),
        (_inline(requires={"n": 3, "of": [SQL, PY]}), "pathway_bad_rule", "got 3"),
        (_inline(requires={"n": True, "of": [SQL, PY]}), "pathway_bad_rule", "got True"),
        (_inline(requires={"n": 1.5, "of": [SQL, PY]}), "pathway_bad_rule", "got 1.5"),
        (_inline(requires={"all": [f"{U}{i}" for i in range(101)]}), "pathway_bad_rule", "at most 100"),
        (_inline(requires={"all": ["sql"]}), "pathway_bad_component", "component #1"),
        (_inline(requires={"all": [SQL, 5]}), "pathway_bad_component", "component #2"),
        (_inline(requires={"all": [{"achievement": SQL, "issuer": "other.example"}]}),
         "pathway_bad_component", "'issuer'"),
        (_inline(requires={"all": [SQL, PY, {"achievement": SQL, "issuer": OTHER}]}),
         "pathway_duplicate_component", SQL),
        (_inline(requires={"all": [SQL, U + "data-analyst"]}), "pathway_cycle", "its own component"),
        (_inline(min_credits=-1), "pathway_bad_credits", "non-negative"),
        (_inline(min_credits="6"), "pathway_bad_credits", "non-negative"),
        (_inline(min_credits=True), "pathway_bad_credits", "non-negative"),
        (_inline(min_credits=float("inf")), "pathway_bad_credits", "non-negative"),
        (_inline(within_days=0), "pathway_bad_window", "from 1 to"),
        (_inline(within_days=36_526), "pathway_bad_window", "from 1 to"),
        (_inline(within_days=1.5), "pathway_bad_window", "from 1 to"),
        (_inline(achievement="/etc/data-analyst.yaml"), "pathway_bad_achievement", "relative"),
        (_inline(achievement="https://x.example/a.yaml"), "pathway_bad_achievement", "relative"),
        (_inline(achievement=["x"]), "pathway_bad_achievement", "file name or a mapping"),
        (_inline(achievement={**STACKED, "colour": "red"}), "pathway_bad_achievement", "colour"),
        (_inline(achievement={**STACKED, "id": "nope"}), "pathway_bad_achievement", "absolute URI"),
    ],
)
def test_refusals_name_the_problem(text: str, reason: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_pathway(text, source="p.yaml", load_achievement=_load)
    assert caught.value.reason == reason
    assert words in caught.value.message and caught.value.message.startswith("p.yaml: ")


def test_a_file_name_without_a_loader_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse_pathway(_inline(achievement="data-analyst.yaml"))
    assert caught.value.reason == "pathway_bad_achievement" and "no way to read files" in caught.value.message


def test_unsafe_yaml_is_refused_by_the_safe_loader() -> None:
    with pytest.raises(InputError) as caught:
        parse_pathway("id: &a https://x.example/p\nachievement: *a\n")
    assert caught.value.reason == "yaml_alias"
    with pytest.raises(InputError) as caught:
        parse_pathway("id: https://x.example/p\nid: https://x.example/q\n")
    assert caught.value.reason == "duplicate_key"


def test_unknown_achievements_are_refused_given_the_known_set() -> None:
    text = _inline()
    # Components of another issuer are not this database's business.
    parse_pathway(text, known={SQL, PY})
    with pytest.raises(InputError) as caught:
        parse_pathway(text, known={SQL})
    assert caught.value.reason == "pathway_unknown_achievement" and PY in caught.value.message
    assert VIZ not in caught.value.message
    # Naming one's own DID explicitly still counts as this issuer.
    own = _inline(requires={"all": [SQL, {"achievement": PY, "issuer": HOME}]})
    with pytest.raises(InputError) as caught:
        parse_pathway(own, known={SQL}, issuer=HOME)
    assert caught.value.reason == "pathway_unknown_achievement" and PY in caught.value.message


def test_check_known_counts_other_pathways_results_as_known() -> None:
    base = parse_pathway(_inline())
    upper = parse_pathway(_inline(id="https://demo-university.example/pathways/senior",
                                  achievement={**STACKED, "id": U + "senior"},
                                  requires={"all": [U + "data-analyst", U + "ml"]}))
    check_known([base, upper], {SQL, PY, U + "ml"})
    with pytest.raises(InputError) as caught:
        check_known([upper], {SQL, PY, U + "ml"})
    assert caught.value.reason == "pathway_unknown_achievement" and U + "data-analyst" in caught.value.message


# --- selection -----------------------------------------------------------------------------------


def test_all_of_uses_every_component_and_names_what_is_missing() -> None:
    pathway = parse_pathway(_inline())
    held = [_held(SQL, "urn:sql"), _held(VIZ, "urn:viz", issuer=OTHER)]
    result = pathway.evaluate(held, issuer=HOME, now=NOW)
    assert isinstance(result, Shortfall)
    assert result.missing == (Component(PY),) and result.needed == 1
    assert result.reasons == ("too_few_components",) and result.unusable == ()
    assert PY in result.describe() and "needs 1 more" in result.describe()
    assert pathway.satisfied_by(held, issuer=HOME, now=NOW) is None
    # Unrelated credentials are ignored; with Python it qualifies, in pathway order.
    held += [_held(U + "other", "urn:x"), _held(PY, "urn:py")]
    selection = pathway.satisfied_by(reversed(held), issuer=HOME, now=NOW)
    assert selection is not None
    assert [c for c, _ in selection.used] == list(pathway.components)
    assert selection.credential_ids == ("urn:sql", "urn:py", "urn:viz")


def test_cross_issuer_components_must_come_from_the_named_issuer() -> None:
    pathway = parse_pathway(_inline())
    forged = _held(VIZ, "urn:forged", issuer="did:web:mallory.example")
    own_viz = _held(VIZ, "urn:own-viz", issuer=HOME)
    # A home-issuer SQL badge from elsewhere does not count either: no issuer: means "ours".
    foreign_sql = _held(SQL, "urn:foreign-sql", issuer=OTHER)
    result = pathway.evaluate([_held(PY, "urn:py"), forged, own_viz, foreign_sql], issuer=HOME, now=NOW)
    assert isinstance(result, Shortfall)
    assert result.missing == (Component(SQL), Component(VIZ, OTHER))
    assert {(u.credential_id, u.reason) for u in result.unusable} == {
        ("urn:forged", WRONG_ISSUER), ("urn:own-viz", WRONG_ISSUER), ("urn:foreign-sql", WRONG_ISSUER)}
    assert "urn:forged is wrong_issuer" in result.describe()
    # The stacking issuer's DID decides what "ours" means.
    ok = pathway.satisfied_by([_held(SQL, "s", issuer=OTHER), _held(PY, "p", issuer=OTHER),
                               _held(VIZ, "v", issuer=OTHER)], issuer=OTHER, now=NOW)
    assert ok is not None and ok.credential_ids == ("s", "p", "v")


def test_status_window_and_future_credentials_are_turned_down_with_reasons() -> None:
    pathway = parse_pathway(_inline(within_days=365))
    held = [
        _held(SQL, "urn:revoked", status="revoked"),
        _held(SQL, "urn:old", days_ago=366),
        _held(PY, "urn:future", days_ago=-1),
        _held(PY, "urn:expired", status="expired"),
        _held(VIZ, "urn:viz", issuer=OTHER, days_ago=365),  # exactly at the edge: inside
    ]
    result = pathway.evaluate(held, issuer=HOME, now=NOW)
    assert isinstance(result, Shortfall)
    assert result.missing == (Component(SQL), Component(PY)) and result.needed == 2
    assert [(u.credential_id, u.reason) for u in result.unusable] == [
        ("urn:old", OUTSIDE_WINDOW), ("urn:revoked", "revoked"), ("urn:expired", "expired"), ("urn:future", NOT_YET_VALID)]
    # A fresh SQL and Python badge next to the bad ones: the good ones are used.
    held += [_held(SQL, "urn:sql"), _held(PY, "urn:py", days_ago=0)]
    selection = pathway.satisfied_by(held, issuer=HOME, now=NOW)
    assert selection is not None and selection.credential_ids == ("urn:sql", "urn:py", "urn:viz")
    # Without a window, the old one is fine again.
    assert parse_pathway(_inline()).satisfied_by(
        [_held(SQL, "urn:old", days_ago=5000), _held(PY, "p"), _held(VIZ, "v", issuer=OTHER)],
        issuer=HOME, now=NOW) is not None


def test_naive_datetimes_are_utc() -> None:
    pathway = parse_pathway(_inline(within_days=1))
    held = [HeldComponent(c, i, c, datetime(2026, 11, 28, 0, 0)) for c, i in ((SQL, HOME), (PY, HOME), (VIZ, OTHER))]
    assert pathway.satisfied_by(held, issuer=HOME, now=datetime(2026, 11, 28, 23, 0)) is not None
    assert pathway.satisfied_by(held, issuer=HOME, now=datetime(2026, 11, 29, 1, 0, tzinfo=UTC)) is None


def test_n_of_picks_the_highest_credits_then_pathway_order() -> None:
    comps = [U + c for c in "abcd"]
    pathway = parse_pathway(_inline(requires={"n": 2, "of": comps}))
    held = [_held(comps[0], "a", credits=1), _held(comps[1], "b", credits=3), _held(comps[2], "c", credits=1),
            _held(comps[3], "d", credits=None)]
    selection = pathway.satisfied_by(held, issuer=HOME, now=NOW)
    assert selection is not None and selection.credential_ids == ("a", "b") and selection.credits == 4
    one = pathway.evaluate(held[3:], issuer=HOME, now=NOW)
    assert isinstance(one, Shortfall) and one.needed == 1 and one.reasons == ("too_few_components",)
    assert one.missing == tuple(Component(c) for c in comps[:3])


def test_n_of_uses_more_components_when_the_credits_need_them() -> None:
    comps = [U + c for c in "abcd"]
    pathway = parse_pathway(_inline(requires={"n": 2, "of": comps}, min_credits=5))
    held = [_held(c, c[-1], credits=2) for c in comps]
    selection = pathway.satisfied_by(held, issuer=HOME, now=NOW)
    assert selection is not None and selection.credential_ids == ("a", "b", "c") and selection.credits == 6
    short = pathway.evaluate(held[:2], issuer=HOME, now=NOW)
    assert isinstance(short, Shortfall)
    assert short.reasons == ("credits_short",) and short.needed == 0 and short.credits == 4
    assert "has 4 credit(s) of the 5 required" in short.describe()


def test_all_of_with_too_few_credits_is_short_on_credits() -> None:
    pathway = parse_pathway(_inline(min_credits=6.5))
    held = [_held(SQL, "s"), _held(PY, "p"), _held(VIZ, "v", issuer=OTHER)]
    result = pathway.evaluate(held, issuer=HOME, now=NOW)
    assert isinstance(result, Shortfall) and result.reasons == ("credits_short",) and result.missing == ()
    both = pathway.evaluate(held[:1], issuer=HOME, now=NOW)
    assert isinstance(both, Shortfall) and both.reasons == ("too_few_components", "credits_short")


def test_among_several_credentials_of_one_component_the_choice_is_deterministic() -> None:
    pathway = parse_pathway(_inline(requires={"all": [SQL]}))
    held = [_held(SQL, "urn:z-old", days_ago=30), _held(SQL, "urn:y-new", days_ago=1),
            _held(SQL, "urn:x-new", days_ago=1), _held(SQL, "urn:more-credits", days_ago=90, credits=3)]
    for perm in itertools.permutations(held):
        selection = pathway.satisfied_by(perm, issuer=HOME, now=NOW)
        assert selection is not None and selection.credential_ids == ("urn:more-credits",)
    selection = pathway.satisfied_by(held[:3], issuer=HOME, now=NOW)
    assert selection is not None and selection.credential_ids == ("urn:x-new",)


def test_bad_credit_values_count_as_zero() -> None:
    pathway = parse_pathway(_inline(requires={"all": [SQL, PY]}, min_credits=1))
    held = [_held(SQL, "s", credits=-5), _held(PY, "p", credits=float("nan"))]
    result = pathway.evaluate(held, issuer=HOME, now=NOW)
    assert isinstance(result, Shortfall) and result.credits == 0 and result.reasons == ("credits_short",)


# --- cycles --------------------------------------------------------------------------------------


def _p(name: str, *components: str) -> Pathway:
    return parse_pathway(_inline(id=f"https://demo-university.example/pathways/{name}",
                                 achievement={**STACKED, "id": U + name},
                                 requires={"all": list(components)}))


def test_stacked_achievements_may_be_components_and_come_back_in_stacking_order() -> None:
    analyst = _p("analyst", U + "sql", U + "python")
    scientist = _p("scientist", U + "analyst", U + "ml")
    lead = _p("lead", U + "scientist", U + "analyst", U + "people")
    assert check_acyclic([lead, scientist, analyst]) == (analyst, scientist, lead)
    assert check_acyclic([analyst, lead, scientist]) == (analyst, scientist, lead)
    assert check_acyclic([]) == ()


def test_a_cycle_is_refused_naming_it() -> None:
    a = _p("a", U + "b", U + "sql")
    b = _p("b", U + "c")
    c = _p("c", U + "a")
    unrelated = _p("d", U + "sql")
    with pytest.raises(InputError) as caught:
        check_acyclic([unrelated, a, b, c])
    assert caught.value.reason == "pathway_cycle"
    message = caught.value.message
    assert ("pathways/a (" + U + "a) -> https://demo-university.example/pathways/b (" + U + "b) -> "
            "https://demo-university.example/pathways/c (" + U + "c) -> https://demo-university.example/pathways/a") \
        in message
    assert "pathways/d" not in message
    # Two pathways to the same achievement are alternatives, not a cycle.
    alt = parse_pathway(_inline(id="https://demo-university.example/pathways/a2",
                                achievement={**STACKED, "id": U + "a"}, requires={"all": [U + "x"]}))
    assert check_acyclic([alt, _p("a", U + "x", U + "y"), _p("e", U + "a")])[-1].id.endswith("/e")


def test_duplicate_pathway_ids_are_refused() -> None:
    with pytest.raises(InputError) as caught:
        check_acyclic([_p("a", U + "x"), _p("a", U + "y")])
    assert caught.value.reason == "pathway_duplicate_id"


# --- properties ----------------------------------------------------------------------------------

ISSUERS = (HOME, OTHER, "did:web:mallory.example")
ACH = tuple(U + f"c{i}" for i in range(6))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Pathway, list[HeldComponent]]:
    n_comp = draw(st.integers(1, 5))
    comps = [{"achievement": ACH[i], **({"issuer": draw(st.sampled_from(ISSUERS[:2]))} if draw(st.booleans()) else {})}
             for i in range(n_comp)]
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["requires"] = {"all": comps}
    else:
        extra["requires"] = {"n": draw(st.integers(1, n_comp)), "of": comps}
    if draw(st.booleans()):
        extra["min_credits"] = draw(st.sampled_from([0, 0.3, 1, 2.5, 3, 4, 6, 10]))
    if draw(st.booleans()):
        extra["within_days"] = draw(st.integers(1, 60))
    pathway = parse_pathway(_inline(**extra))
    held: list[HeldComponent] = []
    for _ in range(draw(st.integers(n_comp - 1, 3 * n_comp + 2))):
        index = draw(st.integers(0, n_comp))
        index = 5 if index == n_comp else index  # c5 is never a component (at most 5 of them)
        # Mostly sound credentials, each flawed in at most one way, so both outcomes are common.
        flaw = draw(st.sampled_from(["none"] * 6 + ["issuer", "future", "old", "revoked", "expired"]))
        right = comps[index].get("issuer", HOME) if index < n_comp else HOME
        issuer = draw(st.sampled_from([i for i in ISSUERS if i != right])) if flaw == "issuer" else right
        days = {"future": -1, "old": 80}.get(flaw, draw(st.sampled_from([0, 1, 5, 20, 45])))
        held.append(HeldComponent(
            ACH[index], issuer, draw(st.sampled_from([f"urn:{i}" for i in range(8)])), NOW - timedelta(days=days),
            draw(st.one_of(st.none(), st.sampled_from([0, 0.1, 0.2, 0.5, 1, 2, 3]))),
            flaw if flaw in ("revoked", "expired") else "ok",
        ))
    return pathway, held


def _brute_force(pathway: Pathway, held: list[HeldComponent]) -> int | None:
    """The size of the smallest set of distinct components, each backed by a usable credential,
    that meets the rule and the credits (None: there is none). Tries every subset and every
    credential choice."""
    def usable(comp: Component, h: HeldComponent) -> bool:
        start = h.valid_from
        return (h.achievement_id == comp.achievement_id and h.issuer == (comp.issuer or HOME) and h.status == "ok"
                and start <= NOW
                and (pathway.within_days is None or start >= NOW - timedelta(days=pathway.within_days)))

    options = [[h.credits or 0.0 for h in held if usable(c, h)] for c in pathway.components]
    need = pathway.required
    for size in range(need, len(pathway.components) + 1):
        for subset in itertools.combinations(range(len(pathway.components)), size):
            for credits in itertools.product(*(options[i] for i in subset)):
                if pathway.min_credits is None or math.fsum(credits) >= pathway.min_credits:
                    return size
    return None


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_selection_is_sound_and_complete(scenario: tuple[Pathway, list[HeldComponent]]) -> None:
    pathway, held = scenario
    result = pathway.evaluate(held, issuer=HOME, now=NOW)
    smallest = _brute_force(pathway, held)
    assert isinstance(result, Selection) == (smallest is not None)
    assert (pathway.satisfied_by(held, issuer=HOME, now=NOW) is not None) == isinstance(result, Selection)
    if isinstance(result, Selection):
        comps = [c for c, _ in result.used]
        assert len(set(comps)) == len(comps)  # never a component twice
        assert all(c in pathway.components for c in comps)  # never one outside the pathway
        assert all(h in held and h.achievement_id == c.achievement_id for c, h in result.used)
        assert len(comps) == smallest  # the smallest selection that qualifies
        assert pathway.min_credits is None or result.credits >= pathway.min_credits
        assert comps == sorted(comps, key=pathway.components.index)
        # Deterministic: the input order does not matter.
        again = pathway.evaluate(list(reversed(held)), issuer=HOME, now=NOW)
        assert again == result
    else:
        assert result.reasons and set(result.missing) <= set(pathway.components)
        assert all(u.component in pathway.components for u in result.unusable)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5).flatmap(lambda k: st.tuples(
    st.integers(1, k), st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=k, max_size=k),
    st.integers(0, 14))))
def test_n_of_with_credits_uses_the_fewest_components(case: tuple[int, list[int | None], int]) -> None:
    n, credits, floor = case
    pathway = parse_pathway(_inline(requires={"n": n, "of": list(ACH[:len(credits)])}, min_credits=floor))
    held = [_held(ACH[i], f"urn:{i}", credits=c) for i, c in enumerate(credits)]
    smallest = _brute_force(pathway, held)
    result = pathway.evaluate(held, issuer=HOME, now=NOW)
    if smallest is None:
        assert isinstance(result, Shortfall) and "credits_short" in result.reasons
        assert result.credits == sum(c or 0 for c in credits) < floor
    else:
        assert isinstance(result, Selection) and len(result.used) == smallest and result.credits >= floor
