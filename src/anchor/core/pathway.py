"""Pathways: a stacked achievement earned by holding the right component achievements.

A pathway file (YAML, next to achievement files) names the stacked achievement and the rule its
components must meet::

    id: https://demo-university.example/pathways/data-analyst
    achievement: data-analyst.yaml      # an achievement file (relative), or an inline mapping
    requires:
      all:                              # or: {n: 2, of: [...]}  (at least n of the list)
        - achievement: https://demo-university.example/achievements/sql
        - https://demo-university.example/achievements/python      # shorthand
        - achievement: https://other.example/achievements/viz
          issuer: did:web:other.example # from another issuer (its on-chain profile DID)
    min_credits: 6                      # optional: creditsAvailable summed over the components used
    within_days: 730                    # optional: each component's validFrom at most this old

A component without ``issuer`` must come from the issuer doing the stacking: an achievement id is
only a URI, and anyone can write any URI into a credential they sign, so "any issuer" is never
the default.

Everything here is pure: the caller reads files (through ``load_achievement``), the database and
the chain, and hands in what it found as :class:`HeldComponent` values. :meth:`Pathway.evaluate`
then decides, deterministically, which credentials to stack or exactly what is missing. Every
refusal is an :class:`~anchor.core.errors.InputError` whose ``reason`` starts with ``pathway_``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from anchor.core.achievement import build_achievement
from anchor.core.errors import InputError
from anchor.core.safe_yaml import load_yaml
from anchor.core.uri import is_uri

TOP_KEYS = ("id", "achievement", "requires", "min_credits", "within_days")
COMPONENT_KEYS = ("achievement", "issuer")
#: A pathway needs at most this many components (a bound on work and on the evidence list).
MAX_COMPONENTS = 100
#: ``within_days`` beyond a century is a typo, not a policy.
MAX_WINDOW_DAYS = 36_525

#: Why a held credential could not be used (``Unusable.reason``), besides a non-``ok`` status
#: (which is passed through as given: ``revoked``, ``expired``, ``unanchored``...).
WRONG_ISSUER = "wrong_issuer"
OUTSIDE_WINDOW = "outside_window"
NOT_YET_VALID = "not_yet_valid"


def _refuse(source: str, message: str, reason: str) -> InputError:
    return InputError(f"{source}: {message}", reason=reason)


@dataclass(frozen=True)
class Component:
    """One required achievement. ``issuer`` None means the stacking issuer's own achievement."""

    achievement_id: str
    issuer: str | None = None

    def describe(self) -> str:
        return self.achievement_id if self.issuer is None else f"{self.achievement_id} (issued by {self.issuer})"


@dataclass(frozen=True)
class AllOf:
    """Every component is required."""

    def required(self, components: int) -> int:
        return components


@dataclass(frozen=True)
class NOf:
    """At least ``n`` of the components (more are used only when ``min_credits`` needs them)."""

    n: int

    def required(self, components: int) -> int:
        return self.n


Rule = AllOf | NOf


@dataclass(frozen=True)
class HeldComponent:
    """A credential the holder has, as the caller established it (database, chain, evidence).

    ``issuer`` is the credential's issuer DID (the on-chain profile id); ``credits`` the
    ``creditsAvailable`` of its achievement (None counts as 0); ``status`` is ``"ok"`` when the
    credential is anchored, valid, not revoked and not expired on chain, otherwise the caller's
    word for why not (``revoked``, ``expired``, ...), which :class:`Shortfall` repeats.
    """

    achievement_id: str
    issuer: str
    credential_id: str
    valid_from: datetime
    credits: float | None = None
    status: str = "ok"


@dataclass(frozen=True)
class Unusable:
    """A held credential of a component that cannot be used, and why."""

    component: Component
    credential_id: str
    reason: str


@dataclass(frozen=True)
class Selection:
    """The credentials to stack: one per component used, in the pathway's component order."""

    pathway_id: str
    used: tuple[tuple[Component, HeldComponent], ...]
    credits: float

    @property
    def credential_ids(self) -> tuple[str, ...]:
        return tuple(held.credential_id for _, held in self.used)


@dataclass(frozen=True)
class Shortfall:
    """Why the holder does not qualify.

    ``missing``: components with no usable credential (``unusable`` says which credentials of
    them were found and why each was turned down). ``needed``: how many more components must be
    earned (0 when the count is met). ``credits``/``min_credits``: the most credits the usable
    components give, against the minimum. ``reasons``: ``too_few_components`` and/or
    ``credits_short``.
    """

    pathway_id: str
    missing: tuple[Component, ...]
    unusable: tuple[Unusable, ...]
    needed: int
    credits: float
    min_credits: float | None
    reasons: tuple[str, ...]

    def describe(self) -> str:
        parts: list[str] = []
        if self.needed:
            parts.append(f"needs {self.needed} more component(s)")
        if "credits_short" in self.reasons:
            parts.append(f"has {self.credits:g} credit(s) of the {self.min_credits:g} required")
        for comp in self.missing:
            why = [f"{u.credential_id} is {u.reason}" for u in self.unusable if u.component == comp]
            parts.append(f"missing {comp.describe()}" + (f" ({'; '.join(why)})" if why else ""))
        return f"pathway {self.pathway_id}: " + ", ".join(parts)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _credits(held: HeldComponent) -> float:
    """A credential's credits; missing, negative or non-finite values count as 0 (a negative
    credit would let dropping a component raise the sum)."""
    value = held.credits
    if value is None or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        return 0.0
    return float(value)


def _preference(held: HeldComponent) -> tuple[float, float, str, bool]:
    """Order among usable credentials of one component: most credits, then the most recent,
    then the smallest credential id (so the choice never depends on the input order)."""
    return (-_credits(held), -_aware(held.valid_from).timestamp(), held.credential_id, held.credits is None)


@dataclass(frozen=True)
class Pathway:
    """A parsed, checked pathway definition (see the module docstring for the file format)."""

    id: str
    achievement: dict[str, Any] = field(hash=False, compare=False)
    rule: Rule
    components: tuple[Component, ...]
    min_credits: float | None = None
    within_days: int | None = None

    @property
    def achievement_id(self) -> str:
        return str(self.achievement["id"])

    @property
    def required(self) -> int:
        """How many components at least a holder must use."""
        return self.rule.required(len(self.components))

    def _usable(self, comp: Component, held: HeldComponent, issuer: str, now: datetime) -> str | None:
        """None when ``held`` may stand for ``comp`` at ``now``, else the reason it may not."""
        if held.issuer != (comp.issuer if comp.issuer is not None else issuer):
            return WRONG_ISSUER
        if held.status != "ok":
            return held.status
        start = _aware(held.valid_from)
        if start > now:
            return NOT_YET_VALID
        if self.within_days is not None and start < now - timedelta(days=self.within_days):
            return OUTSIDE_WINDOW
        return None

    def evaluate(self, held: Iterable[HeldComponent], *, issuer: str, now: datetime) -> Selection | Shortfall:
        """Pick the credentials to stack, or say exactly what is missing.

        ``issuer`` is the DID of the issuer stacking (components without ``issuer:`` must come
        from it); ``now`` the moment of stacking (naive means UTC). Among a component's usable
        credentials the one with most credits, then the most recent, is used. Components are
        chosen by credits (then pathway order) until both the count and ``min_credits`` are met,
        so the selection is the smallest that qualifies; it exists exactly when all usable
        components together would qualify (credits are never negative).
        """
        now = _aware(now)
        by_id = {c.achievement_id: c for c in self.components}
        best: dict[Component, HeldComponent] = {}
        turned_down: list[Unusable] = []
        for h in held:
            comp = by_id.get(h.achievement_id)
            if comp is None:
                continue
            why = self._usable(comp, h, issuer, now)
            if why is not None:
                turned_down.append(Unusable(comp, h.credential_id, why))
            elif comp not in best or _preference(h) < _preference(best[comp]):
                best[comp] = h
        order = {c: i for i, c in enumerate(self.components)}
        ranked = sorted(best, key=lambda c: (-_credits(best[c]), order[c]))
        total = math.fsum(_credits(best[c]) for c in ranked)
        need = self.required
        floor = self.min_credits
        if len(ranked) >= need and (floor is None or total >= floor):
            chosen: list[Component] = []
            for comp in ranked:
                got = math.fsum(_credits(best[c]) for c in chosen)
                if len(chosen) >= need and (floor is None or got >= floor):
                    break
                chosen.append(comp)
            chosen.sort(key=order.__getitem__)
            used = tuple((c, best[c]) for c in chosen)
            return Selection(self.id, used, math.fsum(_credits(h) for _, h in used))
        missing = tuple(c for c in self.components if c not in best)
        reasons: list[str] = []
        if len(ranked) < need:
            reasons.append("too_few_components")
        if floor is not None and total < floor:
            reasons.append("credits_short")
        unusable = tuple(sorted(set(turned_down), key=lambda u: (order[u.component], u.credential_id, u.reason)))
        return Shortfall(self.id, missing, unusable, max(0, need - len(ranked)), total, floor, tuple(reasons))

    def satisfied_by(self, held: Iterable[HeldComponent], *, issuer: str, now: datetime) -> Selection | None:
        """The :class:`Selection` to stack, or None (use :meth:`evaluate` to learn why not)."""
        result = self.evaluate(held, issuer=issuer, now=now)
        return result if isinstance(result, Selection) else None

    def check_known(self, known: Collection[str], *, issuer: str | None = None) -> None:
        """Refuse components of this issuer whose achievement is not in ``known``.

        Components naming another issuer are not checked (their achievements live in that
        issuer's database); ``issuer``, when given, counts as "this issuer" too.
        """
        unknown = [c.achievement_id for c in self.components
                   if (c.issuer is None or c.issuer == issuer) and c.achievement_id not in known]
        if unknown:
            raise InputError(
                f"pathway {self.id}: unknown achievement(s) {', '.join(unknown)}: this issuer has never awarded "
                "them (issue them first, or name the issuer: that awards them)",
                reason="pathway_unknown_achievement",
            )


def _component(source: str, n: int, item: object) -> Component:
    if isinstance(item, str):
        item = {"achievement": item}
    if not isinstance(item, Mapping):
        raise _refuse(source, f"component #{n} must be an achievement id or a mapping with 'achievement' "
                      f"(and optionally 'issuer'), got {type(item).__name__}", "pathway_bad_component")
    extra = sorted(str(k) for k in item if k not in COMPONENT_KEYS)
    if extra:
        raise _refuse(source, f"component #{n} has unknown key(s) {', '.join(extra)}; allowed: "
                      f"{', '.join(COMPONENT_KEYS)}", "pathway_unknown_key")
    ach = item.get("achievement")
    if not is_uri(ach):
        raise _refuse(source, f"component #{n}: 'achievement' must be an achievement id (an absolute URI), "
                      f"got {ach!r}", "pathway_bad_component")
    iss = item.get("issuer")
    if iss is not None and not (isinstance(iss, str) and is_uri(iss)):
        raise _refuse(source, f"component #{n}: 'issuer' must be the issuer's profile DID or URI, got {iss!r}",
                      "pathway_bad_component")
    return Component(str(ach), iss)


def _rule(source: str, requires: object) -> tuple[Rule, tuple[Component, ...]]:
    if not isinstance(requires, Mapping):
        raise _refuse(source, "'requires' must be a mapping: {all: [...]} or {n: <count>, of: [...]}",
                      "pathway_bad_rule")
    keys = set(requires)
    if keys == {"all"}:
        items, rule_n = requires["all"], None
    elif keys == {"n", "of"}:
        items, rule_n = requires["of"], requires["n"]
    else:
        shown = ", ".join(sorted(str(k) for k in keys)) or "nothing"
        raise _refuse(source, f"'requires' must have exactly 'all', or exactly 'n' and 'of'; found {shown}",
                      "pathway_bad_rule")
    if not isinstance(items, list) or not items:
        raise _refuse(source, "the required components must be a non-empty list", "pathway_bad_rule")
    if len(items) > MAX_COMPONENTS:
        raise _refuse(source, f"{len(items)} components, expected at most {MAX_COMPONENTS}", "pathway_bad_rule")
    components = tuple(_component(source, i, item) for i, item in enumerate(items, 1))
    seen: set[str] = set()
    for comp in components:
        if comp.achievement_id in seen:
            raise _refuse(source, f"the component {comp.achievement_id} is listed more than once",
                          "pathway_duplicate_component")
        seen.add(comp.achievement_id)
    if rule_n is None:
        return AllOf(), components
    if isinstance(rule_n, bool) or not isinstance(rule_n, int) or not 1 <= rule_n <= len(components):
        raise _refuse(source, f"'n' must be a whole number from 1 to {len(components)} (the number of components "
                      f"in 'of'), got {rule_n!r}", "pathway_bad_rule")
    return NOf(rule_n), components


def _stacked(source: str, value: object, load_achievement: Callable[[str], dict[str, Any]] | None) -> dict[str, Any]:
    if isinstance(value, str):
        name = value.strip()
        if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "://" in name:
            raise _refuse(source, f"'achievement' must be an achievement file name relative to the pathway file "
                          f"(or an inline mapping), got {value!r}", "pathway_bad_achievement")
        if load_achievement is None:
            raise _refuse(source, f"'achievement' names the file {name!r}, but no way to read files was given",
                          "pathway_bad_achievement")
        definition: object = load_achievement(name)
    else:
        definition = value
    if not isinstance(definition, Mapping):
        raise _refuse(source, "'achievement' must be an achievement file name or a mapping of achievement fields",
                      "pathway_bad_achievement")
    try:
        return build_achievement(dict(definition))
    except InputError as exc:
        raise _refuse(source, f"stacked achievement: {exc.message}", "pathway_bad_achievement") from exc


def parse_pathway(
    text: str,
    *,
    source: str = "pathway file",
    load_achievement: Callable[[str], dict[str, Any]] | None = None,
    known: Collection[str] | None = None,
    issuer: str | None = None,
) -> Pathway:
    """Parse and check one pathway file.

    ``load_achievement(name)`` returns the achievement definition mapping (as
    :func:`~anchor.core.achievement.parse_achievement_text` gives it) for a relative file name;
    its errors propagate. With ``known`` (achievement ids this issuer has awarded, plus the
    stacked achievements of its other pathways), components of this issuer outside it are
    refused (``pathway_unknown_achievement``; see :meth:`Pathway.check_known`).
    """
    data = load_yaml(text, what=source)
    if not isinstance(data, Mapping):
        raise _refuse(source, f"expected a mapping of pathway fields, got {type(data).__name__}", "pathway_bad_file")
    extra = sorted(str(k) for k in data if k not in TOP_KEYS)
    if extra:
        raise _refuse(source, f"unknown key(s) {', '.join(extra)}; allowed: {', '.join(TOP_KEYS)}",
                      "pathway_unknown_key")
    for key in ("id", "achievement", "requires"):
        if data.get(key) is None:
            raise _refuse(source, f"'{key}' is required", "pathway_missing_key")
    pid = data["id"]
    if not is_uri(pid):
        raise _refuse(source, f"'id' must be an absolute URI, got {pid!r}", "pathway_bad_id")
    achievement = _stacked(source, data["achievement"], load_achievement)
    rule, components = _rule(source, data["requires"])
    for comp in components:
        if comp.achievement_id == achievement["id"]:
            raise _refuse(source, f"the stacked achievement {comp.achievement_id} cannot be its own component",
                          "pathway_cycle")
    min_credits = data.get("min_credits")
    if min_credits is not None and (isinstance(min_credits, bool) or not isinstance(min_credits, int | float)
                                    or not math.isfinite(min_credits) or min_credits < 0):
        raise _refuse(source, f"'min_credits' must be a non-negative number, got {min_credits!r}",
                      "pathway_bad_credits")
    within = data.get("within_days")
    if within is not None and (isinstance(within, bool) or not isinstance(within, int)
                               or not 1 <= within <= MAX_WINDOW_DAYS):
        raise _refuse(source, f"'within_days' must be a whole number of days from 1 to {MAX_WINDOW_DAYS}, "
                      f"got {within!r}", "pathway_bad_window")
    pathway = Pathway(str(pid), achievement, rule, components,
                      None if min_credits is None else float(min_credits), within)
    if known is not None:
        pathway.check_known(known, issuer=issuer)
    return pathway


def check_known(pathways: Iterable[Pathway], known: Collection[str], *, issuer: str | None = None) -> None:
    """:meth:`Pathway.check_known` for several pathways, each one's stacked achievement counting
    as known (a pathway may build on another one's result before anyone has earned it)."""
    pathways = list(pathways)
    everything = set(known) | {p.achievement_id for p in pathways}
    for p in pathways:
        p.check_known(everything, issuer=issuer)


def check_acyclic(pathways: Iterable[Pathway]) -> tuple[Pathway, ...]:
    """Refuse a set of pathways that require each other in a circle; return them in stacking
    order (a pathway after every pathway whose achievement it uses), ties in the given order.

    A pathway's stacked achievement may be another's component; a cycle (A needs B's result, B
    needs A's) could never be earned and is refused as ``pathway_cycle``, naming it. Two
    pathways with the same id are refused as ``pathway_duplicate_id``.
    """
    pathways = list(pathways)
    ids: set[str] = set()
    for p in pathways:
        if p.id in ids:
            raise InputError(f"pathway {p.id} is defined more than once", reason="pathway_duplicate_id")
        ids.add(p.id)
    producers: dict[str, list[int]] = {}
    for i, p in enumerate(pathways):
        producers.setdefault(p.achievement_id, []).append(i)
    deps = [sorted({j for c in p.components for j in producers.get(c.achievement_id, ())}) for p in pathways]
    state = [0] * len(pathways)  # 0 unseen, 1 on the current path, 2 done
    order: list[Pathway] = []
    for root in range(len(pathways)):
        if state[root]:
            continue
        path: list[int] = [root]
        todo: list[list[int]] = [list(reversed(deps[root]))]
        state[root] = 1
        while path:
            if not todo[-1]:
                done = path.pop()
                todo.pop()
                state[done] = 2
                order.append(pathways[done])
                continue
            nxt = todo[-1].pop()
            if state[nxt] == 1:
                loop = path[path.index(nxt):] + [nxt]
                shown = " -> ".join(f"{pathways[k].id} ({pathways[k].achievement_id})" for k in loop)
                raise InputError(f"pathways require each other in a cycle: {shown}", reason="pathway_cycle")
            if state[nxt] == 0:
                state[nxt] = 1
                path.append(nxt)
                todo.append(list(reversed(deps[nxt])))
    return tuple(order)

